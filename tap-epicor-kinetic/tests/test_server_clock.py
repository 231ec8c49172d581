"""A wrong server_timezone never loses a row: SysRevID paging ignores zones, dates are checked."""

from __future__ import annotations

import json
from typing import Any

import pytest


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Chicago", "Asia/Kolkata"])
def test_server_timezone_left_at_default_loses_no_row(
    epicor_sandbox_factory: Any, tap_runner: Any, tmp_path: Any, zone: str
) -> None:
    sandbox = epicor_sandbox_factory(invoices=60, timezone=zone, updated_on=True)
    config = sandbox.tap_config(page_size=20)
    del config["server_timezone"]  # the default, UTC: wrong for this server

    result = tap_runner.sync(config)
    for stream in tap_runner.streams:
        got = tap_runner.row_keys(stream, result.records[stream])
        assert set(got) == set(tap_runner.row_keys(stream, sandbox.truth(stream), odata=True)), (
            stream
        )

    # A date-time replication key depends on the zone: the run fails naming server_timezone
    # before that stream emits a record or a bookmark, never with a sort error or a gap.
    dated = {**config, "replication_keys": {"gl_accounts": "UpdatedOn"}}
    run = tap_runner.run_cli(tmp_path, dated)
    assert run.returncode == 1
    assert "server_timezone: UTC does not match the Epicor server's time zone" in run.stderr
    assert "InvalidStreamSortException" not in run.stderr
    assert "Traceback" not in run.stderr
    messages = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert not [m for m in messages if m.get("stream") == "gl_accounts" and m["type"] == "RECORD"]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert all("gl_accounts" not in s.get("bookmarks", {}) for s in states)

    # With the right zone the same key works.
    right = tap_runner.sync({**dated, "server_timezone": zone})
    assert len(result.records["gl_accounts"]) == len(right.records["gl_accounts"])
