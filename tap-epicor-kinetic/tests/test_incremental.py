"""Point 3: SysRevID bookmarks per stream and company, SysRevID fallback, start_date, resuming."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

HEADERS = [
    "gl_account_categories",
    "coa_segment_values",
    "gl_accounts",
    "vendors",
    "parts",
    "purchase_orders",
    "ap_invoices",
    "ap_payments",
]


def _partition(state: dict[str, Any], stream: str, company: str) -> dict[str, Any]:
    partitions = state["bookmarks"][stream]["partitions"]
    return next(p for p in partitions if p["context"] == {"Company": company})


def _invoice_keys(rows: list[dict[str, Any]]) -> set[tuple[int, str]]:
    return {(r["VendorNum"], r["InvoiceNum"]) for r in rows}


def _open_keys(sandbox: Any, stream: str = "ap_invoices") -> set[Any]:
    """Documents still in entry (re-read by every run)."""
    rows = sandbox.truth(stream)
    if stream == "ap_invoices":
        return {(r["VendorNum"], r["InvoiceNum"]) for r in rows if not r["Posted"]}
    if stream == "purchase_orders":
        return {r["PONum"] for r in rows if r["OpenOrder"]}
    return {r["HeadNum"] for r in rows if not r["Posted"]}


def test_a_run_after_saved_state_emits_only_what_changed(
    small_sandbox: Any, tap_runner: Any
) -> None:
    config = small_sandbox.tap_config(late_commit_lookback_minutes=0)
    first = tap_runner.sync(config)
    for stream in HEADERS:
        bookmark = _partition(first.state, stream, "EPIC06")
        assert bookmark["replication_key"] == "SysRevID", stream
        assert isinstance(bookmark["replication_key_value"], int)
        assert "progress_markers" not in bookmark

    # Nothing changed: only the documents still in entry are read again (their lines can
    # change without the header being written).
    quiet = tap_runner.sync(config, state=first.state)
    assert quiet.counts().keys() <= {
        "purchase_orders",
        "purchase_order_lines",
        "ap_invoices",
        "ap_invoice_lines",
        "ap_invoice_gl_allocations",
        "ap_payments",
        "ap_payment_lines",
    }
    assert _invoice_keys(quiet.records["ap_invoices"]) == _open_keys(small_sandbox)
    assert {r["PONum"] for r in quiet.records["purchase_orders"]} == _open_keys(
        small_sandbox, "purchase_orders"
    )

    summary = small_sandbox.activity(new_invoices=2, changed_invoices=2, new_payments=1)
    changed = {tuple(k) for k in summary["new_invoices"] + summary["changed_invoices"]}
    after = tap_runner.sync(config, state=quiet.state)

    got = _invoice_keys(after.records["ap_invoices"])
    assert changed <= got
    # A new payment rewrites the invoices it pays (Epicor does the same); nothing else moves.
    truth_now = {(r["VendorNum"], r["InvoiceNum"]): r for r in small_sandbox.truth("ap_invoices")}
    truth_before = {
        (r["VendorNum"], r["InvoiceNum"]): r["SysRevID"] for r in first.records["ap_invoices"]
    }
    moved = {k for k, r in truth_now.items() if truth_before.get(k) != r["SysRevID"]}
    assert got == moved | _open_keys(small_sandbox)
    assert {r["HeadNum"] for r in after.records["ap_payments"]} == set(
        summary["new_payments"]
    ) | _open_keys(small_sandbox, "ap_payments")
    # Children of the invoices read come with them, and only those.
    assert _invoice_keys(after.records["ap_invoice_lines"]) == got


def test_stock_kinetic_is_announced_as_it_is_read(
    epicor_sandbox_factory: Any, tap_runner: Any, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    sandbox = epicor_sandbox_factory(invoices=30)
    # Discovery with base_url announces SysRevID, also for an override the instance lacks,
    # and no always-empty UpdatedOn column.
    config = sandbox.tap_config(replication_keys={"vendors": "UpdatedOn"})
    run = tap_runner.run_cli(tmp_path, config, "--discover")
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] in HEADERS:
            top = next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]
            assert top["valid-replication-keys"] == ["SysRevID"], entry["tap_stream_id"]
            assert "UpdatedOn" not in entry["schema"]["properties"], entry["tap_stream_id"]

    with caplog.at_level(logging.WARNING):
        first = tap_runner.sync(config)
    for stream in HEADERS:
        bookmark = _partition(first.state, stream, "EPIC06")
        assert bookmark["replication_key"] == "SysRevID", stream
        assert isinstance(bookmark["replication_key_value"], int)
        assert first.schemas[stream]["bookmark_properties"] == ["SysRevID"]
        assert "UpdatedOn" not in first.schemas[stream]["schema"]["properties"]
        assert len(first.records[stream]) == len(sandbox.truth(stream)), stream
    fallback_logs = [r.getMessage() for r in caplog.records if "SysRevID instead" in r.getMessage()]
    assert len(fallback_logs) == 1
    assert "vendors" in fallback_logs[0]

    summary = sandbox.activity(changed_invoices=1, new_pos=1)
    second = tap_runner.sync({**config, "late_commit_lookback_minutes": 0}, state=first.state)
    assert {tuple(k) for k in summary["changed_invoices"]} | _open_keys(sandbox) == _invoice_keys(
        second.records["ap_invoices"]
    )
    assert {r["PONum"] for r in second.records["purchase_orders"]} == set(
        summary["new_pos"]
    ) | _open_keys(sandbox, "purchase_orders")


def test_each_company_is_its_own_state_partition(epicor_sandbox: Any, tap_runner: Any) -> None:
    config = epicor_sandbox.tap_config(companies=["EPIC06", "EPIC07"])
    catalog = tap_runner.select_only(config, {"ap_invoices", "ap_invoice_lines", "vendors"})
    result = tap_runner.sync(config, catalog=catalog)
    for company in ("EPIC06", "EPIC07"):
        truth = epicor_sandbox.truth("ap_invoices", company=company)
        rows = [r for r in result.records["ap_invoices"] if r["Company"] == company]
        assert _invoice_keys(rows) == _invoice_keys(truth), company
        lines = [r for r in result.records["ap_invoice_lines"] if r["Company"] == company]
        assert len(lines) == len(epicor_sandbox.truth("ap_invoice_lines", company=company))
        newest = max(r["SysRevID"] for r in truth)
        assert _partition(result.state, "ap_invoices", company)["replication_key_value"] == newest


def test_start_date_bounds_the_first_run_through_each_entitys_date(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    truth = epicor_sandbox.truth("ap_invoices")
    dates = sorted(r["InvoiceDate"][:10] for r in truth)
    start = dates[len(dates) // 2]
    config = epicor_sandbox.tap_config(start_date=start)
    catalog = tap_runner.select_only(
        config, {"ap_invoices", "purchase_orders", "ap_payments", "vendors"}
    )
    result = tap_runner.sync(config, catalog=catalog)
    expected = {(r["VendorNum"], r["InvoiceNum"]) for r in truth if r["InvoiceDate"][:10] >= start}
    assert _invoice_keys(result.records["ap_invoices"]) == expected
    assert 0 < len(expected) < len(truth)
    pos = {
        r["PONum"] for r in epicor_sandbox.truth("purchase_orders") if r["OrderDate"][:10] >= start
    }
    assert {r["PONum"] for r in result.records["purchase_orders"]} == pos
    payments = {
        r["HeadNum"] for r in epicor_sandbox.truth("ap_payments") if r["CheckDate"][:10] >= start
    }
    assert {r["HeadNum"] for r in result.records["ap_payments"]} == payments
    # Masters have no business date: read in full.
    assert len(result.records["vendors"]) == len(epicor_sandbox.truth("vendors"))


def test_an_interrupted_run_resumes_where_it_stopped(epicor_sandbox: Any, tap_runner: Any) -> None:
    config = epicor_sandbox.tap_config(page_size=25, late_commit_lookback_minutes=0)
    catalog = tap_runner.select_only(config, {"ap_invoices", "vendors"})
    interrupted = tap_runner.sync(config, catalog=catalog, record_limit=110)
    assert len(interrupted.records["ap_invoices"]) == 110
    bookmark = _partition(interrupted.state, "ap_invoices", "EPIC06")
    assert "progress_markers" not in bookmark
    assert bookmark["replication_key_value"] == interrupted.records["ap_invoices"][-1]["SysRevID"]

    resumed = tap_runner.sync(config, catalog=catalog, state=interrupted.state)
    first = _invoice_keys(interrupted.records["ap_invoices"])
    rest = _invoice_keys(resumed.records["ap_invoices"])
    assert not (first & rest) - _open_keys(epicor_sandbox)
    assert first | rest == _invoice_keys(epicor_sandbox.truth("ap_invoices"))


def test_replication_key_override_with_many_ties(small_sandbox: Any, tap_runner: Any) -> None:
    # ChangeDate is a date: many invoices share each value; the SysRevID tie-break keeps it exact.
    config = small_sandbox.tap_config(
        replication_keys={"ap_invoices": "ChangeDate"}, late_commit_lookback_minutes=0
    )
    catalog = tap_runner.select_only(config, {"ap_invoices"})
    first = tap_runner.sync(config, catalog=catalog)
    assert len(first.records["ap_invoices"]) == len(small_sandbox.truth("ap_invoices"))
    bookmark = _partition(first.state, "ap_invoices", "EPIC06")
    assert bookmark["replication_key"] == "ChangeDate"
    assert list(bookmark["replication_key_tiebreak"]) == ["SysRevID"]

    summary = small_sandbox.activity(changed_invoices=2)
    second = tap_runner.sync(config, catalog=catalog, state=first.state)
    assert _invoice_keys(second.records["ap_invoices"]) == {
        tuple(k) for k in summary["changed_invoices"]
    } | _open_keys(small_sandbox)


def test_replication_keys_for_an_unknown_stream_is_a_config_error(
    tap_runner: Any, tmp_path: Any
) -> None:
    run = tap_runner.run_cli(
        tmp_path, {"replication_keys": {"invoices": "ChangeDate"}}, "--discover"
    )
    assert run.returncode != 0
    assert "replication_keys.invoices: there is no stream 'invoices'" in run.stderr


def test_full_table_forced_in_the_catalog_reads_every_row(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config(start_date="2030-01-01T00:00:00Z")
    catalog = tap_runner.select_only(config, {"vendors"})
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "vendors":
            entry["replication_method"] = "FULL_TABLE"
    result = tap_runner.sync(config, catalog=catalog)
    assert len(result.records["vendors"]) == len(epicor_sandbox.truth("vendors"))


def test_state_messages_do_not_multiply_with_pages(small_sandbox: Any, tap_runner: Any) -> None:
    # Every STATE carries the whole state, open documents' child keys included (megabytes on a
    # large company): one per page of parents made the output grow with pages x state size
    # (2.2 GB of STATE in 40 minutes on 100,000 invoices). The count must not follow the pages.
    big_pages = tap_runner.sync(small_sandbox.tap_config(page_size=100))
    small_pages = tap_runner.sync(small_sandbox.tap_config(page_size=10))
    assert small_pages.counts() == big_pages.counts()
    assert len(small_pages.states) <= len(big_pages.states) + 2
    assert small_pages.state["bookmarks"].keys() == big_pages.state["bookmarks"].keys()
