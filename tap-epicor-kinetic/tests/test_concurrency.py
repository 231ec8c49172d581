"""max_concurrent_requests: pages fetched at once, records and state as with one page at a time."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

STREAMS = {"ap_invoices", "ap_invoice_lines", "ap_invoice_gl_allocations", "vendors"}


def _bookmarks(state: dict[str, Any]) -> dict[str, Any]:
    """The state without the late-commit ring (it records when each run finished)."""
    return {
        stream: {
            **entry,
            "partitions": [
                {k: v for k, v in p.items() if k != "late_commit"}
                for p in entry.get("partitions", [])
            ],
        }
        for stream, entry in state.get("bookmarks", {}).items()
    }


def _threads_seen(tap_runner: Any, config: dict[str, Any], catalog: dict[str, Any]) -> Any:
    threads: set[str] = set()

    def seen(response: requests.Response) -> None:
        threads.add(threading.current_thread().name)

    result = tap_runner.sync(config, catalog=catalog, on_response=seen)
    return result, threads


def test_concurrent_pages_give_the_same_records_and_states_in_the_same_order(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    base = epicor_sandbox.tap_config(page_size=7)
    catalog = tap_runner.select_only(base, STREAMS)
    one = tap_runner.sync({**base, "max_concurrent_requests": 1}, catalog=catalog)
    four, threads = _threads_seen(
        tap_runner, {**base, "max_concurrent_requests": 4}, catalog=catalog
    )
    # Pages really were fetched on several worker threads at once.
    assert len({name for name in threads if name.startswith("epicor-page")}) > 1
    for stream in STREAMS:
        assert len(four.records[stream]) == len(epicor_sandbox.truth(stream)), stream
        assert four.records[stream] == one.records[stream], stream
    assert _bookmarks(four.state) == _bookmarks(one.state)
    # The bookmark only moves forward.
    marks = [
        s["bookmarks"]["ap_invoices"]["partitions"][0]
        for s in four.states
        if s.get("bookmarks", {}).get("ap_invoices", {}).get("partitions")
    ]
    positions = [m["replication_key_value"] for m in marks if "replication_key_value" in m]
    assert positions == sorted(positions)
    assert len(positions) > 1


def test_concurrent_pages_resume_from_state_like_one_page_at_a_time(
    small_sandbox: Any, tap_runner: Any
) -> None:
    base = small_sandbox.tap_config(page_size=5)
    catalog = tap_runner.select_only(base, {"ap_invoices", "ap_invoice_lines"})
    first = tap_runner.sync({**base, "max_concurrent_requests": 3}, catalog=catalog)
    small_sandbox.activity(new_invoices=3, changed_invoices=2)
    again = {**base, "max_concurrent_requests": 3}
    second = tap_runner.sync(again, catalog=catalog, state=copy.deepcopy(first.state))
    sequential = tap_runner.sync(base, catalog=catalog, state=copy.deepcopy(first.state))
    assert second.records["ap_invoices"] == sequential.records["ap_invoices"]
    assert second.records["ap_invoices"]
    assert _bookmarks(second.state) == _bookmarks(sequential.state)


def test_page_cap_below_page_size_loses_nothing_with_concurrent_pages(
    epicor_sandbox_factory: Any, tap_runner: Any
) -> None:
    sandbox = epicor_sandbox_factory(invoices=150, page_cap=37)
    config = sandbox.tap_config(page_size=100, max_concurrent_requests=4)
    catalog = tap_runner.select_only(config, STREAMS)
    result = tap_runner.sync(config, catalog=catalog)
    for stream in STREAMS:
        truth = sandbox.truth(stream)
        got = tap_runner.row_keys(stream, result.records[stream])
        assert len(got) == len(set(got)) == len(truth), stream


def test_rows_changing_mid_sync_never_hide_unchanged_rows_with_concurrent_pages(
    epicor_sandbox_factory: Any, tap_runner: Any
) -> None:
    sandbox = epicor_sandbox_factory(invoices=120)
    streams = ("ap_invoices", "purchase_orders", "ap_payments")
    revs = _revisions(tap_runner)
    before = {s: revs(s, sandbox.truth(s), odata=True) for s in streams}
    config = sandbox.tap_config(page_size=5, max_concurrent_requests=4)
    catalog = tap_runner.select_only(config, set(streams))
    sandbox.auto_activity(every_requests=3, changed_invoices=1, changed_pos=1, new_payments=1)
    try:
        first = tap_runner.sync(config, catalog=catalog)
    finally:
        sandbox.stop_auto_activity()
    changed = 0
    for stream in streams:
        final = revs(stream, sandbox.truth(stream), odata=True)
        got = revs(stream, first.records[stream])
        unchanged = {k for k, rev in before[stream].items() if final[k] == rev}
        changed += len(before[stream]) - len(unchanged)
        assert unchanged <= got.keys(), stream
        assert all(got[k] == before[stream][k] for k in unchanged), stream
    assert changed > 0, "the simulator changed nothing: the test proves nothing"
    # The next sync picks up every row at its final version.
    second = tap_runner.sync(config, catalog=catalog, state=first.state)
    for stream in streams:
        final = revs(stream, sandbox.truth(stream), odata=True)
        got = revs(stream, first.records[stream])
        got.update(revs(stream, second.records[stream]))
        assert got == final, stream


def _revisions(tap_runner: Any) -> Callable[..., dict[tuple[Any, ...], Any]]:
    """Each row's SysRevID by key (truth rows with `odata=True`)."""

    def revisions(
        stream: str, rows: list[dict[str, Any]], *, odata: bool = False
    ) -> dict[tuple[Any, ...], Any]:
        keys = tap_runner.row_keys(stream, rows, odata=odata)
        return {k: r["SysRevID"] for k, r in zip(keys, rows, strict=True)}

    return revisions


@pytest.mark.parametrize(
    "fault",
    [{"rate_limit_next": 3, "retry_after": 0}, {"license_exhausted_next": 3}],
)
def test_throttling_lowers_the_concurrency_and_loses_nothing(
    small_sandbox: Any,
    tap_runner: Any,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, int],
) -> None:
    config = small_sandbox.tap_config(
        page_size=3, max_concurrent_requests=4, retry_backoff_seconds=0.05
    )
    catalog = tap_runner.select_only(config, {"ap_invoices", "ap_invoice_lines"})
    reference = tap_runner.sync({**config, "max_concurrent_requests": 1}, catalog=catalog)
    pages: list[str] = []
    lock = threading.Lock()

    def throttle_mid_stream(response: requests.Response) -> None:
        # Faults start once pages are being fetched concurrently (not on $metadata).
        with lock:
            if "APInvoices?" in (response.url or ""):
                pages.append(response.url)
                if len(pages) == 4:
                    small_sandbox.faults(**fault)

    with caplog.at_level(logging.INFO):
        result = tap_runner.sync(config, catalog=catalog, on_response=throttle_mid_stream)
    assert len(pages) > 4
    lowered = [r.getMessage() for r in caplog.records if "lowering" in r.getMessage()]
    assert lowered, "no back-off was logged"
    assert "from 4 to 2" in lowered[0]
    assert any("to 1." in m for m in lowered)
    assert result.records["ap_invoices"] == reference.records["ap_invoices"]
    assert result.records["ap_invoice_lines"] == reference.records["ap_invoice_lines"]
    assert _bookmarks(result.state) == _bookmarks(reference.state)


def test_max_concurrent_requests_below_one_is_refused(
    small_sandbox: Any, tap_runner: Any, tmp_path: Any
) -> None:
    run = tap_runner.run_cli(tmp_path, small_sandbox.tap_config(max_concurrent_requests=0))
    assert run.returncode != 0
    assert "max_concurrent_requests" in run.stderr
    assert "minimum of 1" in run.stderr


def _bound_and_first_page_times(
    tap_runner: Any, config: dict[str, Any], catalog: dict[str, Any]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(start, end) of the window-bound request and of the first data page of Vendors."""
    spans: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def seen(response: requests.Response) -> None:
        if "/Vendors?" not in (response.url or ""):
            return
        end = time.monotonic()
        with lock:
            spans.append((response.url, end - response.elapsed.total_seconds(), end))

    result = tap_runner.sync(config, catalog=catalog, on_response=seen)
    assert result.records["vendors"]
    bound = next(s for s in spans if "desc" in s[0])
    first = next(s for s in spans if s is not bound)
    return bound[1:], first[1:]


def test_the_window_bound_is_fetched_alongside_the_first_page(
    small_sandbox: Any, tap_runner: Any
) -> None:
    # One round trip less per stream when requests may run at once (Epicor answers slowly).
    small_sandbox.faults(latency_ms=300)
    base = small_sandbox.tap_config()
    catalog = tap_runner.select_only(base, {"vendors"})
    bound, first = _bound_and_first_page_times(
        tap_runner, {**base, "max_concurrent_requests": 2}, catalog
    )
    overlap = min(bound[1], first[1]) - max(bound[0], first[0])
    assert overlap > 0.2, "the bound and the first page were not in flight together"
    bound, first = _bound_and_first_page_times(
        tap_runner, {**base, "max_concurrent_requests": 1}, catalog
    )
    assert first[0] >= bound[1], "one request at a time means one request at a time"


def test_skip_stays_small_however_long_the_stream(small_sandbox: Any, tap_runner: Any) -> None:
    # $skip costs the server a scan of every skipped row (SQL Server OFFSET): pages in flight
    # are re-anchored on the newest page received, so $skip never grows with the window.
    config = small_sandbox.tap_config(page_size=3, max_concurrent_requests=4)
    catalog = tap_runner.select_only(config, {"ap_invoices"})
    skips: list[int] = []

    def seen(response: requests.Response) -> None:
        query = parse_qs(urlsplit(response.request.url or "").query)
        skips.extend(int(s) for s in query.get("$skip", []))

    result = tap_runner.sync(config, catalog=catalog, on_response=seen)
    invoices = len(small_sandbox.truth("ap_invoices"))
    assert len(result.records["ap_invoices"]) == invoices
    assert invoices > 10 * 3, "too few pages to tell"
    assert skips, "no page was fetched ahead"
    assert max(skips) < 4 * 3, f"$skip grew to {max(skips)}"


def test_a_stream_without_replication_key_ends_cleanly_with_concurrent_pages(
    small_sandbox: Any, tap_runner: Any
) -> None:
    # Without a replication key there is no upper bound to stop at: the window ends on a short
    # page. When the rows end exactly where a chained page overlaps its predecessor, that page
    # holds only the row already yielded; it is the end, not rows out of order.
    base = small_sandbox.tap_config(max_concurrent_requests=2)
    catalog = tap_runner.select_only(base, {"vendors"})
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "vendors":
            entry["replication_method"] = "FULL_TABLE"
            entry["replication_key"] = None
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"].pop("replication-key", None)
                    meta["metadata"]["forced-replication-method"] = "FULL_TABLE"
    truth = sorted(tap_runner.row_keys("vendors", small_sandbox.truth("vendors"), odata=True))
    for page_size in range(2, 9):
        result = tap_runner.sync({**base, "page_size": page_size}, catalog=catalog)
        got = tap_runner.row_keys("vendors", result.records["vendors"])
        assert sorted(got) == truth, page_size
