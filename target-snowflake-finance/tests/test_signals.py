"""SIGTERM / SIGINT with a MERGE in flight: bounded exit, rollback, no state past the commit."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PROPS = {"Id": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}
# The documented bound (README "What happens when… the target is stopped").
STOP_BOUND_S = 30.0


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    return line.decode()


def _wait_for(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize(
    ("signum", "where"),
    [
        (signal.SIGTERM, "main thread"),
        (signal.SIGINT, "main thread"),
        (signal.SIGTERM, "drain thread"),
    ],
    ids=["sigterm-full-batch", "sigint-full-batch", "sigterm-state-drain"],
)
def test_a_signal_during_a_merge_rolls_back_and_exits_in_bounded_time(
    signum: int,
    where: str,
    config: dict[str, Any],
    singer: Any,
    snowflake_sandbox: Any,
    schema_name: str,
    table_rows: Any,
    tmp_path: Path,
) -> None:
    config["batch_size_rows"] = 2
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    log = (tmp_path / "target.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdin is not None
    try:
        first = [
            singer.schema("pay_a", PROPS, ["Id"]),
            singer.schema("pay_b", PROPS, ["Id"]),
            singer.record("pay_a", {"Id": 1, "Amount": 1}),
            singer.record("pay_a", {"Id": 2, "Amount": 2}),
            singer.state({"bookmarks": {"pay_a": {"Id": 2}}}),
        ]
        proc.stdin.write(singer.lines(first).encode())
        proc.stdin.flush()
        assert json.loads(_read_line(proc, 60)) == {"bookmarks": {"pay_a": {"Id": 2}}}

        # The next MERGE into PAY_B is held by the local Snowflake (as a slow statement).
        snowflake_sandbox.fail_next(r'^MERGE INTO .*"PAY_B" ', code="000630", delay_s=120)
        if where == "main thread":  # a full batch drains on the thread reading input
            more = [singer.record("pay_b", {"Id": n, "Amount": n}) for n in (3, 4)]
        else:  # a STATE after a committed batch drains every sink on worker threads
            more = [
                singer.record("pay_a", {"Id": 5, "Amount": 5}),
                singer.record("pay_a", {"Id": 6, "Amount": 6}),
                singer.record("pay_b", {"Id": 7, "Amount": 7}),
                singer.state({"bookmarks": {"pay_a": {"Id": 6}, "pay_b": {"Id": 7}}}),
            ]
        proc.stdin.write(singer.lines(more).encode())
        proc.stdin.flush()  # stdin stays open: the tap is still sending
        _wait_for(
            lambda: any(f["taken"] for f in snowflake_sandbox.faults()), "the MERGE in flight"
        )
        started = time.monotonic()
        proc.send_signal(signum)
        code = proc.wait(timeout=60)
        elapsed = time.monotonic() - started
        rest = proc.stdout.read().decode() if proc.stdout is not None else ""
        held = snowflake_sandbox.faults()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        snowflake_sandbox.clear_faults()
        log.close()
    output = (tmp_path / "target.log").read_text()
    print(f"{signal.Signals(signum).name} in the {where}: exit {code} after {elapsed:.1f}s")
    assert code == 128 + signum, output[-3000:]
    assert elapsed <= STOP_BOUND_S, f"stopped after {elapsed:.1f}s"
    assert not rest.strip(), f"state written after the signal: {rest}"
    name = signal.Signals(signum).name
    assert f"Received {name}" in output
    assert "Traceback" not in output, output[-3000:]
    assert "PRIVATE KEY" not in output
    assert config["private_key_passphrase"] not in output
    # Only the committed batch is in the warehouse; the held one rolled back, not dead-lettered.
    assert table_rows("PAY_B", "Id") == []
    audit = table_rows("_SDC_LOAD_AUDIT", "STREAM, STATUS", "STREAM")
    assert audit
    assert set(audit) == {("pay_a", "committed")}
    assert not list(Path(config["dead_letter_dir"]).iterdir())
    # The statement in flight was cancelled on the server and no transaction was left open.
    assert [(f["taken"], f["cancelled"]) for f in held] == [(1, 1)]
    assert snowflake_sandbox.abort_idle_transactions() == 0
