"""Fault matrix: Epicor faults, a Snowflake crash and SIGKILLs at five points, then a rerun.

Every case runs against a private sandbox (60 invoices, pages of 10 rows; batches of 40 where a
kill must land between commits) with the activity simulator writing to Epicor during the faulted
run, into its own schema with its own state. After the fault, the pipeline is rerun (quietly, so
the comparison is exact) and the warehouse is compared with Epicor's ground truth: counts, keys
(none missing, none extra, no duplicates), every amount exact and every other column. The audit
table and the dead-letter folder must tell what happened.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    FAULT_STREAMS,
    STATE_LOG_LINE,
    Meltano,
    Pipe,
    Sandbox,
    audit_rows,
    compare,
    curated_select,
    discovered_schemas,
    table_exists,
    wait_for,
    write_json,
)

INVOICES = 60
SELECT = curated_select(FAULT_STREAMS)
RESULTS: list[tuple[str, str, int, int, str]] = []


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.running(tmp_path_factory.mktemp("fault-sandbox"), INVOICES) as box:
        yield box
        if RESULTS:
            lines = [f"{'case':<28} {'how':<34} {'rows':>6} {'values':>7}  result"]
            lines += [f"{c:<28} {h:<34} {r:>6} {v:>7}  {res}" for c, h, r, v, res in RESULTS]
            print("\nFault matrix:\n" + "\n".join(lines))  # shown with -s / -rA


@pytest.fixture(scope="module", autouse=True)
def _catalog(meltano: Meltano) -> None:
    """The module's catalog, dumped before any fault is set (see `Meltano.catalog`)."""
    meltano.catalog(SELECT)


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    return discovered_schemas()


@pytest.fixture(autouse=True)
def _quiet_sandbox(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.stop_auto_activity()
    sandbox.clear_faults()
    sandbox.clear_snowflake_faults()


def settings(
    meltano: Meltano, case: str, *, small_batches: bool = True, **extra: str
) -> dict[str, str]:
    """The case's settings; `small_batches` (40 rows) gives a run many commits to be killed
    between. Runs that only need to finish (Epicor faults, reruns) keep the default batch size:
    each batch costs the local Snowflake seconds, and the suite has a time budget."""
    dead_letter = meltano.logs / case / "dead_letter"
    dead_letter.mkdir(parents=True, exist_ok=True)
    values = {
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": schema_of(case),
        "TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR": str(dead_letter),
        "TAP_EPICOR_KINETIC_PAGE_SIZE": "10",
        "TAP_EPICOR_KINETIC_START_DATE": "2000-01-01T00:00:00Z",
        "TAP_EPICOR_KINETIC_MAX_RETRIES": "8",
        # (retry_backoff_seconds stays at its default: Meltano 4.4 cannot pass a `kind: decimal`
        # setting from the environment, it fails to serialise the Decimal)
        "TAP_EPICOR_KINETIC__CATALOG": str(meltano.catalog(SELECT)),
    }
    if small_batches:
        values["TARGET_SNOWFLAKE_FINANCE_BATCH_SIZE_ROWS"] = "40"
    values.update(extra)
    return values


def schema_of(case: str) -> str:
    return "F_" + case.upper().replace("-", "_")


def dead_letters(meltano: Meltano, case: str) -> list[Path]:
    return sorted((meltano.logs / case / "dead_letter").glob("*.json*"))


def verify(
    sandbox: Sandbox,
    case: str,
    how: str,
    schemas: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """The warehouse equals Epicor; returns the audit rows for case-specific checks."""
    result = compare(sandbox, schema_of(case), schemas)
    RESULTS.append(
        (case, how, result.total_rows, result.values, "PASS" if not result.problems else "FAIL")
    )
    assert not result.problems, result.report()
    assert result.total_rows > INVOICES * 5  # the comparison covered every stream's rows
    audit = audit_rows(sandbox, schema_of(case))
    assert audit, "no audit rows"
    assert_nothing_left(sandbox, schema_of(case))
    return audit


def assert_nothing_left(sandbox: Sandbox, schema: str) -> None:
    """No staging table and no staged file (finance data) outlives the rerun."""
    staging = sandbox.query(
        schema,
        "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES "
        f"WHERE TABLE_SCHEMA = '{schema}' AND TABLE_NAME LIKE '_TSF_STG_%'",
    )
    assert staging == [], staging
    files = sandbox.query(schema, "LIST @TARGET_SNOWFLAKE_FINANCE_STAGE")
    assert files == [], files


def rerun(meltano: Meltano, case: str, *, force: bool = False, **extra: str) -> None:
    """Run again; after a killed run, `--force` (Meltano still sees the dead run as running).

    The rerun removes what the faulted run left at once (orphan_cleanup_hours 0).
    """
    extra.setdefault("TARGET_SNOWFLAKE_FINANCE_ORPHAN_CLEANUP_HOURS", "0")
    values = settings(meltano, case, small_batches=False, **extra)
    done = meltano.run(case, f"{case}-rerun.log", values, force=force)
    assert done.returncode == 0, done.stderr[-3000:]


# 1. Epicor faults, retried inside one `meltano run`


def _spikes(sandbox: Sandbox, stop: threading.Event) -> None:
    """Latency spikes: 1.5 s per request (over the 1 s request timeout), then calm; three turns."""
    for _ in range(3):
        if stop.is_set():
            return
        sandbox.faults(latency_ms=1500)
        stop.wait(0.8)
        sandbox.faults(latency_ms=0)
        stop.wait(1.5)


def _expire_tokens(sandbox: Sandbox, stop: threading.Event) -> None:
    while not stop.wait(0.7):
        sandbox.control("POST", "tokens/expire")


EPICOR_CASES: dict[str, dict[str, Any]] = {
    "latency-spikes": {
        "how": "1.5 s spikes, request_timeout 1 s",
        "settings": {"TAP_EPICOR_KINETIC_REQUEST_TIMEOUT": "1"},
        "background": _spikes,
    },
    "5xx-bursts": {
        "how": "next 3 → 500, then 5% → 503",
        "faults": {"error_next": 3, "error_rate": 0.05},
        "seen": lambda sb: sb.answered_any("500") >= 3 and sb.answered_any("503") >= 1,
    },
    "429-storm": {
        "how": "next 6 → 429 Retry-After 1",
        "faults": {"rate_limit_next": 6, "retry_after": 1},
        "seen": lambda sb: sb.answered_any("429") >= 6,
    },
    "token-expiry": {
        "how": "Token Resource, every token expired ~0.7 s",
        "settings": {"TAP_EPICOR_KINETIC_AUTH_METHOD": "token"},
        "background": _expire_tokens,
        "seen": lambda sb: (
            sum(int(v) for v in sb.counters()["by_route"].get("TokenResource.svc", {}).values())
            >= 2
        ),
    },
    "license-exhaustion": {
        "how": "next 3 → 400 LicenseAccessException",
        "faults": {"license_exhausted_next": 3},
        "seen": lambda sb: sb.answered_any("400") >= 3,
    },
}


@pytest.mark.parametrize("case", list(EPICOR_CASES))
def test_epicor_fault_is_retried_and_nothing_is_lost(
    case: str, sandbox: Sandbox, meltano: Meltano, schemas: dict[str, dict[str, Any]]
) -> None:
    spec = EPICOR_CASES[case]
    sandbox.reset_counters()
    sandbox.auto_activity(every_requests=5)
    if "faults" in spec:
        sandbox.faults(**spec["faults"])
    stop = threading.Event()
    worker = None
    if "background" in spec:
        worker = threading.Thread(target=spec["background"], args=(sandbox, stop), daemon=True)
        worker.start()
    try:
        values = settings(meltano, case, small_batches=False, **spec.get("settings", {}))
        done = meltano.run(case, f"{case}.log", values)
    finally:
        stop.set()
        if worker is not None:
            worker.join(10)
    sandbox.stop_auto_activity()
    sandbox.clear_faults()
    assert done.returncode == 0, done.stderr[-3000:]
    seen: Callable[[Sandbox], bool] | None = spec.get("seen")
    if seen is not None:
        assert seen(sandbox), sandbox.counters()
    rerun(meltano, case, **spec.get("settings", {}))
    audit = verify(sandbox, case, spec["how"], schemas)
    assert {a["STATUS"] for a in audit} == {"committed"}
    assert not dead_letters(meltano, case)


# 2. The local Snowflake dies during a batch and comes back on the same port and data


def test_snowflake_killed_during_a_batch_and_started_again(
    sandbox: Sandbox, meltano: Meltano, schemas: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    case = "snowflake-down"
    sandbox.auto_activity(every_requests=5)
    sandbox.hold_statement(r'^MERGE INTO .*"AP_INVOICES" ')
    run = meltano.start(case, f"{case}.log", settings(meltano, case, small_batches=False))
    try:
        wait_for(lambda: sandbox.held() >= 1, "the ap_invoices MERGE to be in flight")
        sandbox.kill_snowflake()
        wait_for(lambda: "Connection refused" in run.log(), "the target to find Snowflake gone")
        sandbox.start_snowflake_again()
        code = run.wait(timeout=300)
    finally:
        if run.proc.poll() is None:
            run.kill()
        sandbox.stop_auto_activity()
    # Snowflake came back while the target was retrying: the batch loads on a fresh session in
    # the same run (the restarted server no longer knows the old session: HTTP 401).
    assert code == 0, run.log()[-4000:]
    assert not dead_letters(meltano, case), "a batch that finally loaded is not dead-lettered"
    rerun(meltano, case)
    audit = verify(sandbox, case, "SIGKILL Snowflake in MERGE, restart", schemas)
    retried = [a for a in audit if a["STREAM"] == "ap_invoices" and a["ATTEMPTS"] > 1]
    assert retried, "the audit table shows the batch that needed another attempt"
    assert {a["STATUS"] for a in audit} == {"committed"}


# 3. SIGKILL at five points


def test_sigkill_meltano_during_extraction(
    sandbox: Sandbox, meltano: Meltano, schemas: dict[str, dict[str, Any]]
) -> None:
    case = "kill-extracting"
    sandbox.reset_counters()
    sandbox.auto_activity(every_requests=5)
    sandbox.faults(latency_ms=40)
    run = meltano.start(case, f"{case}.log", settings(meltano, case))
    try:
        wait_for(
            lambda: sandbox.answered("Erp.BO.APInvoiceSvc/APInvoices", "200") >= 3,
            "the tap to be paging through AP invoices",
        )
    finally:
        run.kill()
    sandbox.stop_auto_activity()
    sandbox.clear_faults()
    sandbox.abort_idle_transactions()
    rerun(meltano, case, force=True)
    verify(sandbox, case, "killpg meltano mid-extraction", schemas)


def test_sigkill_meltano_during_merge(
    sandbox: Sandbox, meltano: Meltano, schemas: dict[str, dict[str, Any]]
) -> None:
    case = "kill-merge"
    sandbox.auto_activity(every_requests=5)
    sandbox.hold_statement(r'^MERGE INTO .*"AP_INVOICE_LINES" ')
    run = meltano.start(case, f"{case}.log", settings(meltano, case))
    try:
        wait_for(lambda: sandbox.held() >= 1, "the ap_invoice_lines MERGE to be in flight")
    finally:
        run.kill()
    sandbox.stop_auto_activity()
    sandbox.clear_snowflake_faults()
    sandbox.abort_idle_transactions()
    audit_before = audit_rows(sandbox, schema_of(case))
    assert not any(a["STREAM"] == "ap_invoice_lines" for a in audit_before)  # nothing half-done
    rerun(meltano, case, force=True)
    verify(sandbox, case, "killpg meltano in COPY/MERGE txn", schemas)


def test_sigkill_meltano_while_state_is_written(
    sandbox: Sandbox, meltano: Meltano, schemas: dict[str, dict[str, Any]]
) -> None:
    case = "kill-state-write"
    sandbox.auto_activity(every_requests=5)
    run = meltano.start(case, f"{case}.log", settings(meltano, case))
    try:
        wait_for(lambda: run.log().count(STATE_LOG_LINE) >= 2, "Meltano to write state")
    finally:
        run.kill()
    sandbox.stop_auto_activity()
    sandbox.abort_idle_transactions()
    assert meltano.state(case), "the killed run had written some state"
    rerun(meltano, case, force=True)
    verify(sandbox, case, "killpg meltano as it writes state", schemas)


def _pipe_case(
    sandbox: Sandbox, tmp_path: Path, case: str
) -> tuple[Path, Path, Path, dict[str, Any]]:
    tap = write_json(
        tmp_path / "tap.json",
        sandbox.tap_config(page_size=10, max_retries=8, retry_backoff_seconds=0.2),
    )
    config = sandbox.target_config(
        schema_of(case), batch_size_rows=40, dead_letter_dir=str(tmp_path / "dead_letter")
    )
    target = write_json(tmp_path / "target.json", config)
    return tap, target, tmp_path / "state.json", config


def test_sigkill_target_while_a_batch_is_staged(
    sandbox: Sandbox, schemas: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    case = "kill-staged"
    tap, target, state, _ = _pipe_case(sandbox, tmp_path, case)
    sandbox.auto_activity(every_requests=5)
    # After PUT, before COPY: hold the emptying of the staging table the batch is copied into.
    sandbox.hold_statement(r"^TRUNCATE TABLE .*_TSF_STG_AP_INVOICES_")
    pipe = Pipe(tap, target, state, tmp_path, "run-1")
    try:
        wait_for(lambda: sandbox.held() >= 1, "an ap_invoices batch to be staged")
        stage = sandbox.directory / "snowflake" / "stages" / "FINANCE" / schema_of(case)
        assert any(p.is_file() for p in stage.rglob("*")), "the batch file is on the stage"
    finally:
        pipe.kill()
    pipe.save_state(state)
    sandbox.stop_auto_activity()
    sandbox.clear_snowflake_faults()
    sandbox.abort_idle_transactions()
    _rerun_pipe(tap, target, state, tmp_path)
    audit = verify(sandbox, case, "SIGKILL target, batch staged", schemas)
    assert {a["STATUS"] for a in audit} == {"committed"}


def test_sigkill_target_between_commit_and_state(
    sandbox: Sandbox, schemas: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    case = "kill-commit-state"
    tap, target, state, _ = _pipe_case(sandbox, tmp_path, case)
    sandbox.auto_activity(every_requests=5)
    # The first batch's COMMIT takes effect but its answer is held: the target sits between
    # the commit and the STATE that covers it. Streams load in parallel, so every later COMMIT
    # is held before it runs: exactly one batch is committed when the target is killed.
    sandbox.hold_statement(r"^COMMIT", after=True)
    sandbox.hold_statement(r"^COMMIT", times=1000)
    pipe = Pipe(tap, target, state, tmp_path, "run-1")
    try:
        committed = wait_for(
            lambda: (
                table_exists(sandbox, schema_of(case), "_SDC_LOAD_AUDIT")
                and audit_rows(sandbox, schema_of(case))
            ),
            "a batch to be committed",
        )
        assert [a["STATUS"] for a in committed] == ["committed"]
        states_at_kill = len(pipe.states)
    finally:
        pipe.kill()
    assert states_at_kill == 0, "the committed batch's state was not emitted yet"
    pipe.save_state(state)
    sandbox.stop_auto_activity()
    sandbox.clear_snowflake_faults()
    sandbox.abort_idle_transactions()  # the other streams' batches, held before their COMMIT
    _rerun_pipe(tap, target, state, tmp_path)
    verify(sandbox, case, "SIGKILL target after COMMIT", schemas)


def _rerun_pipe(tap: Path, target: Path, state: Path, tmp_path: Path) -> None:
    config = json.loads(target.read_text())
    write_json(target, {**config, "orphan_cleanup_hours": 0})  # the killed run's leftovers go
    pipe = Pipe(tap, target, state, tmp_path, "rerun")
    codes = pipe.finish()
    assert codes == (0, 0), pipe.log()[-3000:]
    pipe.save_state(state)
