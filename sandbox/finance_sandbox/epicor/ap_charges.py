"""Header miscellaneous charges of an AP invoice (`APIHAPInvMsc`, reference §7 flow step 4).

A charge is distributed by one header-level expense row (`APIHAPInvExp`, InvoiceLine 0) of the
same amount, so the invoice still equals all its distributions; the header total follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finance_sandbox.epicor.generator import FREIGHT_ACCOUNT, round_div
from finance_sandbox.epicor.store import scaled
from finance_sandbox.epicor.writes import RATE_ONE, bo_error, ds_rows

if TYPE_CHECKING:
    from finance_sandbox.epicor.ap_invoices import APInvoices

TABLE = "APIHAPInvMsc"  # tableset name (stored as APInvMsc)


def _next(inv: APInvoices, table: str, column: str, key: dict[str, Any]) -> int:
    row = inv.s.conn.execute(
        f"SELECT COALESCE(MAX({column}), 0) + 1 FROM {table} "
        "WHERE Company = ? AND VendorNum = ? AND InvoiceNum = ?",
        [key["Company"], key["VendorNum"], key["InvoiceNum"]],
    ).fetchone()
    return int(row[0])


def get_new(inv: APInvoices, company: str, body: dict[str, Any]) -> dict[str, Any]:
    """`GetNewHdrCharge {cInvoiceNum, iVendorNum, lcFlag, ds}`: a template charge (RowMod A)."""
    head = inv.invoice(
        company, int(body.get("iVendorNum") or 0), str(body.get("cInvoiceNum") or "")
    )
    ds = dict(body.get("ds") or {})
    key = inv.header_key(head)
    pending = [r for r in ds_rows(ds, TABLE) if r.get("InvoiceNum") == head["InvoiceNum"]]
    msc = max([_next(inv, "APInvMsc", "MscNum", key) - 1, *(int(r["MscNum"]) for r in pending)])
    row = inv.s.ds_row("APInvMsc", None, "A")
    row.update(
        **key,
        InvoiceLine=0,
        MscNum=msc + 1,
        MiscCode="FRT",
        Description="Freight",
        CurrencyCode=head["CurrencyCode"],
        GroupID=head["GroupID"],
    )
    ds[TABLE] = [*ds_rows(ds, TABLE), row]
    return {"returnObj": None, "parameters": {"ds": ds}}


def write(inv: APInvoices, company: str, row: dict[str, Any], mod: str) -> tuple[int, str]:
    """Add, change (amount, description) or delete one header charge with its distribution."""
    head = inv.open_header(company, row, TABLE)
    key = {**inv.header_key(head), "InvoiceLine": 0, "MscNum": int(row.get("MscNum") or 0)}
    existing = inv.s.get("APInvMsc", key)
    if (mod == "A") == (existing is not None):
        raise bo_error(f"Misc charge {key['MscNum']} RowMod {mod} does not match.", TABLE, "MscNum")
    done = head["VendorNum"], head["InvoiceNum"]
    if mod == "D":
        assert existing is not None
        inv.s.delete("APIHAPInvExp", _exp_key(key, existing))
        inv.s.delete("APInvMsc", key)
        return done
    before = existing or {}
    raw = row.get("ScrDocMiscAmt") or row.get("DocMiscAmt")
    try:
        doc = scaled(raw, 3) if raw not in (None, "") else int(before.get("DocMiscAmt") or 0)
    except ValueError as exc:
        raise bo_error(str(exc), TABLE, "ScrDocMiscAmt") from exc
    if not doc:
        raise bo_error("A misc charge needs an amount (ScrDocMiscAmt).", TABLE, "ScrDocMiscAmt")
    amount = round_div(doc * int(head["ExchangeRate"]), RATE_ONE)
    values = {
        "MiscCode": str(row.get("MiscCode") or before.get("MiscCode") or "FRT"),
        "Description": str(row.get("Description") or before.get("Description") or ""),
        "MiscAmt": amount,
        "DocMiscAmt": doc,
        "CurrencyCode": head["CurrencyCode"],
        "DebitMemo": head["DebitMemo"],
        "GroupID": head["GroupID"],
        "MiscCodeDescription": "Freight",
    }
    exp = {"ExpAmt": amount, "DocExpAmt": doc}
    if existing is None:
        seq = _next(inv, "APIHAPInvExp", "InvExpSeq", key)
        inv.s.insert("APInvMsc", {**key, **values, "InvExpSeq": seq})
        inv.gl_description(company, FREIGHT_ACCOUNT, TABLE)
        inv.s.insert(
            "APIHAPInvExp",
            {**inv.header_key(head), "InvoiceLine": 0, "InvExpSeq": seq, **exp,
             "GLAccount": FREIGHT_ACCOUNT, "DispGLAcct": FREIGHT_ACCOUNT.replace("|", "-"),
             "CurrencyCode": head["CurrencyCode"], "DebitMemo": head["DebitMemo"],
             "GroupID": head["GroupID"]},
        )  # fmt: skip
    else:
        inv.s.update("APInvMsc", key, values)
        inv.s.update("APIHAPInvExp", _exp_key(key, existing), exp)
    return done


def _exp_key(key: dict[str, Any], charge: dict[str, Any]) -> dict[str, Any]:
    return {
        "Company": key["Company"],
        "VendorNum": key["VendorNum"],
        "InvoiceNum": key["InvoiceNum"],
        "InvoiceLine": 0,
        "InvExpSeq": charge["InvExpSeq"],
    }
