"""Change semantics of a real Kinetic, over real HTTP: writes below the header leave it alone,
deletions remove rows, late commits become visible after a reader passed their SysRevID."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import requests
from finance_sandbox.testing.epicor import EpicorSandbox

AP = "Erp.BO.APInvoiceSvc"
INVOICE_KEY = ("VendorNum", "InvoiceNum")


@pytest.fixture
def sb(epicor_sandbox_factory) -> EpicorSandbox:
    """A fresh, small emulator: these tests change data."""
    return epicor_sandbox_factory(invoices=60)


def by_key(rows: list[dict[str, Any]], *key: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in key): r for r in rows}


def snapshot(sb: EpicorSandbox) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    return {
        "ap_invoices": by_key(sb.truth("ap_invoices"), *INVOICE_KEY),
        "ap_invoice_lines": by_key(sb.truth("ap_invoice_lines"), *INVOICE_KEY, "InvoiceLine"),
        "ap_invoice_gl_allocations": by_key(
            sb.truth("ap_invoice_gl_allocations"), *INVOICE_KEY, "InvoiceLine", "InvExpSeq"
        ),
        "purchase_orders": by_key(sb.truth("purchase_orders"), "PONum"),
        "purchase_order_lines": by_key(sb.truth("purchase_order_lines"), "PONUM", "POLine"),
        "ap_payments": by_key(sb.truth("ap_payments"), "HeadNum"),
        "ap_payment_lines": by_key(sb.truth("ap_payment_lines"), "HeadNum", "APTranNo"),
    }


def written(before: dict[Any, Any], after: dict[Any, Any]) -> set[Any]:
    """Keys whose SysRevID moved (rows present before and after)."""
    return {k for k, r in after.items() if k in before and r["SysRevID"] != before[k]["SysRevID"]}


def post(sb: EpicorSandbox, method: str, body: dict[str, Any]) -> requests.Response:
    return sb.call_method(AP, method, body)


def test_default_writes_touch_only_the_rows_a_bo_writes(sb: EpicorSandbox) -> None:
    sb.activity(new_invoices=4)
    before = snapshot(sb)
    summary = sb.activity(line_edits=3, allocation_recodes=3, changed_pos=3, po_receipts=3)
    after = snapshot(sb)
    line_keys = {tuple(k) for k in summary["line_edits"]}
    recoded = {tuple(k) for k in summary["allocation_recodes"]}
    assert len(line_keys) == 3
    assert len(recoded) == 3
    assert written(before["ap_invoice_lines"], after["ap_invoice_lines"]) == line_keys
    assert written(before["ap_invoice_gl_allocations"], after["ap_invoice_gl_allocations"]) == (
        recoded
    )
    assert written(before["ap_invoices"], after["ap_invoices"]) == set()
    for key in recoded:
        old, new = before["ap_invoice_gl_allocations"][key], after["ap_invoice_gl_allocations"][key]
        assert new["GLAccount"] != old["GLAccount"]
        assert new["ExpAmt"] == old["ExpAmt"]
    po_lines = {(po, line) for po, line in summary["po_receipts"]}
    changed_pos = set(summary["changed_pos"])
    lines_written = written(before["purchase_order_lines"], after["purchase_order_lines"])
    assert po_lines <= lines_written
    assert {po for po, _ in lines_written} == changed_pos | {po for po, _ in po_lines}
    assert written(before["purchase_orders"], after["purchase_orders"]) == set()
    for key in po_lines:
        assert after["purchase_order_lines"][key]["OpenLine"] is False
    # Every write took its own, fresh, global SysRevID.
    revs = [
        r["SysRevID"]
        for stream in ("ap_invoice_lines", "ap_invoice_gl_allocations", "purchase_order_lines")
        for k, r in after[stream].items()
        if k in written(before[stream], after[stream])
    ]
    old_max = max(r["SysRevID"] for rows in before.values() for r in rows.values())
    assert len(set(revs)) == len(revs)
    assert min(revs) > old_max


def test_header_edit_writes_only_the_header(sb: EpicorSandbox) -> None:
    sb.activity(new_invoices=2)
    before = snapshot(sb)
    summary = sb.activity(header_edits=2)
    after = snapshot(sb)
    assert written(before["ap_invoices"], after["ap_invoices"]) == {
        tuple(k) for k in summary["header_edits"]
    }
    assert written(before["ap_invoice_lines"], after["ap_invoice_lines"]) == set()
    assert written(before["ap_invoice_gl_allocations"], after["ap_invoice_gl_allocations"]) == set()


def test_rewrite_headers_option_keeps_the_old_convenience(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(invoices=60, rewrite_headers=True)
    sb.activity(new_invoices=2)
    before = snapshot(sb)
    summary = sb.activity(line_edits=2, changed_pos=2)
    after = snapshot(sb)
    assert written(before["ap_invoices"], after["ap_invoices"]) == {
        tuple(k[:2]) for k in summary["line_edits"]
    }
    assert written(before["purchase_orders"], after["purchase_orders"]) == {
        (po,) for po in summary["changed_pos"]
    }


def test_deletions_remove_rows_and_children(sb: EpicorSandbox) -> None:
    sb.activity(new_invoices=3, new_unposted_payments=2)
    before = snapshot(sb)
    summary = sb.activity(
        deleted_invoices=2, deleted_invoice_lines=2, deleted_po_lines=2, deleted_payments=1
    )
    after = snapshot(sb)
    for vendor, number in summary["deleted_invoices"]:
        assert (vendor, number) in before["ap_invoices"]
        assert (vendor, number) not in after["ap_invoices"]
        for stream in ("ap_invoice_lines", "ap_invoice_gl_allocations"):
            assert not [k for k in after[stream] if k[:2] == (vendor, number)]
        for stream in (
            "ap_invoice_taxes",
            "ap_invoice_misc_charges",
            "ap_invoice_header_allocations",
        ):
            assert not [
                r for r in sb.truth(stream) if (r["VendorNum"], r["InvoiceNum"]) == (vendor, number)
            ]
    for vendor, number, line in summary["deleted_invoice_lines"]:
        assert (vendor, number, line) not in after["ap_invoice_lines"]
        assert not [
            k for k in after["ap_invoice_gl_allocations"] if k[:3] == (vendor, number, line)
        ]
        head = after["ap_invoices"][(vendor, number)]
        remaining = [r for k, r in after["ap_invoice_lines"].items() if k[:2] == (vendor, number)]
        header_parts = sum(
            r["TaxAmt"]
            for r in sb.truth("ap_invoice_taxes")
            if (r["VendorNum"], r["InvoiceNum"]) == (vendor, number)
        ) + sum(
            r["MiscAmt"]
            for r in sb.truth("ap_invoice_misc_charges")
            if (r["VendorNum"], r["InvoiceNum"]) == (vendor, number)
        )
        assert head["InvoiceAmt"] == sum(r["ExtCost"] for r in remaining) + header_parts
    for po, line in summary["deleted_po_lines"]:
        assert before["purchase_order_lines"][(po, line)]["OpenLine"] is True
        assert (po, line) not in after["purchase_order_lines"]
    assert len(summary["deleted_payments"]) == 1
    head = summary["deleted_payments"][0]
    assert before["ap_payments"][(head,)]["Posted"] is False
    assert (head,) not in after["ap_payments"]
    assert not [k for k in after["ap_payment_lines"] if k[0] == head]
    assert len(after["ap_invoices"]) == len(before["ap_invoices"]) - 2


def test_unposted_payment_leaves_invoice_balance_alone(sb: EpicorSandbox) -> None:
    before = snapshot(sb)
    summary = sb.activity(new_unposted_payments=1)
    after = snapshot(sb)
    head = summary["new_unposted_payments"][0]
    assert after["ap_payments"][(head,)]["Posted"] is False
    lines = [r for k, r in after["ap_payment_lines"].items() if k[0] == head]
    assert lines
    for line in lines:
        key = (line["VendorNum"], line["InvoiceNum"])
        assert after["ap_invoices"][key]["InvoiceBal"] == before["ap_invoices"][key]["InvoiceBal"]
        assert after["ap_invoices"][key]["SysRevID"] == before["ap_invoices"][key]["SysRevID"]


def test_delete_through_update_rowmod_d_and_posted_rows_refuse(sb: EpicorSandbox) -> None:
    unposted = next(r for r in sb.truth("ap_invoices") if not r["Posted"] and r["InvoiceAmt"] != 0)
    head = {"VendorNum": unposted["VendorNum"], "InvoiceNum": unposted["InvoiceNum"]}
    resp = post(sb, "Update", {"ds": {"APInvHed": [{**head, "RowMod": "D"}]}})
    assert resp.status_code == 200, resp.text
    keys = {(r["VendorNum"], r["InvoiceNum"]) for r in sb.truth("ap_invoices")}
    assert (unposted["VendorNum"], unposted["InvoiceNum"]) not in keys
    posted = next(r for r in sb.truth("ap_invoices") if r["Posted"])
    row = {"VendorNum": posted["VendorNum"], "InvoiceNum": posted["InvoiceNum"], "RowMod": "D"}
    resp = post(sb, "Update", {"ds": {"APInvHed": [row]}})
    assert resp.status_code == 400
    assert "posted" in resp.json()["ErrorMessage"]


def _new_invoice(sb: EpicorSandbox, number: str) -> None:
    ds = post(sb, "GetNewAPInvHedInvoice", {"cGroupID": "LATE", "ds": {}}).json()["parameters"][
        "ds"
    ]
    ds["APInvHed"][0].update(
        InvoiceNum=number,
        InvoiceDate="2026-01-15",
        VendorNumVendorID=sb.truth("vendors")[0]["VendorID"],
        Description="late",
    )
    resp = post(sb, "Update", {"ds": ds})
    assert resp.status_code == 200, resp.text


def _read_invoices(sb: EpicorSandbox) -> dict[str, int]:
    with sb.session() as s:
        rows = s.get(
            sb.odata_url(AP, "APInvoices"),
            params={"$filter": "GroupID eq 'LATE'", "$select": "InvoiceNum,SysRevID"},
            timeout=30,
        ).json(parse_float=Decimal)["value"]
    return {r["InvoiceNum"]: r["SysRevID"] for r in rows}


def test_late_commit_is_visible_only_after_a_later_write(sb: EpicorSandbox) -> None:
    status = sb.hold_commits(1, seconds=None)
    assert status["hold_next"] == 1
    _new_invoice(sb, "LATE-1")  # held: SysRevID taken now, not visible
    _new_invoice(sb, "LATE-2")  # visible at once
    seen = _read_invoices(sb)
    assert list(seen) == ["LATE-2"]
    assert "LATE-1" not in {r["InvoiceNum"] for r in sb.truth("ap_invoices")}
    committed = sb.commit_late()
    assert committed["committed"] == 1
    seen = _read_invoices(sb)
    assert seen["LATE-1"] < seen["LATE-2"]  # committed below what a reader already passed


def test_late_invoices_from_the_simulator_arrive_after_their_delay(sb: EpicorSandbox) -> None:
    late = tuple(sb.activity(late_invoices=1, late_seconds=1.5)["late_invoices"][0])
    now = tuple(sb.activity(new_invoices=1)["new_invoices"][0])
    rows = by_key(sb.truth("ap_invoices"), *INVOICE_KEY)
    assert late not in rows
    assert now in rows
    lines = by_key(sb.truth("ap_invoice_lines"), *INVOICE_KEY, "InvoiceLine")
    assert not [k for k in lines if k[:2] == late]
    time.sleep(1.6)
    rows = by_key(sb.truth("ap_invoices"), *INVOICE_KEY)
    assert rows[late]["SysRevID"] < rows[now]["SysRevID"]
    lines = by_key(sb.truth("ap_invoice_lines"), *INVOICE_KEY, "InvoiceLine")
    late_lines = [r for k, r in lines.items() if k[:2] == late]
    assert late_lines
    assert rows[late]["InvoiceAmt"] == sum(r["ExtCost"] for r in late_lines)


def _po_lines(sb: EpicorSandbox, po: int) -> int:
    with sb.session() as s:
        resp = s.get(
            sb.odata_url("Erp.BO.POSvc", f"POes('EPIC06',{po})"),
            params={"$select": "PONum", "$expand": "PODetails($select=POLine)"},
            timeout=30,
        )
    assert resp.status_code == 200, resp.text
    return len(resp.json()["PODetails"])


def test_big_po_is_served_whole_unless_an_expand_cap_is_set(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(invoices=40, big_po_lines=150)
    lines = [r for r in sb.truth("purchase_order_lines") if r["PONUM"] == 9_000_001]
    assert len(lines) == 150
    assert _po_lines(sb, 9_000_001) == 150  # the page cap does not apply inside $expand
    assert sb.faults(expand_cap=100)["expand_cap"] == 100
    assert _po_lines(sb, 9_000_001) == 100  # silently truncated, as a capped server would
    sb.clear_faults()
    assert _po_lines(sb, 9_000_001) == 150
    capped = epicor_sandbox_factory(invoices=40, big_po_lines=150, expand_cap=120)
    assert _po_lines(capped, 9_000_001) == 120


def test_header_misc_charge_through_the_bo_methods(sb: EpicorSandbox) -> None:
    _new_invoice(sb, "MSC-1")
    vendor = sb.truth("vendors")[0]["VendorNum"]
    ds = post(sb, "GetNewHdrCharge", {"cInvoiceNum": "MSC-1", "iVendorNum": vendor, "ds": {}})
    ds = ds.json(parse_float=Decimal)["parameters"]["ds"]
    charge = ds["APIHAPInvMsc"][0]
    assert (charge["RowMod"], charge["InvoiceLine"], charge["MscNum"]) == ("A", 0, 1)
    charge["ScrDocMiscAmt"] = "12.5"
    resp = post(sb, "UpdateMaster", {"ds": ds, "cTableName": "APIHAPInvMsc", "cGroupID": "LATE"})
    assert resp.status_code == 200, resp.text

    def invoice_rows() -> tuple[dict[str, Any], list[Any], list[Any]]:
        head = by_key(sb.truth("ap_invoices"), *INVOICE_KEY)[(vendor, "MSC-1")]
        miscs = [r for r in sb.truth("ap_invoice_misc_charges") if r["InvoiceNum"] == "MSC-1"]
        exps = [r for r in sb.truth("ap_invoice_header_allocations") if r["InvoiceNum"] == "MSC-1"]
        return head, miscs, exps

    head, miscs, exps = invoice_rows()
    assert [m["DocMiscAmt"] for m in miscs] == [Decimal("12.5")]
    assert [(e["InvoiceLine"], e["DocExpAmt"]) for e in exps] == [(0, Decimal("12.5"))]
    assert head["DocInvoiceAmt"] == Decimal("12.5")
    gone = {**charge, "RowMod": "D"}
    resp = post(sb, "Update", {"ds": {"APIHAPInvMsc": [gone]}})
    assert resp.status_code == 200, resp.text
    head, miscs, exps = invoice_rows()
    assert (miscs, exps, head["DocInvoiceAmt"]) == ([], [], 0)


def test_misc_charges_activity_writes_charge_distribution_and_header(sb: EpicorSandbox) -> None:
    sb.activity(new_invoices=2)
    before = snapshot(sb)
    summary = sb.activity(misc_charges=2)
    after = snapshot(sb)
    invoices = {tuple(k[:2]) for k in summary["misc_charges"]}
    assert len(invoices) == 2
    assert written(before["ap_invoices"], after["ap_invoices"]) == invoices
    assert written(before["ap_invoice_lines"], after["ap_invoice_lines"]) == set()
    for vendor, number, msc in summary["misc_charges"]:
        charge = next(
            r
            for r in sb.truth("ap_invoice_misc_charges")
            if (r["VendorNum"], r["InvoiceNum"], r["MscNum"]) == (vendor, number, msc)
        )
        exp = next(
            r
            for r in sb.truth("ap_invoice_header_allocations")
            if (r["VendorNum"], r["InvoiceNum"], r["InvExpSeq"])
            == (vendor, number, charge["InvExpSeq"])
        )
        assert exp["ExpAmt"] == charge["MiscAmt"]
        head = after["ap_invoices"][(vendor, number)]
        assert (
            head["InvoiceAmt"] - before["ap_invoices"][(vendor, number)]["InvoiceAmt"]
            == (charge["MiscAmt"])
        )


def test_a_held_po_keeps_its_number_from_the_next_po(sb: EpicorSandbox) -> None:
    sb.hold_commits(1, None)
    late = sb.activity(new_pos=1)["new_pos"][0]
    later = sb.activity(new_pos=1)["new_pos"][0]
    assert later != late
    sb.commit_late()
    pos = {r["PONum"] for r in sb.truth("purchase_orders")}
    assert {late, later} <= pos
    lines = {r["PONUM"] for r in sb.truth("purchase_order_lines")}
    assert {late, later} <= lines
