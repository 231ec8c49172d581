"""Point 1: the streams in DESIGN order with Epicor keys; children ride their parent's page."""

from __future__ import annotations

import json
import math
from typing import Any

from tap_epicor_kinetic.tap import TapEpicorKinetic

DESIGN_ORDER = [
    ("gl_account_categories", ("Company", "COACode", "CategoryID")),
    ("coa_segment_values", ("Company", "COACode", "SegmentNbr", "SegmentCode")),
    ("gl_accounts", ("Company", "COACode", "GLAccount")),
    ("vendors", ("Company", "VendorNum")),
    ("parts", ("Company", "PartNum")),
    ("purchase_orders", ("Company", "PONum")),
    ("purchase_order_lines", ("Company", "PONum", "POLine")),
    ("ap_invoices", ("Company", "VendorNum", "InvoiceNum")),
    ("ap_invoice_lines", ("Company", "VendorNum", "InvoiceNum", "InvoiceLine")),
    (
        "ap_invoice_gl_allocations",
        ("Company", "VendorNum", "InvoiceNum", "InvoiceLine", "InvExpSeq"),
    ),
    (
        "ap_invoice_taxes",
        ("Company", "VendorNum", "InvoiceNum", "TaxCode", "RateCode", "ECAcquisitionSeq"),
    ),
    ("ap_invoice_misc_charges", ("Company", "VendorNum", "InvoiceNum", "InvoiceLine", "MscNum")),
    (
        "ap_invoice_header_allocations",
        ("Company", "VendorNum", "InvoiceNum", "InvoiceLine", "InvExpSeq"),
    ),
    ("ap_payments", ("Company", "HeadNum")),
    ("ap_payment_lines", ("Company", "HeadNum", "APTranNo", "InvoiceNum", "Voided")),
]
HEADER_ROUTES = {
    "gl_account_categories": "COAActCatSvc/COAActCats",
    "coa_segment_values": "COASegValuesSvc/COASegValues",
    "gl_accounts": "GLAccountSvc/GLAccounts",
    "vendors": "VendorSvc/Vendors",
    "parts": "PartSvc/Parts",
    "purchase_orders": "POSvc/POes",
    "ap_invoices": "APInvoiceSvc/APInvoices",
    "ap_payments": "PaymentEntrySvc/PaymentEntries",
}
CHILD_OF = {
    "purchase_order_lines": ("purchase_orders", ("Company", "PONum")),
    "ap_invoice_lines": ("ap_invoices", ("Company", "VendorNum", "InvoiceNum")),
    "ap_invoice_gl_allocations": (
        "ap_invoice_lines",
        ("Company", "VendorNum", "InvoiceNum", "InvoiceLine"),
    ),
    "ap_invoice_taxes": ("ap_invoices", ("Company", "VendorNum", "InvoiceNum")),
    "ap_invoice_misc_charges": ("ap_invoices", ("Company", "VendorNum", "InvoiceNum")),
    "ap_invoice_header_allocations": ("ap_invoices", ("Company", "VendorNum", "InvoiceNum")),
    "ap_payment_lines": ("ap_payments", ("Company", "HeadNum")),
}


def test_streams_are_listed_and_synced_in_design_order_with_epicor_keys(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config()
    tap = TapEpicorKinetic(config=config, parse_env_config=False)
    assert [(s.name, tuple(s.primary_keys)) for s in tap.streams.values()] == DESIGN_ORDER

    result = tap_runner.sync(config)
    first_seen = list(dict.fromkeys(result.schemas))
    assert first_seen == [name for name, _ in DESIGN_ORDER]
    for name, keys in DESIGN_ORDER:
        rows = result.records[name]
        assert rows, name
        assert len({tuple(r[k] for k in keys) for r in rows}) == len(rows), name
        assert all(r[k] is not None for r in rows for k in keys), name


def test_child_rows_come_from_the_parent_page_and_carry_parent_keys(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config(page_size=100)
    epicor_sandbox.reset_counters()
    result = tap_runner.sync(config)
    counters = epicor_sandbox.counters()

    # Requests are about the header pages (+1 to fix the window, + the pages of documents still
    # in entry, re-read with their children): never one per parent row.
    for stream, route in HEADER_ROUTES.items():
        rows = len(result.records[stream])
        assert tap_runner.data_requests(counters, route) <= math.ceil(rows / 100) + 4, stream
    for child_set in ("PODetails", "APInvDtls", "APInvExps", "APTrans"):
        assert tap_runner.data_requests(counters, child_set) == 0, child_set
    lines = len(result.records["ap_invoice_lines"]) + len(
        result.records["ap_invoice_gl_allocations"]
    )
    assert lines > 3 * tap_runner.data_requests(counters, "APInvoices")

    for child, (parent, keys) in CHILD_OF.items():
        parent_keys = {tuple(r[k] for k in keys) for r in result.records[parent]}
        child_keys = [tuple(r[k] for k in keys) for r in result.records[child]]
        assert child_keys, child
        assert set(child_keys) <= parent_keys, child

    # Every child row of the source arrives.
    for child in CHILD_OF:
        assert len(result.records[child]) == len(epicor_sandbox.truth(child)), child


def test_renamed_odata_columns_are_emitted_under_epicor_names(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    result = tap_runner.sync(epicor_sandbox.tap_config())
    account = result.records["gl_accounts"][0]
    assert account["GLAccount"]
    assert "GLAccount1" not in account
    truth_accounts = {r["GLAccount1"] for r in epicor_sandbox.truth("gl_accounts")}
    assert {r["GLAccount"] for r in result.records["gl_accounts"]} == truth_accounts

    line = result.records["purchase_order_lines"][0]
    assert isinstance(line["PONum"], int)
    assert "PONUM" not in line
    truth_lines = {(r["PONUM"], r["POLine"]) for r in epicor_sandbox.truth("purchase_order_lines")}
    got = {(r["PONum"], r["POLine"]) for r in result.records["purchase_order_lines"]}
    assert got == truth_lines


def test_a_selected_child_alone_still_rides_its_parent(small_sandbox: Any, tap_runner: Any) -> None:
    config = small_sandbox.tap_config(emit_activate_version_messages=True)
    catalog = tap_runner.select_only(config, {"ap_invoice_gl_allocations"})
    small_sandbox.reset_counters()
    result = tap_runner.sync(config, catalog=catalog)
    assert result.counts() == {
        "ap_invoice_gl_allocations": len(small_sandbox.truth("ap_invoice_gl_allocations"))
    }
    assert tap_runner.data_requests(small_sandbox.counters(), "APInvExps") == 0
    # The parent's bookmark still moves, so the next run reads only what changed.
    assert result.state["bookmarks"]["ap_invoices"]["partitions"][0]["replication_key_value"]
    # Only allocations of invoices still in entry are read again (they change without the
    # header being written).
    again = tap_runner.sync(
        {**config, "late_commit_lookback_minutes": 0}, catalog=catalog, state=result.state
    )
    open_invoices = {
        (r["VendorNum"], r["InvoiceNum"])
        for r in small_sandbox.truth("ap_invoices")
        if not r["Posted"]
    }
    assert {
        (r["VendorNum"], r["InvoiceNum"]) for r in again.records["ap_invoice_gl_allocations"]
    } <= open_invoices
    assert again.counts().keys() <= {"ap_invoice_gl_allocations"}


def test_record_lines_are_byte_for_byte_the_sdk_message_and_carry_time_extracted(
    small_sandbox: Any, tap_runner: Any
) -> None:
    import datetime as dt
    import decimal
    import io
    from contextlib import redirect_stdout

    from singer_sdk.singerlib import RecordMessage
    from tap_epicor_kinetic.output import FastWriter

    when = dt.datetime(2026, 11, 26, 23, 59, 1, 123000, tzinfo=dt.UTC)
    record = {"InvoiceNum": "A1", "Amt": decimal.Decimal("1.10"), "Line": 3, "Note": None}
    for version in (None, 17):
        fast, sdk = io.StringIO(), io.StringIO()
        with redirect_stdout(fast):
            FastWriter().write_record("ap_invoices", record, version, when)
        with redirect_stdout(sdk):
            FastWriter().write_message(
                RecordMessage(
                    stream="ap_invoices", record=record, version=version, time_extracted=when
                )
            )
        assert fast.getvalue() == sdk.getvalue()
    config = small_sandbox.tap_config()
    out = io.StringIO()
    tap = TapEpicorKinetic(
        config=config,
        catalog=tap_runner.select_only(config, {"ap_invoices", "ap_invoice_lines"}),
        parse_env_config=False,
    )
    with redirect_stdout(out):
        tap.sync_all()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    records = [m for m in lines if m["type"] == "RECORD"]
    assert {m["stream"] for m in records} == {"ap_invoices", "ap_invoice_lines"}
    assert all(dt.datetime.fromisoformat(m["time_extracted"]).tzinfo for m in records)
