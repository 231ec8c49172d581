"""Changes below the header, deletions and late commits, as a real Kinetic makes them."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

INVOICE = ("VendorNum", "InvoiceNum")
LINE = (*INVOICE, "InvoiceLine")
ALLOCATION = (*LINE, "InvExpSeq")
QUIET = {"late_commit_lookback_minutes": 0}


def _keys(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> set[tuple[Any, ...]]:
    return {tuple(r[f] for f in fields) for r in rows}


def _live(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("_sdc_deleted_at")]


def _dead(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> set[tuple[Any, ...]]:
    return {tuple(r[f] for f in fields) for r in rows if r.get("_sdc_deleted_at")}


@pytest.fixture
def sandbox(epicor_sandbox_factory: Any) -> Any:
    return epicor_sandbox_factory(invoices=40)


def test_child_rows_changed_without_their_header_arrive(sandbox: Any, tap_runner: Any) -> None:
    sandbox.activity(new_invoices=4, new_pos=2)
    config = sandbox.tap_config(**QUIET)
    first = tap_runner.sync(config)
    done = sandbox.activity(line_edits=2, allocation_recodes=3, changed_pos=2, po_receipts=2)
    assert done["line_edits"]
    assert done["allocation_recodes"]
    assert done["changed_pos"]
    assert done["po_receipts"]
    second = tap_runner.sync(config, state=first.state)

    got = {tuple(r[f] for f in ALLOCATION): r for r in second.records["ap_invoice_gl_allocations"]}
    truth = {tuple(r[f] for f in ALLOCATION): r for r in sandbox.truth("ap_invoice_gl_allocations")}
    for key in map(tuple, done["allocation_recodes"]):
        assert got[key]["GLAccount"] == truth[key]["GLAccount"], key
    lines = {tuple(r[f] for f in LINE): r for r in second.records["ap_invoice_lines"]}
    truth_lines = {tuple(r[f] for f in LINE): r for r in sandbox.truth("ap_invoice_lines")}
    for key in map(tuple, done["line_edits"]):
        assert lines[key]["Description"] == truth_lines[key]["Description"], key
    po_lines = {(r["PONum"], r["POLine"]): r for r in second.records["purchase_order_lines"]}
    truth_po = {(r["PONUM"], r["POLine"]): r for r in sandbox.truth("purchase_order_lines")}
    for key in map(tuple, done["po_receipts"]):
        assert po_lines[key]["OpenLine"] is False, key
    for po in done["changed_pos"]:
        changed = {k: v for k, v in truth_po.items() if k[0] == po}
        for key, row in changed.items():
            assert po_lines[key]["OrderQty"] == str(row["OrderQty"]), key


def test_deleted_documents_and_rows_become_tombstones(sandbox: Any, tap_runner: Any) -> None:
    sandbox.activity(new_unposted_payments=2, new_invoices=3, new_pos=2)
    config = sandbox.tap_config(**QUIET)
    first = tap_runner.sync(config)
    lines_before = sandbox.truth("ap_invoice_lines")
    allocations_before = sandbox.truth("ap_invoice_gl_allocations")
    payment_lines_before = sandbox.truth("ap_payment_lines")
    done = sandbox.activity(
        deleted_invoices=1, deleted_invoice_lines=1, deleted_po_lines=1, deleted_payments=1
    )
    for kind in ("deleted_invoices", "deleted_invoice_lines", "deleted_po_lines"):
        assert done[kind], kind
    assert done["deleted_payments"]
    second = tap_runner.sync(config, state=first.state)

    gone_invoices = {tuple(k) for k in done["deleted_invoices"]}
    gone_lines = {tuple(k) for k in done["deleted_invoice_lines"]}
    assert _dead(second.records["ap_invoices"], INVOICE) == gone_invoices
    assert _dead(second.records["ap_invoice_lines"], LINE) == gone_lines | {
        k for k in _keys(lines_before, LINE) if k[:2] in gone_invoices
    }
    assert _dead(second.records["ap_invoice_gl_allocations"], ALLOCATION) == {
        k
        for k in _keys(allocations_before, ALLOCATION)
        if k[:2] in gone_invoices or k[:3] in gone_lines
    }
    assert _dead(second.records["purchase_order_lines"], ("PONum", "POLine")) == {
        tuple(k) for k in done["deleted_po_lines"]
    }
    gone_payments = set(done["deleted_payments"])
    assert {k[0] for k in _dead(second.records["ap_payments"], ("HeadNum",))} == gone_payments
    assert {k[0] for k in _dead(second.records["ap_payment_lines"], ("HeadNum",))} == {
        r["HeadNum"] for r in payment_lines_before if r["HeadNum"] in gone_payments
    }
    # A tombstone is the key and the time: no other value that could overwrite a column.
    tombstone = next(r for r in second.records["ap_invoices"] if r.get("_sdc_deleted_at"))
    assert set(tombstone) == {"Company", *INVOICE, "_sdc_deleted_at"}
    # Nothing still in Epicor is tombstoned, and the next run sends no tombstone again.
    for stream in second.records:
        assert len(_live(second.records[stream])) + len(
            [r for r in second.records[stream] if r.get("_sdc_deleted_at")]
        ) == len(second.records[stream])
    third = tap_runner.sync(config, state=second.state)
    assert not any(r.get("_sdc_deleted_at") for rows in third.records.values() for r in rows)


def test_a_late_commit_below_the_bookmark_arrives_within_the_lookback(
    sandbox: Any, tap_runner: Any
) -> None:
    lookback = {"late_commit_lookback_minutes": 0.05}  # 3 s, as runs here are seconds apart
    config = sandbox.tap_config(**lookback)
    catalog = tap_runner.select_only(config, {"ap_invoices"})
    first = tap_runner.sync(config, catalog=catalog)
    balance = {tuple(r[f] for f in INVOICE): r["InvoiceBal"] for r in first.records["ap_invoices"]}
    time.sleep(3.5)  # the first run's bookmark is now older than the lookback

    # A check run pays posted invoices (never in entry again, so only the incremental read can
    # find them) in a transaction that takes its SysRevIDs now but commits later; meanwhile a
    # new invoice commits at once and moves the bookmark past them.
    sandbox.hold_commits(1, seconds=None)
    assert sandbox.activity(new_payments=1)["new_payments"]
    assert sandbox.activity(new_invoices=1)["new_invoices"]
    second = tap_runner.sync(config, catalog=catalog, state=copy.deepcopy(first.state))
    sandbox.commit_late()
    paid = {
        tuple(r[f] for f in INVOICE): str(r["InvoiceBal"])
        for r in sandbox.truth("ap_invoices")
        if tuple(r[f] for f in INVOICE) in balance
        and str(r["InvoiceBal"]) != balance[tuple(r[f] for f in INVOICE)]
    }
    assert paid, "the check run paid nothing: the test proves nothing"
    before = {tuple(r[f] for f in INVOICE): r["InvoiceBal"] for r in second.records["ap_invoices"]}
    assert all(before.get(k) != v for k, v in paid.items())  # the old balance, if any

    third = tap_runner.sync(config, catalog=catalog, state=copy.deepcopy(second.state))
    got = {tuple(r[f] for f in INVOICE): r["InvoiceBal"] for r in third.records["ap_invoices"]}
    assert {k: got.get(k) for k in paid} == paid
    # Without the lookback the same late commit is lost for good.
    blind = {**config, "late_commit_lookback_minutes": 0}
    lost = tap_runner.sync(blind, catalog=catalog, state=copy.deepcopy(second.state))
    assert not paid.keys() & _keys(lost.records["ap_invoices"], INVOICE)


def test_posted_payments_arrive_and_a_posted_entry_is_not_deleted(
    sandbox: Any, tap_runner: Any
) -> None:
    """PaymentEntries serves checks in entry only; posting moves one to CheckRecSearches."""
    config = sandbox.tap_config(**QUIET)
    first = tap_runner.sync(config)
    history = {r["HeadNum"] for r in sandbox.truth("ap_payments") if r["Posted"]}
    assert history
    assert {r["HeadNum"] for r in _live(first.records["ap_payments"])} == history
    history_lines = _keys(sandbox.truth("ap_payment_lines"), ("HeadNum", "APTranNo"))
    assert _keys(_live(first.records["ap_payment_lines"]), ("HeadNum", "APTranNo")) == (
        history_lines
    )

    head = sandbox.activity(new_unposted_payments=1)["new_unposted_payments"][0]
    second = tap_runner.sync(config, state=first.state)
    entry = [r for r in second.records["ap_payments"] if r["HeadNum"] == head]
    assert [r["Posted"] for r in entry] == [False]

    assert sandbox.activity(posted_payments=1)["posted_payments"] == [head]
    third = tap_runner.sync(config, state=second.state)
    payments = [r for r in third.records["ap_payments"] if r["HeadNum"] == head]
    assert [(r["Posted"], r.get("_sdc_deleted_at")) for r in payments] == [(True, None)]
    lines = [r for r in third.records["ap_payment_lines"] if r["HeadNum"] == head]
    truth = [r for r in sandbox.truth("ap_payment_lines") if r["HeadNum"] == head]
    assert lines
    assert len(lines) == len(truth)
    assert all(r["Posted"] is True and not r.get("_sdc_deleted_at") for r in lines)
    fourth = tap_runner.sync(config, state=third.state)
    assert not any(r.get("_sdc_deleted_at") for rows in fourth.records.values() for r in rows)
