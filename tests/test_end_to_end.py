"""`meltano run` of both plugins against the sandbox, checked row by row against Epicor.

Every table is compared with the emulator's ground truth (`/_sandbox/truth/{stream}`): row counts,
primary keys (no duplicates), every amount exact as a Decimal, and every other column; then Epicor
changes through the activity simulator, an incremental run moves only the changes, and the
comparison runs again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from e2e_helpers import Comparison, compare_rows, discovered_schemas
from finance_sandbox.demo import (
    STREAM_KEYS,
    audit_batches,
    audited_rows,
    load_ids,
    moved_rows,
    snowflake_connect,
    source_vendor_totals,
    truth_rows,
    warehouse_rows,
    warehouse_vendor_totals,
)
from finance_sandbox.services import read_env_file

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INVOICES = 100


@dataclass
class Pipeline:
    """A private sandbox and Meltano system directory, and how to run the pipeline against them."""

    env: dict[str, str]  # the sandbox settings (TAP_*/TARGET_* and EPICOR_SANDBOX_URL)
    env_file: Path
    process_env: dict[str, str]
    logs: Path
    timezone: ZoneInfo

    def meltano(self, *args: str, log: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "meltano"), "--env-file", str(self.env_file), *args],
            cwd=ROOT,
            env=self.process_env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        (self.logs / log).write_text(result.stdout + result.stderr)
        return result

    def run(self, log: str) -> None:
        result = self.meltano("run", "tap-epicor-kinetic", "target-snowflake-finance", log=log)
        assert result.returncode == 0, (
            f"meltano run failed (log {self.logs / log}):\n{result.stderr[-4000:]}"
        )

    @property
    def sandbox_url(self) -> str:
        return self.env["EPICOR_SANDBOX_URL"]

    @property
    def company(self) -> str:
        return self.env["TAP_EPICOR_KINETIC_COMPANY"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    work = tmp_path_factory.mktemp("e2e")
    sandbox_dir = work / "sandbox"
    env_file = work / "sandbox.env"
    cli = [sys.executable, "-m", "finance_sandbox.cli"]
    up = subprocess.run(
        [*cli, "up", "--dir", str(sandbox_dir), "--env-file", str(env_file),
         "--epicor-port", "0", "--snowflake-port", "0", "--invoices", str(INVOICES)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        env = read_env_file(env_file)
        env["TARGET_SNOWFLAKE_FINANCE_SCHEMA"] = "E2E"
        # Runs here are seconds apart, closer than any late-commit lookback, which would make
        # each run read from the beginning (test_rounds_of_activity covers the lookback).
        env["TAP_EPICOR_KINETIC_LATE_COMMIT_LOOKBACK_MINUTES"] = "0"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        process_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))
        }
        # A private .meltano (plugin venvs, state database): the test never touches the user's.
        process_env["MELTANO_SYS_DIR_ROOT"] = str(work / "meltano")
        health = requests.get(f"{env['EPICOR_SANDBOX_URL']}/_sandbox/health", timeout=10).json()
        logs = work / "logs"
        logs.mkdir()
        pipe = Pipeline(env, env_file, process_env, logs, ZoneInfo(health["timezone"]))
        installed = pipe.meltano("install", log="install.log")
        assert installed.returncode == 0, installed.stderr[-4000:]
        yield pipe
    finally:
        subprocess.run([*cli, "down", "--dir", str(sandbox_dir)], check=False, timeout=120)


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    """Each stream's JSON schema as the tap discovers it (no network needed)."""
    return discovered_schemas()


def compare_stream(pipe: Pipeline, conn: Any, stream: str, schema: dict[str, Any]) -> list[str]:
    """Every difference between Epicor and Snowflake for one stream, as readable lines."""
    result = Comparison()
    source = truth_rows(pipe.sandbox_url, stream, pipe.company)
    loaded = warehouse_rows(conn, stream)
    compare_rows(stream, source, loaded, schema, pipe.timezone, result, require_columns=True)
    return result.problems


def compare_all(pipe: Pipeline, schemas: Mapping[str, dict[str, Any]]) -> list[str]:
    conn = snowflake_connect(pipe.env)
    try:
        problems = []
        for stream in STREAM_KEYS:
            problems += compare_stream(pipe, conn, stream, schemas[stream])
        return problems
    finally:
        conn.close()


def report(problems: list[str]) -> str:
    return f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:25])


def test_full_then_incremental_run_matches_epicor_row_for_row(
    pipeline: Pipeline, schemas: dict[str, dict[str, Any]]
) -> None:
    pipeline.run("run-1.log")
    problems = compare_all(pipeline, schemas)
    assert not problems, report(problems)

    conn = snowflake_connect(pipeline.env)
    try:
        before = load_ids(conn)
        batches_before = {str(b["BATCH_ID"]) for b in audit_batches(conn)}
        # The finance view agrees too: invoices = lines = allocations, open AP after payments.
        warehouse = warehouse_vendor_totals(conn)
        assert warehouse == source_vendor_totals(pipeline.sandbox_url, pipeline.company)
        assert all(v.consistent for v in warehouse.values())
    finally:
        conn.close()
    url, company = pipeline.sandbox_url, pipeline.company
    total_rows = {s: len(truth_rows(url, s, company)) for s in STREAM_KEYS}

    activity = requests.post(
        f"{pipeline.sandbox_url}/_sandbox/activity",
        json={"new_invoices": 3, "changed_invoices": 3, "new_pos": 2, "changed_pos": 2,
              "new_payments": 2, "company": pipeline.company},
        timeout=60,
    )  # fmt: skip
    assert activity.status_code == 200, activity.text

    pipeline.run("run-2.log")
    problems = compare_all(pipeline, schemas)
    assert not problems, report(problems)

    conn = snowflake_connect(pipeline.env)
    try:
        moved = moved_rows(conn, before)
        audited = audited_rows(audit_batches(conn), batches_before)
    finally:
        conn.close()
    # The audit table accounts for exactly the rows that carry run 2's load ids.
    assert {s: audited.get(s, 0) for s in STREAM_KEYS} == moved
    # Only the changes (and invoices still in entry) moved, not the whole table.
    assert 3 <= moved["ap_invoices"] < total_rows["ap_invoices"] // 2, moved
    assert moved["ap_invoice_lines"] >= 3, moved
    assert moved["ap_payments"] >= 1, moved
    assert moved["vendors"] < total_rows["vendors"], moved


def test_run_without_changes_moves_nothing_and_still_matches(
    pipeline: Pipeline, schemas: dict[str, dict[str, Any]]
) -> None:
    pipeline.run("run-3.log")  # brings the warehouse up to date, whatever ran before
    conn = snowflake_connect(pipeline.env)
    try:
        before = load_ids(conn)
    finally:
        conn.close()
    pipeline.run("run-4.log")
    conn = snowflake_connect(pipeline.env)
    try:
        moved = moved_rows(conn, before)
    finally:
        conn.close()
    # Only invoices still in entry are read again (their lines can change without the header).
    unposted = [
        r
        for r in truth_rows(pipeline.sandbox_url, "ap_invoices", pipeline.company)
        if not r["POSTED"]
    ]
    assert moved["ap_invoices"] <= len(unposted), moved
    problems = compare_all(pipeline, schemas)
    assert not problems, report(problems)


def test_oauth2_client_credentials_full_refresh_matches(
    pipeline: Pipeline, schemas: dict[str, dict[str, Any]]
) -> None:
    """The sandbox env file's OAuth2 values work through Meltano, into a schema of its own."""
    env = {
        **pipeline.env,
        "TAP_EPICOR_KINETIC_AUTH_METHOD": "oauth2",
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": "E2E_OAUTH2",
    }
    env_file = pipeline.env_file.with_name("oauth2.env")
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    oauth = Pipeline(env, env_file, pipeline.process_env, pipeline.logs, pipeline.timezone)
    result = oauth.meltano(
        "run", "--full-refresh", "--state-id-suffix", "oauth2",
        "tap-epicor-kinetic", "target-snowflake-finance", log="run-oauth2.log",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    counters = requests.get(f"{oauth.sandbox_url}/_sandbox/counters", timeout=10).json()
    assert counters["by_route"].get("connect/token", {}).get("200", 0) >= 1
    problems = compare_all(oauth, schemas)
    assert not problems, report(problems)
