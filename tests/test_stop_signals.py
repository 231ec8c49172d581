"""SIGTERM through `meltano run` with a MERGE held in flight: bounded stop, non-zero, no loss.

The signal goes to the target alone, the tap alone, or the whole process group (what systemd and
Kubernetes send). The run must stop within the documented 30 s with a non-zero exit, leave no
process behind, commit nothing of the batch in flight, and a rerun must match Epicor exactly.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    FAULT_STREAMS,
    Meltano,
    Sandbox,
    audit_rows,
    compare,
    curated_select,
    discovered_schemas,
    wait_for,
)

INVOICES = 30
STOP_BOUND_S = 30.0
SELECT = curated_select(FAULT_STREAMS)


def _settings(meltano: Meltano, case: str) -> dict[str, str]:
    dead_letter = meltano.logs / case / "dead_letter"
    dead_letter.mkdir(parents=True, exist_ok=True)
    return {
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": _schema(case),
        "TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR": str(dead_letter),
        "TARGET_SNOWFLAKE_FINANCE_BATCH_SIZE_ROWS": "40",
        "TAP_EPICOR_KINETIC_PAGE_SIZE": "10",
        "TAP_EPICOR_KINETIC_START_DATE": "2000-01-01T00:00:00Z",
        "TAP_EPICOR_KINETIC__CATALOG": str(meltano.catalog(SELECT)),
    }


def _schema(case: str) -> str:
    return "S_" + case.upper().replace("-", "_")


def _group_members(pgid: int) -> list[tuple[int, str]]:
    """Live processes of a process group, with their command lines."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (entry / "status").read_text()
        except (OSError, ProcessLookupError):
            continue
        if "State:\tZ" not in status:
            members.append((int(entry.name), cmdline))
    return members


def _plugin_processes(pgid: int, plugin: str, option: str = "") -> list[int]:
    """The plugin's own processes: its console script runs it (`python …/bin/<plugin> …`).

    Meltano's command line names the plugins too (`meltano run tap-… target-…`): only the
    script path tells the plugin from Meltano itself.
    """
    return [
        pid
        for pid, cmd in _group_members(pgid)
        if any(token.endswith(f"/bin/{plugin}") for token in cmd.split(" ")[:2])
        and (not option or option in cmd.split(" "))
    ]


def _sigterm_and_wait(run: Any, pids: list[int]) -> tuple[int, float]:
    """SIGTERM each pid (negative: a process group); Meltano's exit code and seconds to stop."""
    started = time.monotonic()
    for pid in pids:
        if pid < 0:
            os.killpg(-pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    code = run.wait(timeout=120)
    wait_for(lambda: not _group_members(run.proc.pid), "every process to exit", 60)
    return code, time.monotonic() - started


def _assert_rerun_matches_epicor(sandbox: Sandbox, meltano: Meltano, case: str) -> None:
    # The rerun only has to finish: the default batch size (one batch per stream) is quicker.
    settings = _settings(meltano, case)
    del settings["TARGET_SNOWFLAKE_FINANCE_BATCH_SIZE_ROWS"]
    done = meltano.run(case, f"{case}-rerun.log", settings, force=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = compare(sandbox, _schema(case), _schemas())
    assert not result.problems, result.report()


@pytest.mark.parametrize("to", ["process-group", "target"])
def test_sigterm_with_a_merge_in_flight_stops_meltano_run_in_bounded_time(
    sandbox: Sandbox, meltano: Meltano, to: str
) -> None:
    case = f"sigterm-{to}"
    sandbox.hold_statement(r'^MERGE INTO .*"AP_INVOICE_LINES" ')
    run = meltano.start(case, f"{case}.log", _settings(meltano, case))
    try:
        wait_for(lambda: sandbox.held() >= 1, "the ap_invoice_lines MERGE to be in flight")
        if to == "process-group":
            pids = [-run.proc.pid]
        else:
            pids = _plugin_processes(run.proc.pid, "target-snowflake-finance")
            assert pids, _group_members(run.proc.pid)
        code, elapsed = _sigterm_and_wait(run, pids)
    finally:
        if run.proc.poll() is None:
            run.kill()
        sandbox.clear_snowflake_faults()
    log = run.log()
    print(f"SIGTERM to the {to}: meltano exit {code} after {elapsed:.1f}s")
    assert code != 0, log[-3000:]
    assert elapsed <= STOP_BOUND_S, log[-3000:]
    assert "Received SIGTERM" in log
    # The batch in flight rolled back: nothing of ap_invoice_lines committed.
    assert not any(a["STREAM"] == "ap_invoice_lines" for a in audit_rows(sandbox, _schema(case)))
    # A rerun from the saved state matches Epicor exactly (no gap, no duplicate).
    _assert_rerun_matches_epicor(sandbox, meltano, case)


_SCHEMAS: dict[str, Any] = {}


def _schemas() -> dict[str, Any]:
    if not _SCHEMAS:
        _SCHEMAS.update(discovered_schemas())
    return _SCHEMAS


def test_sigterm_to_the_tap_fails_meltano_run_and_loses_nothing(
    sandbox: Sandbox, meltano: Meltano
) -> None:
    """The tap stops non-zero after its last complete state; Meltano reports the run failed."""
    case = "sigterm-tap"
    sandbox.faults(latency_ms=300)  # keep the tap mid-extraction when the signal comes
    run = meltano.start(case, f"{case}.log", _settings(meltano, case))
    try:
        # The extraction itself (Meltano runs the tap once before with --discover).
        taps = wait_for(
            lambda: _plugin_processes(run.proc.pid, "tap-epicor-kinetic", "--catalog"),
            "the tap to start extracting",
        )
        time.sleep(3)  # a few pages in
        code, elapsed = _sigterm_and_wait(run, taps)
    finally:
        if run.proc.poll() is None:
            run.kill()
        sandbox.faults(latency_ms=0)
    log = run.log()
    print(f"SIGTERM to the tap: meltano exit {code} after {elapsed:.1f}s")
    assert code != 0, log[-3000:]
    assert elapsed <= STOP_BOUND_S, log[-3000:]
    # Whatever state the target saved covers only committed rows: a rerun matches Epicor.
    _assert_rerun_matches_epicor(sandbox, meltano, case)
