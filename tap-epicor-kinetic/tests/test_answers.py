"""Epicor's answers are never trusted blindly: a total deadline, and a body checked before use.

A proxy in front of the emulator (real HTTP) trickles or replaces the answer to chosen
requests; the tap must retry them as a server fault and then fail naming the stream and the
request, never end the set early with exit 0, never write state past what it read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from finance_sandbox.testing.hostile import Forward, HostileServer, Reply, Seen

FAST = {"retry_backoff_seconds": 0.05, "max_retries": 1}


def _vendor_pages(seen: Seen) -> bool:
    return seen.method == "GET" and "/Erp.BO.VendorSvc/Vendors?" in seen.path


def _replace(body: bytes, *, after: int = 0) -> Callable[[Seen, Forward], Reply]:
    """Answer vendor pages past the first `after` with `body` (status 200, JSON)."""
    served = 0

    def respond(seen: Seen, forward: Forward) -> Reply:
        nonlocal served
        if not _vendor_pages(seen):
            return forward()
        served += 1
        if served <= after:
            return forward()
        return Reply(200, body, {"Content-Type": "application/json; odata.metadata=minimal"})

    return respond


def _config(sandbox: Any, proxy: HostileServer, **overrides: Any) -> dict[str, Any]:
    return sandbox.tap_config(base_url=f"{proxy.url}/EpicorSandbox", **{**FAST, **overrides})


def _states(stdout: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)["value"]
        for line in stdout.splitlines()
        if line.startswith("{") and json.loads(line)["type"] == "STATE"
    ]


def _records(stdout: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)["record"]
        for line in stdout.splitlines()
        if line.startswith("{") and json.loads(line)["type"] == "RECORD"
    ]


@pytest.mark.parametrize("head", [False, True], ids=["body", "status-line-and-headers"])
def test_a_trickling_answer_fails_after_request_timeout(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path, head: bool
) -> None:
    def respond(seen: Seen, forward: Forward) -> Reply:
        reply = forward()
        if _vendor_pages(seen):
            reply.trickle = 0.25  # four bytes a second: each read is quick, the answer never ends
            reply.trickle_head = head
        return reply

    with HostileServer(respond, upstream=epicor_sandbox.root) as proxy:
        config = _config(epicor_sandbox, proxy, request_timeout=1)
        catalog = tap_runner.select_only(epicor_sandbox.tap_config(), {"vendors"})
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        started = time.monotonic()
        run = tap_runner.run_cli(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))
        elapsed = time.monotonic() - started
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "Stream 'vendors'" in last
    assert "request_timeout" in last
    assert "Traceback" not in run.stderr
    # Two attempts of 1 s each, plus starting the process: nowhere near the trickle's length.
    assert elapsed < 20
    assert _states(run.stdout) == []


BAD_BODIES = {
    "empty-object": b"{}",
    "odata-error-with-200": b'{"error": {"code": "", "message": "Object reference not set."}}',
    "a-list": b"[]",
    "value-not-a-list": b'{"value": "abc"}',
    "rows-not-objects": b'{"value": [1, 2]}',
    "nested-100000-deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
@pytest.mark.parametrize("after", [0, 3])
def test_a_body_that_is_not_a_list_of_rows_fails_the_run_naming_the_request(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path, case: str, after: int
) -> None:
    with HostileServer(_replace(BAD_BODIES[case], after=after), upstream=epicor_sandbox.root) as p:
        config = _config(epicor_sandbox, p, page_size=2)
        catalog = tap_runner.select_only(epicor_sandbox.tap_config(), {"vendors"})
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        run = tap_runner.run_cli(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))
    assert run.returncode != 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert "Stream 'vendors'" in last
    assert "GET /EpicorSandbox/api/v2/odata/EPIC06/Erp.BO.VendorSvc/Vendors?" in last
    assert "still failing after 1 retries" in last
    # Whatever state was written vouches only for rows that arrived before the broken page.
    emitted = _records(run.stdout)
    assert len(emitted) < len(epicor_sandbox.truth("vendors"))
    for state in _states(run.stdout):
        for entry in state.get("bookmarks", {}).get("vendors", {}).get("partitions", []):
            key = entry["replication_key"]  # SysRevID on stock Kinetic
            assert entry["replication_key_value"] <= max(r[key] for r in emitted)


def test_expanded_children_that_are_not_rows_fail_the_run(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path
) -> None:
    def respond(seen: Seen, forward: Forward) -> Reply:
        reply = forward()
        if "/APInvoices?" in seen.path and "$expand" in seen.path:
            body = json.loads(reply.body)
            for row in body["value"]:
                row["APInvDtls"] = "not a collection"
            reply.body = json.dumps(body).encode()
        return reply

    with HostileServer(respond, upstream=epicor_sandbox.root) as proxy:
        config = _config(epicor_sandbox, proxy)
        catalog = tap_runner.select_only(
            epicor_sandbox.tap_config(), {"ap_invoices", "ap_invoice_lines"}
        )
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        run = tap_runner.run_cli(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert "APInvDtls" in last
    assert "/Erp.BO.APInvoiceSvc/APInvoices?" in last


def test_one_bad_body_is_retried_and_every_row_arrives(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    broken = 0

    def respond(seen: Seen, forward: Forward) -> Reply:
        nonlocal broken
        if _vendor_pages(seen) and "$top=2" in seen.path and not broken:
            broken += 1
            return Reply(200, b"{}", {"Content-Type": "application/json"})
        return forward()

    with HostileServer(respond, upstream=epicor_sandbox.root) as proxy:
        config = _config(epicor_sandbox, proxy, page_size=2)
        catalog = tap_runner.select_only(epicor_sandbox.tap_config(), {"vendors"})
        result = tap_runner.sync(config, catalog=catalog)
    assert broken == 1
    assert len(result.records["vendors"]) == len(epicor_sandbox.truth("vendors"))
