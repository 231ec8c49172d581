"""`Erp.BO.APInvoiceSvc` writes: header (APInvHed), lines (APInvDtl), allocations (APInvExp)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from finance_sandbox.epicor import ap_charges
from finance_sandbox.epicor.generator import BOOK_ID, COA_CODE, CURRENCIES, TERMS, round_div
from finance_sandbox.epicor.store import Store, scaled
from finance_sandbox.epicor.writes import (
    DEFAULT_EXPENSE,
    RATE_ONE,
    bo_error,
    date_text,
    ds_rows,
    duplicate,
    scale_parts,
)

# What an invoice's total is made of: (table, base amount, document amount).
HEADER_PARTS = (
    ("APInvDtl", "ExtCost", "DocExtCost"),
    ("APInvMsc", "MiscAmt", "DocMiscAmt"),
    ("APInvTax", "TaxAmt", "DocTaxAmt"),
)
# Rows that belong to an invoice (deleted and posted with it).
INVOICE_CHILDREN = ("APInvExp", "APInvDtl", "APInvTax", "APInvMsc", "APIHAPInvExp")
# Tableset names of the header-level tables (BO method naming).
DS_NAMES = {"APInvTax": "APInvTax", "APInvMsc": "APIHAPInvMsc", "APIHAPInvExp": "APIHAPInvExp"}


class APInvoices:
    """`Erp.BO.APInvoiceSvc`: AP invoice header, lines (APInvDtl) and GL allocations (APInvExp)."""

    def __init__(self, store: Store) -> None:
        self.s = store

    # -- reads used by the methods -------------------------------------------------------

    def vendor(self, company: str, row: dict[str, Any]) -> dict[str, Any]:
        num = row.get("VendorNum") or 0
        vid = row.get("VendorNumVendorID") or ""
        found = None
        # The vendor's code wins when both are given: it is what the entry screen sets.
        if vid:
            found = self.s.get("Vendor", {"Company": company, "VendorID": vid})
        elif num:
            found = self.s.get("Vendor", {"Company": company, "VendorNum": int(num)})
        if found is None:
            raise bo_error(
                f"Supplier {vid or num or '(none)'} is not valid: set VendorNum or "
                "VendorNumVendorID to an existing supplier.",
                "APInvHed",
                "VendorNum",
            )
        return found

    def invoice(self, company: str, vendor_num: int, invoice_num: str) -> dict[str, Any]:
        row = self.s.get(
            "APInvHed",
            {"Company": company, "VendorNum": int(vendor_num), "InvoiceNum": invoice_num},
        )
        if row is None:
            raise bo_error(
                f"AP invoice {invoice_num} of supplier {vendor_num} was not found.",
                "APInvHed",
                "InvoiceNum",
            )
        return row

    def dataset(self, company: str, keys: list[tuple[int, str]]) -> dict[str, Any]:
        """The tableset of some invoices as GetByID/Update return it."""
        ds: dict[str, list[dict[str, Any]]] = {"APInvHed": [], "APInvDtl": [], "APInvExp": []}
        ds.update({DS_NAMES[t]: [] for t in INVOICE_CHILDREN if t in DS_NAMES})
        for vendor_num, invoice_num in dict.fromkeys(keys):
            where = {"Company": company, "VendorNum": vendor_num, "InvoiceNum": invoice_num}
            head = self.s.get("APInvHed", where)
            if head is None:
                continue
            ds["APInvHed"].append(self.s.ds_row("APInvHed", head))
            for line in self.s.select("APInvDtl", where):
                ds["APInvDtl"].append(self.s.ds_row("APInvDtl", line))
            for exp in self.s.select("APInvExp", where):
                ds["APInvExp"].append(self.s.ds_row("APInvExp", exp))
            for table, name in DS_NAMES.items():
                ds[name] += [self.s.ds_row(table, r) for r in self.s.select(table, where)]
        return {**ds, "ExtensionTables": []}

    # -- methods -------------------------------------------------------------------------

    def get_by_id(self, company: str, params: dict[str, Any]) -> dict[str, Any]:
        vendor_num = int(params.get("vendorNum") or 0)
        invoice_num = str(params.get("invoiceNum") or "")
        self.invoice(company, vendor_num, invoice_num)
        return {"returnObj": self.dataset(company, [(vendor_num, invoice_num)]), "parameters": {}}

    def get_new_header(self, company: str, body: dict[str, Any]) -> dict[str, Any]:
        """`GetNewAPInvHedInvoice {cGroupID, ds}`: a template header row with RowMod "A"."""
        ds = dict(body.get("ds") or {})
        row = self.s.ds_row("APInvHed", None, "A")
        today = self.s.today()
        row.update(
            Company=company,
            GroupID=str(body.get("cGroupID") or ""),
            InvoiceDate=today,
            ApplyDate=today,
            CurrencyCode="USD",
            ExchangeRate=Decimal(1),
            InvoiceType="STD",
            EntryPerson="integration",
        )
        ds["APInvHed"] = [*ds_rows(ds, "APInvHed"), row]
        ds.setdefault("APInvDtl", [])
        ds.setdefault("APInvExp", [])
        return {"returnObj": None, "parameters": {"ds": ds}}

    def get_new_misc_line(self, company: str, body: dict[str, Any]) -> dict[str, Any]:
        """`GetNewAPInvDtlMiscellaneous {cInvoiceNum, iVendorNum, ds}`: template line (RowMod A)."""
        head = self.invoice(
            company, int(body.get("iVendorNum") or 0), str(body.get("cInvoiceNum") or "")
        )
        ds = dict(body.get("ds") or {})
        lines = self.s.conn.execute(
            "SELECT COALESCE(MAX(InvoiceLine), 0) FROM APInvDtl WHERE Company = ? "
            "AND VendorNum = ? "
            "AND InvoiceNum = ?",
            [company, head["VendorNum"], head["InvoiceNum"]],
        ).fetchone()[0]
        pending = [r for r in ds_rows(ds, "APInvDtl") if r.get("InvoiceNum") == head["InvoiceNum"]]
        line_no = max([int(lines), *(int(r.get("InvoiceLine") or 0) for r in pending)]) + 1
        row = self.s.ds_row("APInvDtl", None, "A")
        row.update(
            Company=company,
            VendorNum=head["VendorNum"],
            InvoiceNum=head["InvoiceNum"],
            InvoiceLine=line_no,
            LineType="M",
            VendorQty=Decimal(1),
            OurQty=Decimal(1),
            PUM="EA",
            IUM="EA",
            CostPerCode="E",
            CurrencyCode=head["CurrencyCode"],
            GroupID=head["GroupID"],
            GLAccount=DEFAULT_EXPENSE,
        )
        ds["APInvDtl"] = [*ds_rows(ds, "APInvDtl"), row]
        ds.setdefault("APInvHed", [])
        ds.setdefault("APInvExp", [])
        return {"returnObj": None, "parameters": {"ds": ds}}

    def update(self, company: str, body: dict[str, Any], master: bool) -> dict[str, Any]:
        """`Update` / `UpdateMaster`: apply every row with RowMod A, U or D in one transaction."""
        ds = body.get("ds")
        if not isinstance(ds, dict):
            raise bo_error("The request body must contain the tableset as 'ds'.")
        group = str(body.get("cGroupID") or "")
        touched: list[tuple[int, str]] = []
        with self.s.transaction():
            for row in ds_rows(ds, "APInvHed"):
                mod = row.get("RowMod") or ""
                if mod == "A":
                    touched.append(self._add_header(company, row, group))
                elif mod == "U":
                    touched.append(self._update_header(company, row))
                elif mod == "D":
                    self._delete_header(company, row)
            for row in ds_rows(ds, "APInvDtl"):
                mod = row.get("RowMod") or ""
                if mod in ("A", "U", "D"):
                    touched.append(self._line(company, row, mod))
            for row in ds_rows(ds, "APInvExp"):
                mod = row.get("RowMod") or ""
                if mod in ("A", "U", "D"):
                    touched.append(self._allocation(company, row, mod))
            for row in ds_rows(ds, ap_charges.TABLE):
                mod = row.get("RowMod") or ""
                if mod in ("A", "U", "D"):
                    touched.append(ap_charges.write(self, company, row, mod))
            for key in dict.fromkeys(touched):
                self.recompute(company, *key)
        params: dict[str, Any] = {"ds": self.dataset(company, touched)}
        if master:
            total = self.s.conn.execute(
                "SELECT COALESCE(SUM(InvoiceAmt), 0) FROM APInvHed "
                "WHERE Company = ? AND GroupID = ?",
                [company, group],
            ).fetchone()[0]
            params.update(
                grpTotalInvAmt=Decimal(int(total)) / 1000,
                requiresUserInput=False,
                opMessage="",
                opMsgChkBankRef="",
                opChkRevMsg="",
                lEnableGenLegalNum=False,
                lUpdateRan=True,
                opDUAMsg="",
            )
        return {"returnObj": None, "parameters": params}

    # -- row handlers --------------------------------------------------------------------

    def _add_header(self, company: str, row: dict[str, Any], group: str) -> tuple[int, str]:
        vendor = self.vendor(company, row)
        invoice_num = str(row.get("InvoiceNum") or "").strip()
        if not invoice_num:
            raise bo_error("Invoice Number is required.", "APInvHed", "InvoiceNum")
        key = {"Company": company, "VendorNum": vendor["VendorNum"], "InvoiceNum": invoice_num}
        if self.s.get("APInvHed", key) is not None:
            raise duplicate(
                f"AP invoice {invoice_num} already exists for supplier {vendor['VendorID']}.",
                "APInvHed",
            )
        invoice_date = date_text(
            row.get("InvoiceDate") or self.s.today(), "InvoiceDate", "APInvHed"
        )
        apply = date_text(row.get("ApplyDate") or invoice_date, "ApplyDate", "APInvHed")
        terms = str(row.get("TermsCode") or vendor["TermsCode"])
        if terms not in TERMS:
            raise bo_error(f"Terms code '{terms}' is not valid.", "APInvHed", "TermsCode")
        due = date.fromisoformat(invoice_date[:10]) + timedelta(days=TERMS[terms][1])
        currency = vendor["CurrencyCode"]
        stated = row.get("ScrDocInvoiceVendorAmt") or row.get("DocInvoiceVendorAmt") or 0
        try:
            stated_amt = scaled(stated, 3)
            approved = scaled(row.get("ApprovedAmt_c") or 0, 3)
        except ValueError as exc:
            raise bo_error(str(exc), "APInvHed", "ScrDocInvoiceVendorAmt") from exc
        rate = CURRENCIES[currency][1]
        apply_day = date.fromisoformat(apply[:10])
        self.s.insert(
            "APInvHed",
            {
                **key,
                "DebitMemo": int(bool(row.get("DebitMemo"))),
                "InvoiceDate": invoice_date,
                "ApplyDate": apply,
                "DueDate": due.isoformat() + "T00:00:00",
                "TermsCode": terms,
                "GroupID": str(row.get("GroupID") or group),
                "FiscalYear": apply_day.year,
                "FiscalPeriod": apply_day.month,
                "InvoiceRef": str(row.get("InvoiceRef") or ""),
                "EntryPerson": "integration",
                "DocInvoiceVendorAmt": stated_amt,
                "InvoiceVendorAmt": round_div(stated_amt * rate, RATE_ONE),
                "Description": str(row.get("Description") or ""),
                "CurrencyCode": currency,
                "ExchangeRate": rate,
                "REFPONum": int(row.get("REFPONum") or 0),
                "InvoiceType": "DMO" if row.get("DebitMemo") else "STD",
                "TermsCodeDescription": TERMS[terms][0],
                "VendorNumVendorID": vendor["VendorID"],
                "VendorNumName": vendor["Name"],
                "VendorNumCity": vendor["City"],
                "VendorNumState": vendor["State"],
                "VendorNumCurrencyCode": currency,
                "VendorNumTermsCode": vendor["TermsCode"],
                "BudgetCode_c": str(row.get("BudgetCode_c") or ""),
                "ApprovedAmt_c": approved,
                "ChangedBy": "integration",
                "ChangeDate": self.s.today(),
            },
        )
        return vendor["VendorNum"], invoice_num

    def open_header(self, company: str, row: dict[str, Any], table: str) -> dict[str, Any]:
        head = self.invoice(
            company, int(row.get("VendorNum") or 0), str(row.get("InvoiceNum") or "")
        )
        if head["Posted"]:
            raise bo_error(
                f"AP invoice {head['InvoiceNum']} is posted and cannot be changed.", table, "Posted"
            )
        return head

    def _update_header(self, company: str, row: dict[str, Any]) -> tuple[int, str]:
        head = self.open_header(company, row, "APInvHed")
        changes: dict[str, Any] = {}
        for name in ("Description", "InvoiceRef", "BudgetCode_c"):
            if name in row and str(row[name] or "") != head[name]:
                changes[name] = str(row[name] or "")
        for name in ("InvoiceHeld", "PayHold"):
            if name in row and int(bool(row[name])) != head[name]:
                changes[name] = int(bool(row[name]))
        if row.get("InvoiceDate"):
            text = date_text(row["InvoiceDate"], "InvoiceDate", "APInvHed")
            if text != head["InvoiceDate"]:
                changes["InvoiceDate"] = text
        if "ApprovedAmt_c" in row:
            value = scaled(row["ApprovedAmt_c"] or 0, 3)
            if value != head["ApprovedAmt_c"]:
                changes["ApprovedAmt_c"] = value
        if changes:
            changes.update(ChangedBy="integration", ChangeDate=self.s.today())
            self.s.update("APInvHed", self.header_key(head), changes)
        return head["VendorNum"], head["InvoiceNum"]

    def _delete_header(self, company: str, row: dict[str, Any]) -> None:
        head = self.open_header(company, row, "APInvHed")
        key = self.header_key(head)
        for table in (*INVOICE_CHILDREN, "APInvHed"):
            self.s.delete(table, key)

    @staticmethod
    def header_key(head: dict[str, Any]) -> dict[str, Any]:
        return {
            "Company": head["Company"],
            "VendorNum": head["VendorNum"],
            "InvoiceNum": head["InvoiceNum"],
        }

    def gl_description(self, company: str, account: str, table: str) -> str:
        found = self.s.get(
            "GLAccount", {"Company": company, "COACode": COA_CODE, "GLAccount1": account}
        )
        if found is None or not found["Active"]:
            raise bo_error(
                f"GL account '{account}' is not valid or not active.", table, "GLAccount"
            )
        return str(found["AccountDesc"])

    def _line(self, company: str, row: dict[str, Any], mod: str) -> tuple[int, str]:
        head = self.open_header(company, row, "APInvDtl")
        key = {**self.header_key(head), "InvoiceLine": int(row.get("InvoiceLine") or 0)}
        existing = self.s.get("APInvDtl", key)
        if mod == "D":
            if existing is None:
                raise bo_error(
                    f"Invoice line {key['InvoiceLine']} was not found.", "APInvDtl", "InvoiceLine"
                )
            self.s.delete("APInvExp", key)
            self.s.delete("APInvDtl", key)
            return head["VendorNum"], head["InvoiceNum"]
        if mod == "A" and existing is not None:
            raise duplicate(f"Invoice line {key['InvoiceLine']} already exists.", "APInvDtl")
        if mod == "U" and existing is None:
            raise bo_error(
                f"Invoice line {key['InvoiceLine']} was not found.", "APInvDtl", "InvoiceLine"
            )
        if key["InvoiceLine"] <= 0:
            raise bo_error("InvoiceLine must be a positive number.", "APInvDtl", "InvoiceLine")
        base = existing or {}
        try:
            qty_raw = row.get("ScrVendorQty") or row.get("VendorQty")
            qty = (
                scaled(qty_raw, 8)
                if qty_raw not in (None, "", 0)
                else int(base.get("VendorQty") or 10**8)
            )
            cost_raw = row.get("DocUnitCost")
            cost = (
                scaled(cost_raw, 5)
                if cost_raw not in (None, "")
                else int(base.get("DocUnitCost") or 0)
            )
        except ValueError as exc:
            raise bo_error(str(exc), "APInvDtl", "DocUnitCost") from exc
        if mod == "A" and not cost:
            raise bo_error("Unit Cost is required.", "APInvDtl", "DocUnitCost")
        part = str(row.get("PartNum") or base.get("PartNum") or "")
        part_row = None
        if part:
            part_row = self.s.get("Part", {"Company": company, "PartNum": part})
            if part_row is None:
                raise bo_error(f"Part '{part}' is not valid.", "APInvDtl", "PartNum")
        po_num = int(row.get("PONum") or base.get("PONum") or 0)
        po_line = int(row.get("POLine") or base.get("POLine") or 0)
        if po_num:
            po = self.s.get("PODetail", {"Company": company, "PONUM": po_num, "POLine": po_line})
            if po is None or po["VendorNum"] != head["VendorNum"]:
                raise bo_error(
                    f"PO {po_num} line {po_line} is not valid for this supplier.",
                    "APInvDtl",
                    "PONum",
                )
        account = str(row.get("GLAccount") or base.get("GLAccount") or DEFAULT_EXPENSE)
        self.gl_description(company, account, "APInvDtl")
        rate = int(head["ExchangeRate"])
        doc_ext = round_div(qty * cost, 10**10)
        ext = round_div(doc_ext * rate, RATE_ONE)
        values = {
            "LineType": str(row.get("LineType") or base.get("LineType") or "M"),
            "UnitCost": round_div(cost * rate, RATE_ONE),
            "DocUnitCost": cost,
            "PartNum": part,
            "PONum": po_num,
            "POLine": po_line,
            "PORelNum": 1 if po_num else 0,
            "Description": str(row.get("Description") or base.get("Description") or ""),
            "VendorQty": qty,
            "OurQty": qty,
            "PUM": str(base.get("PUM") or "EA"),
            "IUM": str(base.get("IUM") or "EA"),
            "CostPerCode": "E",
            "ExtCost": ext,
            "DocExtCost": doc_ext,
            "CurrencyCode": head["CurrencyCode"],
            "GLAccount": account,
            "DebitMemo": head["DebitMemo"],
            "GroupID": head["GroupID"],
            "VendorNumVendorID": head["VendorNumVendorID"],
            "VendorNumName": head["VendorNumName"],
            "PartNumPartDescription": part_row["PartDescription"] if part_row else "",
            "ChangedBy": "integration",
            "ChangeDate": self.s.today(),
        }
        if existing is None:
            self.s.insert("APInvDtl", {**key, **values})
        else:
            self.s.update("APInvDtl", key, values)
        self._redistribute(
            key,
            head,
            ext,
            doc_ext,
            account=account,
            account_changed=account != base.get("GLAccount"),
        )
        return head["VendorNum"], head["InvoiceNum"]

    def _redistribute(
        self,
        key: dict[str, Any],
        head: dict[str, Any],
        ext: int,
        doc_ext: int,
        *,
        account: str,
        account_changed: bool,
    ) -> None:
        """Keep sum(ExpAmt) == ExtCost: scale existing allocations, or create one."""
        exps = self.s.select("APInvExp", key)
        if not exps:
            self.s.insert(
                "APInvExp",
                {
                    **key,
                    "InvExpSeq": 1,
                    "ExpAmt": ext,
                    "DocExpAmt": doc_ext,
                    "GLAccount": account,
                    "GLAccountDesc": self.gl_description(key["Company"], account, "APInvExp"),
                    "ExpDispGLAcct": account.replace("|", "-"),
                    "COACode": COA_CODE,
                    "BookID": BOOK_ID,
                    "CurrencyCode": head["CurrencyCode"],
                    "DebitMemo": head["DebitMemo"],
                    "GroupID": head["GroupID"],
                    "Plant": "MfgSys",
                    "VendorNumVendorID": head["VendorNumVendorID"],
                    "VendorNumName": head["VendorNumName"],
                },
            )
            return
        old_total = sum(int(e["ExpAmt"]) for e in exps)
        old_doc = sum(int(e["DocExpAmt"]) for e in exps)
        amounts = scale_parts([int(e["ExpAmt"]) for e in exps], old_total, ext)
        doc_amounts = scale_parts([int(e["DocExpAmt"]) for e in exps], old_doc, doc_ext)
        for exp, amt, doc_amt in zip(exps, amounts, doc_amounts, strict=True):
            changes: dict[str, Any] = {}
            if amt != exp["ExpAmt"] or doc_amt != exp["DocExpAmt"]:
                changes.update(ExpAmt=amt, DocExpAmt=doc_amt)
            if account_changed and len(exps) == 1 and exp["GLAccount"] != account:
                changes.update(
                    GLAccount=account,
                    GLAccountDesc=self.gl_description(key["Company"], account, "APInvExp"),
                    ExpDispGLAcct=account.replace("|", "-"),
                )
            if changes:
                self.s.update("APInvExp", {**key, "InvExpSeq": exp["InvExpSeq"]}, changes)

    def _allocation(self, company: str, row: dict[str, Any], mod: str) -> tuple[int, str]:
        """Allocation rows may change their GL account; amounts follow the line."""
        head = self.open_header(company, row, "APInvExp")
        key = {
            **self.header_key(head),
            "InvoiceLine": int(row.get("InvoiceLine") or 0),
            "InvExpSeq": int(row.get("InvExpSeq") or 0),
        }
        existing = self.s.get("APInvExp", key)
        if mod != "U" or existing is None:
            raise bo_error(
                "G/L allocations follow their invoice line: change the line (APInvDtl) to change "
                "amounts; only GLAccount of an existing allocation can be updated.",
                "APInvExp",
                "RowMod",
            )
        account = str(row.get("GLAccount") or existing["GLAccount"])
        if account != existing["GLAccount"]:
            self.s.update(
                "APInvExp",
                key,
                {
                    "GLAccount": account,
                    "GLAccountDesc": self.gl_description(company, account, "APInvExp"),
                    "ExpDispGLAcct": account.replace("|", "-"),
                },
            )
        return head["VendorNum"], head["InvoiceNum"]

    def recompute(
        self, company: str, vendor_num: int, invoice_num: str, *, force: bool = False
    ) -> None:
        """Header totals = lines + misc charges + taxes; balance = total - posted payments. It is
        written only when a total changes (or `force`, or the `rewrite_headers` option)."""
        key = {"Company": company, "VendorNum": vendor_num, "InvoiceNum": invoice_num}
        head = self.s.get("APInvHed", key)
        if head is None:
            return
        total = doc_total = 0
        for table, amt, doc_amt in HEADER_PARTS:
            part, doc_part = self.s.conn.execute(
                f"SELECT COALESCE(SUM({amt}), 0), COALESCE(SUM({doc_amt}), 0) FROM {table} "
                "WHERE Company = ? AND VendorNum = ? AND InvoiceNum = ?",
                [company, vendor_num, invoice_num],
            ).fetchone()
            total += part
            doc_total += doc_part
        paid, doc_paid = self.s.conn.execute(
            "SELECT COALESCE(SUM(TranAmt), 0), COALESCE(SUM(DocTranAmt), 0) FROM APTran "
            "WHERE Company = ? AND VendorNum = ? AND InvoiceNum = ? AND Voided = 0 AND Posted = 1",
            [company, vendor_num, invoice_num],
        ).fetchone()
        posted = bool(head["Posted"])
        totals = {
            "InvoiceAmt": total,
            "DocInvoiceAmt": doc_total,
            "InvoiceBal": total - paid,
            "DocInvoiceBal": doc_total - doc_paid,
            "UnpostedBal": 0 if posted else total,
            "DocUnpostedBal": 0 if posted else doc_total,
            "OpenPayable": int(posted and total - paid != 0),
        }
        changed = any(head[k] != v for k, v in totals.items())
        if changed or force or self.s.rewrite_headers:
            totals.update(ChangedBy="integration", ChangeDate=self.s.today())
            self.s.update("APInvHed", key, totals, force=True)

    def post(self, company: str, vendor_num: int, invoice_num: str) -> None:
        """What `Erp.PROC.APInvoicePostSvc` does to the rows: posted, open payable, journal."""
        key = {"Company": company, "VendorNum": vendor_num, "InvoiceNum": invoice_num}
        head = self.invoice(company, vendor_num, invoice_num)
        journal = self.s.conn.execute(
            "SELECT COALESCE(MAX(JournalNum), 0) + 1 FROM APInvHed WHERE Company = ?", [company]
        ).fetchone()[0]
        self.s.update(
            "APInvHed",
            key,
            {"Posted": 1, "GLPosted": 1, "JournalNum": journal, "JournalCode": "PJ",
             "ApprovedAmt_c": head["InvoiceAmt"]},
        )  # fmt: skip
        for table in INVOICE_CHILDREN:
            self.s.update(table, key, {"Posted": 1})
        self.recompute(company, vendor_num, invoice_num)
