"""Issue 12 point 4: a run leaves no staging tables, staged files or temp folders behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

STAGE = "TARGET_SNOWFLAKE_FINANCE_STAGE"
PROPS: dict[str, Any] = {
    "InvoiceNum": {"type": "string"},
    "InvoiceAmt": {"type": ["number", "null"], "multipleOf": 0.01},
}
DAY = 24 * 3600


@pytest.fixture
def run_cli(target_cli, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The target CLI with its own TMPDIR, so the test sees every temp folder it leaves."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    return lambda config, stdin="": target_cli(config, stdin, env={"TMPDIR": str(tmpdir)})


def staging_tables(sandbox: Any, schema: str) -> list[str]:
    rows = sandbox.query(
        "SELECT table_name FROM SANDBOX_DB.information_schema.tables "
        "WHERE table_schema = %s AND table_name LIKE '%%TSF_STG%%' ORDER BY 1",
        (schema,),
    )
    return [r[0] for r in rows]


def staged_files(sandbox: Any, schema: str) -> list[str]:
    return [r[0] for r in sandbox.query(f'LIST @"SANDBOX_DB"."{schema}"."{STAGE}"')]


def leftover_dirs(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").glob("target-snowflake-finance-*"))


def invoices(singer: Any, numbers: range, props: dict[str, Any] = PROPS) -> list[dict[str, Any]]:
    return [
        singer.record("ap_invoices", {"InvoiceNum": str(n), "InvoiceAmt": Decimal("1.50")})
        for n in numbers
    ]


def test_nothing_is_left_after_success_with_a_schema_change_mid_run(
    config, tmp_path, run_cli, singer, snowflake_sandbox, schema_name, table_rows
) -> None:
    config["batch_size_rows"] = 2
    wider = {**PROPS, "Memo": {"type": ["string", "null"]}}
    done = run_cli(
        config,
        singer.lines(
            [
                singer.schema("ap_invoices", PROPS, ["InvoiceNum"]),
                *invoices(singer, range(1, 4)),
                singer.state({"n": 3}),
                singer.schema("ap_invoices", wider, ["InvoiceNum"]),
                *invoices(singer, range(4, 6)),
                singer.state({"n": 5}),
                singer.schema("ap_invoices", PROPS, ["InvoiceNum"]),
                *invoices(singer, range(6, 8)),
            ]
        ),
    )
    assert done.returncode == 0, done.stderr
    assert len(table_rows("AP_INVOICES", "INVOICENUM")) == 7
    assert staging_tables(snowflake_sandbox, schema_name) == []
    assert staged_files(snowflake_sandbox, schema_name) == []
    assert leftover_dirs(tmp_path) == []


def test_nothing_is_left_after_a_failed_run(
    config, tmp_path, run_cli, singer, snowflake_sandbox, schema_name
) -> None:
    config.update(max_retries=1, batch_size_rows=2)
    snowflake_sandbox.fail_next(rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"', 5, "000630")
    try:
        done = run_cli(
            config,
            singer.lines(
                [
                    singer.schema("ap_invoices", PROPS, ["InvoiceNum"]),
                    *invoices(singer, range(1, 6)),
                ]
            ),
        )
    finally:
        snowflake_sandbox.clear_faults()
    assert done.returncode == 1
    assert "could not be loaded" in done.stderr
    assert staging_tables(snowflake_sandbox, schema_name) == []
    assert staged_files(snowflake_sandbox, schema_name) == []
    assert leftover_dirs(tmp_path) == []


def test_a_later_run_removes_orphans_of_a_killed_run_once_they_are_old(
    config, tmp_path, run_cli, singer, snowflake_sandbox, schema_name
) -> None:
    assert run_cli(config).returncode == 0  # schema, stage and audit tables
    now = int(time.time())
    old_table = f"_TSF_STG_AP_INVOICES_{now - 2 * DAY}_0A1B2C3D"
    young_table = f"_TSF_STG_AP_INVOICES_{now - 600}_0A1B2C3E"
    for table in (old_table, young_table):
        snowflake_sandbox.query(f'CREATE TABLE "SANDBOX_DB"."{schema_name}"."{table}" (C0 INT)')
    data = tmp_path / "batch.parquet"
    data.write_bytes(b"PAR1")
    stage_ref = f'"SANDBOX_DB"."{schema_name}"."{STAGE}"'
    for load in ("old-load", "young-load"):
        snowflake_sandbox.query(f"PUT 'file://{data}' @{stage_ref}/{load}/b1/1/data/")
    stage_dir = snowflake_sandbox.data_dir / "stages" / "SANDBOX_DB" / schema_name / STAGE
    for path in (stage_dir / "old-load").rglob("*"):
        os.utime(path, (now - 2 * DAY, now - 2 * DAY))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    old_dir = tmp_path / "tmp" / "target-snowflake-finance-old"
    young_dir = tmp_path / "tmp" / "target-snowflake-finance-young"
    # Old too, but its run (this test's process) is alive: another run on the host must keep it.
    alive_dir = tmp_path / "tmp" / "target-snowflake-finance-alive"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    for d, pid in ((old_dir, gone), (young_dir, gone), (alive_dir, str(os.getpid()))):
        d.mkdir()
        (d / "x.parquet").write_bytes(b"PAR1")
        (d / "owner.pid").write_text(pid)
    for d in (old_dir, alive_dir):
        os.utime(d, (now - 2 * DAY, now - 2 * DAY))

    done = run_cli(config)  # no input: only the start-up checks and clean-up

    assert done.returncode == 0, done.stderr
    assert staging_tables(snowflake_sandbox, schema_name) == [young_table]
    assert staged_files(snowflake_sandbox, schema_name) == [
        f"{STAGE.lower()}/young-load/b1/1/data/batch.parquet"
    ]
    assert leftover_dirs(tmp_path) == [
        "target-snowflake-finance-alive",
        "target-snowflake-finance-young",
    ]
