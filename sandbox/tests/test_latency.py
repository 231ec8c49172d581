"""The latency model: each answer takes at least what it is charged, sessions still overlap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from finance_sandbox import latency
from finance_sandbox.testing.epicor import EpicorSandbox
from finance_sandbox.testing.snowflake import SnowflakeSandbox

# Distinct figures per kind (ms), so a statement charged as the wrong kind shows.
SNOWFLAKE_MODEL = {
    "login": {"fixed_ms": 400},
    "metadata": {"fixed_ms": 150},
    "select": {"fixed_ms": 250, "per_1000_rows_ms": 100},
    "put": {"fixed_ms": 100},
    "upload": {"fixed_ms": 50, "per_mb_ms": 200},
    "copy": {"fixed_ms": 200, "per_1000_rows_ms": 150},
    "dml": {"fixed_ms": 120, "per_1000_rows_ms": 250},
    "commit": {"fixed_ms": 300},
}
ROWS = 2000


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run_together(threads: list[threading.Thread]) -> float:
    """Wall time of running `threads` at once."""
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def charged(kind: str, rows: int = 0, mb: float = 0.0) -> float:
    spec = {"fixed_ms": 0, "per_1000_rows_ms": 0, "per_mb_ms": 0, **SNOWFLAKE_MODEL[kind]}
    return (
        spec["fixed_ms"] + spec["per_1000_rows_ms"] * rows / 1000 + spec["per_mb_ms"] * mb
    ) / 1000


@pytest.fixture(scope="module")
def slow_snowflake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnowflakeSandbox]:
    model = tmp_path_factory.mktemp("latency") / "model.json"
    model.write_text(json.dumps({"snowflake": SNOWFLAKE_MODEL}))
    sandbox = SnowflakeSandbox(latency=model)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_each_snowflake_statement_kind_takes_at_least_its_charge(
    slow_snowflake: SnowflakeSandbox, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.parquet"
    pq.write_table(pa.table({"ID": pa.array(range(ROWS), pa.int64())}), batch)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(2_000_000))
    schema = slow_snowflake.unique_schema()
    conn: Any = None

    def login() -> None:
        nonlocal conn
        conn = slow_snowflake.connect(schema=schema)

    assert timed(login) >= charged("login")
    with conn:
        cur = conn.cursor()
        cur.execute('CREATE TABLE "T" ("ID" NUMBER(38,0))')
        cur.execute('CREATE TABLE "S" ("ID" NUMBER(38,0))')
        cur.execute('CREATE STAGE "ST"')
        assert timed(lambda: cur.execute("SHOW TABLES")) >= charged("metadata")
        put_blob = f"PUT 'file://{blob}' @\"ST\"/blob/ AUTO_COMPRESS=FALSE"
        assert timed(lambda: cur.execute(put_blob)) >= charged("put") + charged("upload", mb=2.0)
        cur.execute(f"PUT 'file://{batch}' @\"ST\"/b1/ AUTO_COMPRESS=FALSE")
        cur.execute("BEGIN")
        copy = (
            'COPY INTO "S" FROM @"ST"/b1/ FILE_FORMAT=(TYPE=PARQUET) '
            "MATCH_BY_COLUMN_NAME=CASE_SENSITIVE"
        )
        assert timed(lambda: cur.execute(copy)) >= charged("copy", rows=ROWS)
        merge = (
            'MERGE INTO "T" t USING "S" s ON t."ID" = s."ID" '
            'WHEN NOT MATCHED THEN INSERT ("ID") VALUES (s."ID")'
        )
        assert timed(lambda: cur.execute(merge)) >= charged("dml", rows=ROWS)
        assert timed(lambda: cur.execute("COMMIT")) >= charged("commit")
        assert timed(lambda: cur.execute('SELECT "ID" FROM "T"').fetchall()) >= charged(
            "select", rows=ROWS
        )
        assert cur.execute('SELECT COUNT(*) FROM "T"').fetchone() == (ROWS,)
    ledger = requests.get(f"http://127.0.0.1:{slow_snowflake.port}/_sandbox/latency", timeout=10)
    by_kind = ledger.json()["by_kind"]
    assert by_kind["copy"]["rows"] == ROWS
    assert by_kind["upload"]["bytes"] >= 2_000_000


def test_two_snowflake_sessions_wait_at_the_same_time(slow_snowflake: SnowflakeSandbox) -> None:
    statements = 4
    ledger = f"http://127.0.0.1:{slow_snowflake.port}/_sandbox/latency"
    connections = [slow_snowflake.connect() for _ in range(2)]
    requests.delete(ledger, timeout=10).raise_for_status()

    def run(conn: Any) -> None:
        for _ in range(statements):
            conn.cursor().execute("SELECT 1").fetchall()

    threads = [threading.Thread(target=run, args=(c,)) for c in connections]
    try:
        wall = run_together(threads)
    finally:
        for conn in connections:
            conn.close()
    one_after_the_other = 2 * statements * charged("select", rows=1)
    assert wall >= statements * charged("select", rows=1)
    assert wall < 0.8 * one_after_the_other
    # The ledger tells the connections apart: each waited its own statements' charges.
    by_session = requests.get(ledger, timeout=10).json()["by_session"]
    assert len(by_session) == 2
    assert all(v >= statements * charged("select", rows=1) * 0.99 for v in by_session.values())


def test_without_a_model_snowflake_statements_are_not_held(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    cur = snowflake_sandbox.connect().cursor()
    statements = 10
    wall = timed(lambda: [cur.execute("SELECT 1").fetchall() for _ in range(statements)])
    cur.connection.close()
    # The default model charges 200 ms for each of them.
    assert wall < statements * latency.SNOWFLAKE_DEFAULTS["select"].fixed_ms / 1000


EXPAND = {
    "$top": "10",
    "$select": "InvoiceNum",
    "$expand": "APInvDtls($select=InvoiceLine)",
}


def _page(sandbox: EpicorSandbox) -> tuple[float, int]:
    http = sandbox.session()
    start = time.perf_counter()
    resp = http.get(sandbox.odata_url("Erp.BO.APInvoiceSvc", "APInvoices"), params=EXPAND)
    elapsed = time.perf_counter() - start
    resp.raise_for_status()
    page = resp.json()["value"]
    return elapsed, len(page) + sum(len(inv["APInvDtls"]) for inv in page)


def test_epicor_page_takes_base_plus_per_row_served_children_included(
    epicor_sandbox_factory: Callable[..., EpicorSandbox], tmp_path: Path
) -> None:
    model = tmp_path / "model.json"
    model.write_text(
        json.dumps({"epicor": {"request": {"fixed_ms": 200, "per_1000_rows_ms": 20_000}}})
    )
    sandbox = epicor_sandbox_factory(latency=model)
    elapsed, rows = _page(sandbox)
    assert rows > 10  # the expanded lines are served too
    assert elapsed >= 0.2 + 0.02 * rows

    results: list[float] = []

    def fetch() -> None:
        results.append(_page(sandbox)[0])

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    wall = run_together(threads)
    assert len(results) == 2
    assert wall < 0.8 * sum(results)


def test_without_a_model_epicor_pages_are_not_held(epicor_sandbox: EpicorSandbox) -> None:
    elapsed, rows = _page(epicor_sandbox)
    assert elapsed < latency.EPICOR_DEFAULTS["request"].seconds(rows)


def test_a_model_file_overrides_some_kinds_and_scales_all(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"scale": 0.5, "snowflake": {"copy": {"fixed_ms": 800}}}))
    model = latency.load(str(path))
    assert model is not None
    assert model.delay("snowflake", "copy", rows=1000) == pytest.approx((800 + 20) / 2000)
    assert model.delay("snowflake", "commit") == pytest.approx(0.1)
    assert latency.load("off") is None
    path.write_text(json.dumps({"snowflake": {"merge": {"fixed_ms": 1}}}))
    with pytest.raises(ValueError, match="unknown kind 'merge'"):
        latency.load(str(path))


@pytest.mark.parametrize("server", ["epicor", "snowflake"])
def test_a_bad_model_stops_the_server_naming_the_option(server: str, tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps({"snowflake": {"copy": {"fixed": 1}}}))
    args = [sys.executable, "-m", "finance_sandbox.cli", server, "--port", "0"]
    args += ["--data-dir", str(tmp_path / "data"), "--latency", str(bad)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "snowflake.copy takes fixed_ms, per_1000_rows_ms, per_mb_ms" in proc.stderr
