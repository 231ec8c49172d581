"""Write methods (GetNew… / Update / UpdateMaster) and the activity simulator, over real HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
from finance_sandbox.testing.epicor import EpicorSandbox

AP = "Erp.BO.APInvoiceSvc"


@pytest.fixture
def sb(epicor_sandbox_factory) -> EpicorSandbox:
    """A fresh, small emulator: these tests change data."""
    return epicor_sandbox_factory(invoices=50)


def call(sb: EpicorSandbox, method: str, body: dict[str, Any]) -> requests.Response:
    return sb.call_method(AP, method, body)


def ok(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    return dict(resp.json(parse_float=Decimal)["parameters"])


def invoice(sb: EpicorSandbox, vendor: int, number: str) -> dict[str, Any]:
    with sb.session() as s:
        resp = s.get(
            sb.odata_url(AP, f"APInvoices('EPIC06',{vendor},'{number}')"),
            params={
                "$select": "InvoiceNum,InvoiceAmt,DocInvoiceAmt,InvoiceBal,SysRevID,Posted,"
                "Description",
                "$expand": "APInvDtls($select=InvoiceLine,ExtCost,VendorQty,SysRevID,Description;"
                "$expand=APInvExps($select=InvExpSeq,ExpAmt,GLAccount,SysRevID))",
            },
            timeout=30,
        )
    assert resp.status_code == 200, resp.text
    return dict(resp.json(parse_float=Decimal))


def new_invoice(sb: EpicorSandbox, number: str, vendor_id: str = "") -> tuple[int, str]:
    ds = ok(call(sb, "GetNewAPInvHedInvoice", {"cGroupID": "TESTGRP", "ds": {}}))["ds"]
    head = ds["APInvHed"][0]
    assert head["RowMod"] == "A"
    assert head["SysRowID"] == "00000000-0000-0000-0000-000000000000"
    assert head["GroupID"] == "TESTGRP"
    vendor_id = vendor_id or sb.truth("vendors")[0]["VendorID"]
    head.update(
        InvoiceNum=number,
        InvoiceDate="2026-01-15",
        VendorNumVendorID=vendor_id,
        ScrDocInvoiceVendorAmt="123.45",
        Description="Test invoice",
    )
    saved = ok(call(sb, "Update", {"ds": ds}))["ds"]["APInvHed"][0]
    assert saved["RowMod"] == ""
    assert saved["InvoiceNum"] == number
    assert saved["InvoiceDate"] == "2026-01-15T00:00:00"
    return int(saved["VendorNum"]), number


def add_line(sb: EpicorSandbox, vendor: int, number: str, cost: str, qty: str) -> dict[str, Any]:
    ds = ok(
        call(
            sb,
            "GetNewAPInvDtlMiscellaneous",
            {"cInvoiceNum": number, "iVendorNum": vendor, "ds": {}},
        )
    )["ds"]
    line = ds["APInvDtl"][0]
    assert line["RowMod"] == "A"
    line.update(DocUnitCost=cost, ScrVendorQty=qty, Description="Freight")
    return ok(
        call(
            sb,
            "UpdateMaster",
            {
                "ds": ds,
                "cGroupID": "TESTGRP",
                "cTableName": "APInvDtl",
                "runChkBankRef": False,
                "runChkCPay": False,
                "runChkRevChrg": False,
                "suppressUserPrompts": False,
            },
        )
    )


def test_invoice_entry_flow_keeps_totals_exact(sb: EpicorSandbox) -> None:
    vendor, number = new_invoice(sb, "T-1001")
    out = add_line(sb, vendor, number, "10.10", "3")
    assert out["lUpdateRan"] is True
    assert out["requiresUserInput"] is False
    assert out["grpTotalInvAmt"] == Decimal("30.3")
    add_line(sb, vendor, number, "0.1", "2")
    inv = invoice(sb, vendor, number)
    assert inv["DocInvoiceAmt"] == Decimal("30.5")
    assert inv["InvoiceBal"] == inv["InvoiceAmt"]
    assert [line["ExtCost"] for line in inv["APInvDtls"]] == [Decimal("30.3"), Decimal("0.2")]
    for line in inv["APInvDtls"]:
        assert sum(e["ExpAmt"] for e in line["APInvExps"]) == line["ExtCost"]


def test_amount_change_on_a_line_rewrites_header_totals(sb: EpicorSandbox) -> None:
    vendor, number = new_invoice(sb, "T-2001")
    add_line(sb, vendor, number, "5", "1")
    before = invoice(sb, vendor, number)
    ds = ok(
        call(
            sb,
            "GetNewAPInvDtlMiscellaneous",
            {"cInvoiceNum": number, "iVendorNum": vendor, "ds": {}},
        )
    )
    assert ds["ds"]["APInvDtl"][0]["InvoiceLine"] == 2
    line = {
        "Company": "EPIC06",
        "VendorNum": vendor,
        "InvoiceNum": number,
        "InvoiceLine": 1,
        "ScrVendorQty": "4",
        "RowMod": "U",
    }
    ok(
        call(
            sb,
            "UpdateMaster",
            {"ds": {"APInvDtl": [line]}, "cGroupID": "TESTGRP", "cTableName": "APInvDtl"},
        )
    )
    after = invoice(sb, vendor, number)
    assert after["InvoiceAmt"] == Decimal(20)
    assert after["SysRevID"] > before["SysRevID"]
    assert after["APInvDtls"][0]["SysRevID"] > before["APInvDtls"][0]["SysRevID"]
    with sb.session() as s:
        last = s.get(
            sb.odata_url(AP, "APInvoices"),
            params={"$orderby": "SysRevID desc", "$top": "1", "$select": "InvoiceNum"},
            timeout=30,
        ).json()["value"][0]
    assert last["InvoiceNum"] == number


def test_delete_line_and_header(sb: EpicorSandbox) -> None:
    vendor, number = new_invoice(sb, "T-3001")
    add_line(sb, vendor, number, "1", "1")
    add_line(sb, vendor, number, "2", "1")
    line = {"VendorNum": vendor, "InvoiceNum": number, "InvoiceLine": 1, "RowMod": "D"}
    ok(call(sb, "Update", {"ds": {"APInvDtl": [line]}}))
    assert [x["InvoiceLine"] for x in invoice(sb, vendor, number)["APInvDtls"]] == [2]
    assert invoice(sb, vendor, number)["InvoiceAmt"] == Decimal(2)
    head = {"VendorNum": vendor, "InvoiceNum": number, "RowMod": "D"}
    ok(call(sb, "Update", {"ds": {"APInvHed": [head]}}))
    with sb.session() as s:
        assert (
            s.get(
                sb.odata_url(AP, f"APInvoices('EPIC06',{vendor},'{number}')"), timeout=30
            ).status_code
            == 404
        )


def test_duplicate_invoice_is_409(sb: EpicorSandbox) -> None:
    vendor, number = new_invoice(sb, "T-4001")
    ds = ok(call(sb, "GetNewAPInvHedInvoice", {"cGroupID": "TESTGRP", "ds": {}}))["ds"]
    ds["APInvHed"][0].update(InvoiceNum=number, VendorNum=vendor, InvoiceDate="2026-01-15")
    resp = call(sb, "Update", {"ds": ds})
    assert resp.status_code == 409
    assert "already exists" in resp.json()["ErrorMessage"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"VendorNumVendorID": "NOSUCH", "InvoiceNum": "X1"}, "VendorNum"),
        ({"InvoiceNum": ""}, "InvoiceNum"),
        ({"InvoiceNum": "X2", "InvoiceDate": "15/01/2026"}, "InvoiceDate"),
        ({"InvoiceNum": "X3", "TermsCode": "BOGUS"}, "TermsCode"),
    ],
)
def test_header_validation_is_a_business_object_exception(
    sb: EpicorSandbox, changes: dict[str, Any], field: str
) -> None:
    ds = ok(call(sb, "GetNewAPInvHedInvoice", {"cGroupID": "G", "ds": {}}))["ds"]
    ds["APInvHed"][0].update({"VendorNum": 1, "InvoiceDate": "2026-01-15", **changes})
    resp = call(sb, "Update", {"ds": ds})
    assert resp.status_code == 400
    body = resp.json()
    assert body["ErrorType"] == "Ice.Common.BusinessObjectException"
    assert body["ErrorDetails"][0]["Field"] == field


def test_bad_line_leaves_nothing_behind(sb: EpicorSandbox) -> None:
    vendor, number = new_invoice(sb, "T-5001")
    ds = ok(
        call(
            sb,
            "GetNewAPInvDtlMiscellaneous",
            {"cInvoiceNum": number, "iVendorNum": vendor, "ds": {}},
        )
    )["ds"]
    ds["APInvDtl"][0].update(DocUnitCost="5", GLAccount="9999|999|99")
    resp = call(sb, "UpdateMaster", {"ds": ds, "cGroupID": "TESTGRP", "cTableName": "APInvDtl"})
    assert resp.status_code == 400
    assert resp.json()["ErrorDetails"][0]["Field"] == "GLAccount"
    assert invoice(sb, vendor, number)["APInvDtls"] == []


def test_posted_invoice_cannot_change(sb: EpicorSandbox) -> None:
    posted = next(r for r in sb.truth("ap_invoices") if r["Posted"])
    line = {
        "VendorNum": posted["VendorNum"],
        "InvoiceNum": posted["InvoiceNum"],
        "InvoiceLine": 1,
        "ScrVendorQty": "9",
        "RowMod": "U",
    }
    resp = call(sb, "UpdateMaster", {"ds": {"APInvDtl": [line]}, "cTableName": "APInvDtl"})
    assert resp.status_code == 400
    assert "posted" in resp.json()["ErrorMessage"]


def test_get_by_id_returns_the_tableset(sb: EpicorSandbox) -> None:
    first = sb.truth("ap_invoices")[0]
    with sb.session() as s:
        resp = s.get(
            sb.odata_url(AP, "GetByID"),
            params={"vendorNum": first["VendorNum"], "invoiceNum": first["InvoiceNum"]},
            timeout=30,
        )
    ds = resp.json(parse_float=Decimal)["returnObj"]
    assert ds["APInvHed"][0]["InvoiceAmt"] == first["InvoiceAmt"]
    assert ds["APInvDtl"]
    assert ds["APInvExp"]


def test_activity_goes_through_the_write_methods(sb: EpicorSandbox) -> None:
    rev_before = max(r["SysRevID"] for r in sb.truth("ap_invoices"))
    po_revs = {r["PONum"]: r["SysRevID"] for r in sb.truth("purchase_orders")}
    summary = sb.activity(
        new_invoices=2, changed_invoices=1, new_pos=1, changed_pos=1, new_payments=1
    )
    assert len(summary["new_invoices"]) == 2
    assert len(summary["changed_invoices"]) == 1
    assert summary["new_pos"]
    assert summary["changed_pos"]
    assert summary["new_payments"]
    invoices = {(r["VendorNum"], r["InvoiceNum"]): r for r in sb.truth("ap_invoices")}
    for vendor, number in summary["new_invoices"] + summary["changed_invoices"]:
        assert invoices[(vendor, number)]["SysRevID"] > rev_before
    pos = {r["PONum"]: r for r in sb.truth("purchase_orders")}
    lines = sb.truth("purchase_order_lines")
    for po in summary["new_pos"]:
        assert pos[po]["TotalOrder"] == sum(d["ExtCost"] for d in lines if d["PONUM"] == po)
        assert pos[po]["SysRevID"] > rev_before
    for po in summary["changed_pos"]:
        assert pos[po]["SysRevID"] == po_revs[po]  # a line change leaves the header alone
        assert max(d["SysRevID"] for d in lines if d["PONUM"] == po) > rev_before
    checks = {r["HeadNum"]: r for r in sb.truth("ap_payments")}
    trans = [t for t in sb.truth("ap_payment_lines") if t["HeadNum"] == summary["new_payments"][0]]
    assert checks[summary["new_payments"][0]]["CheckAmt"] == sum(t["TranAmt"] for t in trans)
    for t in trans:
        inv = invoices[(t["VendorNum"], t["InvoiceNum"])]
        assert inv["InvoiceBal"] == 0
        assert inv["OpenPayable"] is False


def test_auto_activity_runs_every_k_data_requests(sb: EpicorSandbox) -> None:
    before = len(sb.truth("ap_invoices"))
    sb.auto_activity(3, new_invoices=1)
    with sb.session() as s:
        for _ in range(7):
            s.get(sb.odata_url("Erp.BO.VendorSvc", "Vendors"), params={"$top": "1"}, timeout=30)
    sb.stop_auto_activity()
    assert len(sb.truth("ap_invoices")) == before + 2


def test_header_update_and_allocation_account_change(sb: EpicorSandbox) -> None:
    vendor, number = new_invoice(sb, "T-6001")
    add_line(sb, vendor, number, "12.5", "2")
    before = invoice(sb, vendor, number)
    head = {"VendorNum": vendor, "InvoiceNum": number, "Description": "Changed", "RowMod": "U"}
    out = ok(call(sb, "Update", {"ds": {"APInvHed": [head]}}))
    assert out["ds"]["APInvHed"][0]["Description"] == "Changed"
    after = invoice(sb, vendor, number)
    assert after["SysRevID"] > before["SysRevID"]
    exp = {
        "VendorNum": vendor,
        "InvoiceNum": number,
        "InvoiceLine": 1,
        "InvExpSeq": 1,
        "GLAccount": "6200|400|00",
        "RowMod": "U",
    }
    ok(call(sb, "Update", {"ds": {"APInvExp": [exp]}}))
    changed = invoice(sb, vendor, number)
    allocation = changed["APInvDtls"][0]["APInvExps"][0]
    assert allocation["GLAccount"] == "6200|400|00"
    # A re-code writes only the allocation: header and line keep their SysRevID.
    assert allocation["SysRevID"] > after["APInvDtls"][0]["APInvExps"][0]["SysRevID"]
    assert changed["SysRevID"] == after["SysRevID"]
    assert changed["APInvDtls"][0]["SysRevID"] == after["APInvDtls"][0]["SysRevID"]
    exp["ExpAmt"] = "1"
    exp["RowMod"] = "A"
    exp["InvExpSeq"] = 2
    resp = call(sb, "Update", {"ds": {"APInvExp": [exp]}})
    assert resp.status_code == 400
    assert resp.json()["ErrorDetails"][0]["Table"] == "APInvExp"


def test_posting_makes_simulated_invoices_payable(sb: EpicorSandbox) -> None:
    new = sb.activity(new_invoices=1)["new_invoices"][0]
    unposted = {
        (r["VendorNum"], r["InvoiceNum"]) for r in sb.truth("ap_invoices") if not r["Posted"]
    }
    summary = sb.activity(posted_invoices=len(unposted))
    assert {tuple(k) for k in summary["posted_invoices"]} == unposted
    rows = {(r["VendorNum"], r["InvoiceNum"]): r for r in sb.truth("ap_invoices")}
    head = rows[tuple(new)]
    assert head["Posted"] is True
    assert head["OpenPayable"] is True
    assert head["UnpostedBal"] == 0
    assert head["JournalNum"] > 0
