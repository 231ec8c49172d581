"""Point 7: transient failures retried with backoff (Retry-After honoured), others fail at once."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

FAST = {"retry_backoff_seconds": 0.05}


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"error_next": 3}, "500"),
        ({"license_exhausted_next": 2}, "400"),
        ({"rate_limit_next": 2, "retry_after": 1}, "429"),
    ],
)
def test_transient_failures_are_retried_until_the_data_arrives(
    small_sandbox: Any,
    tap_runner: Any,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, int],
    status: str,
) -> None:
    config = small_sandbox.tap_config(**FAST)
    catalog = tap_runner.select_only(config, {"vendors"})
    tap_runner.sync(config, catalog=catalog)  # $metadata read; faults now hit data requests
    small_sandbox.reset_counters()
    small_sandbox.faults(**fault)
    with caplog.at_level(logging.WARNING):
        result = tap_runner.sync(config, catalog=catalog)
    assert len(result.records["vendors"]) == len(small_sandbox.truth("vendors"))
    failures = sum(n for key, n in fault.items() if key.endswith("_next"))
    # The faults hit the first requests, whichever they are (each service's $metadata, then data).
    by_route = small_sandbox.counters()["by_route"].values()
    assert sum(statuses.get(status, 0) for statuses in by_route) == failures
    waits = [
        float(m.group(1))
        for r in caplog.records
        if (m := re.search(r"retry \d+ of 5 in ([\d.]+) s", r.getMessage()))
    ]
    assert len(waits) == failures
    if "retry_after" in fault:
        # Retry-After is a floor for the wait, not a hint.
        assert min(waits) >= fault["retry_after"]


def test_retries_are_bounded_by_max_retries(
    small_sandbox: Any, tap_runner: Any, tmp_path: Path
) -> None:
    small_sandbox.faults(error_next=50)
    config = small_sandbox.tap_config(max_retries=2, **FAST)
    run = tap_runner.run_cli(tmp_path, config)
    assert run.returncode != 0
    assert "still failing after 2 retries (max_retries)" in run.stderr
    routes = small_sandbox.counters()["by_route"]
    assert sum(s.get("500", 0) for s in routes.values()) == 3  # 1 try + 2 retries, then stop


def test_other_client_errors_fail_at_once_with_stream_request_and_message(
    small_sandbox: Any, tap_runner: Any, tmp_path: Path
) -> None:
    baq = {"name": "ap_aging", "baq_id": "FIN-Nope", "primary_keys": ["APInvHed_InvoiceNum"]}
    config = small_sandbox.tap_config(baq_streams=[baq], **FAST)
    small_sandbox.reset_counters()
    run = tap_runner.run_cli(tmp_path, config)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "Stream 'ap_aging'" in last
    assert "HTTP 404 for GET /EpicorSandbox/api/v2/odata/EPIC06/BaqSvc/FIN-Nope/Data?" in last
    assert "BAQ 'FIN-Nope' was not found" in last
    assert config["password"] not in run.stderr
    assert config["api_key"] not in run.stderr
    routes = small_sandbox.counters()["by_route"]
    assert sum(s.get("404", 0) for s in routes.values()) == 2  # $metadata and Data, once each


def test_a_missing_baq_column_is_named_before_any_data_request(
    small_sandbox: Any, tap_runner: Any, tmp_path: Path
) -> None:
    baq = {
        "name": "ap_aging",
        "baq_id": "FIN-APAging",
        "primary_keys": ["APInvHed_VendorNum", "APInvHed_InvoiceNum"],
        "replication_key": "APInvHed_Nope",
    }
    config = small_sandbox.tap_config(baq_streams=[baq])
    small_sandbox.reset_counters()
    run = tap_runner.run_cli(tmp_path, config)
    assert run.returncode != 0
    assert "BAQ FIN-APAging has no column(s) APInvHed_Nope" in run.stderr
    assert "BaqSvc/FIN-APAging/Data" not in small_sandbox.counters()["by_route"]


def test_unknown_company_fails_with_epicors_access_message(
    small_sandbox: Any, tap_runner: Any, tmp_path: Path
) -> None:
    run = tap_runner.run_cli(tmp_path, small_sandbox.tap_config(company="NOPE"))
    assert run.returncode != 0
    assert "Access denied" in run.stderr
    assert "company" in run.stderr
