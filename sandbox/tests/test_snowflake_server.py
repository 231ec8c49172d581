"""The local Snowflake answers the real connector the way the target needs."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from finance_sandbox.testing.snowflake import SnowflakeSandbox
from snowflake.connector.errors import ProgrammingError


def test_key_pair_login_with_encrypted_pkcs8_key(snowflake_sandbox: SnowflakeSandbox) -> None:
    config = snowflake_sandbox.target_config()
    assert "ENCRYPTED PRIVATE KEY" in config["private_key"]
    key = serialization.load_pem_private_key(
        config["private_key"].encode(), password=config["private_key_passphrase"].encode()
    )
    kwargs = snowflake_sandbox.connect_kwargs()
    kwargs.pop("password")
    with snowflake.connector.connect(private_key=key, **kwargs) as conn:
        assert conn.cursor().execute("SELECT 1 + 1").fetchone() == (2,)


def test_statements_fakesnow_lacks_succeed_as_no_ops(snowflake_sandbox: SnowflakeSandbox) -> None:
    schema = snowflake_sandbox.unique_schema()
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute("ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = FALSE")
        cur.execute("ALTER SESSION SET TIMEZONE = 'UTC'")
        cur.execute("CREATE STAGE IF NOT EXISTS LOADS")
        cur.execute("REMOVE @LOADS/some/prefix/")
        cur.execute("ALTER WAREHOUSE SANDBOX_WH RESUME IF SUSPENDED")
        cur.execute("DROP STAGE IF EXISTS LOADS")


def test_suspended_warehouse_without_auto_resume_gives_000608(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    snowflake_sandbox.query(
        "CREATE OR REPLACE WAREHOUSE COLD_WH AUTO_RESUME = FALSE INITIALLY_SUSPENDED = TRUE"
    )
    assert snowflake_sandbox.query("SHOW WAREHOUSES LIKE 'COLD_WH'")[0][1:2] == ("SUSPENDED",)
    with snowflake_sandbox.connect(warehouse="COLD_WH") as conn:
        cur = conn.cursor()
        with pytest.raises(ProgrammingError) as excinfo:
            cur.execute("SELECT 1")
        assert excinfo.value.errno == 608
        assert "Warehouse 'COLD_WH' is suspended" in excinfo.value.msg
        cur.execute("ALTER WAREHOUSE COLD_WH RESUME IF SUSPENDED")
        assert cur.execute("SELECT 1").fetchone() == (1,)
        cur.execute("ALTER WAREHOUSE COLD_WH RESUME IF SUSPENDED")  # idempotent


def test_suspended_warehouse_with_auto_resume_resumes_on_query(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    snowflake_sandbox.query(
        "CREATE OR REPLACE WAREHOUSE NAP_WH AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE"
    )
    with snowflake_sandbox.connect(warehouse="NAP_WH") as conn:
        assert conn.cursor().execute("SELECT 1").fetchone() == (1,)
    rows = snowflake_sandbox.query("SHOW WAREHOUSES LIKE 'NAP%'")
    assert [(r[0], r[1], r[5]) for r in rows] == [("NAP_WH", "STARTED", "true")]


def test_put_copy_merge_in_one_transaction_keeps_decimals_exact(
    snowflake_sandbox: SnowflakeSandbox, tmp_path: Path
) -> None:
    schema = snowflake_sandbox.unique_schema()
    d = decimal.Decimal
    path = tmp_path / "batch.parquet"
    pq.write_table(
        pa.table(
            {
                "ID": pa.array([1, 2, 1], pa.int64()),
                "AMT": pa.array(
                    [d("1.000"), d("0.100"), d("12345678901234.567")], pa.decimal128(38, 3)
                ),
                "TS": pa.array(
                    [dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)] * 3, pa.timestamp("us", "UTC")
                ),
                "SEQ": pa.array([1, 2, 3], pa.int64()),
            }
        ),
        path,
    )
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute('CREATE TABLE "INV" ("ID" NUMBER(38,0), "AMT" NUMBER(38,3), "TS" TIMESTAMP_TZ)')
        cur.execute(
            'CREATE TRANSIENT TABLE "INV_STG" ("ID" NUMBER(38,0), "AMT" NUMBER(38,3), '
            '"TS" TIMESTAMP_TZ, "SEQ" NUMBER(38,0))'
        )
        cur.execute('CREATE STAGE "LOADS"')
        cur.execute(f"PUT 'file://{path}' @\"LOADS\"/b1/ AUTO_COMPRESS=FALSE")
        cur.execute("BEGIN")
        cur.execute(
            'COPY INTO "INV_STG" FROM @"LOADS"/b1/ FILE_FORMAT=(TYPE=PARQUET) '
            "MATCH_BY_COLUMN_NAME=CASE_SENSITIVE"
        )
        cur.execute(
            'MERGE INTO "INV" t USING (SELECT * FROM "INV_STG" QUALIFY ROW_NUMBER() OVER '
            '(PARTITION BY "ID" ORDER BY "SEQ" DESC) = 1) s ON t."ID" = s."ID" '
            'WHEN MATCHED THEN UPDATE SET "AMT" = s."AMT", "TS" = s."TS" '
            'WHEN NOT MATCHED THEN INSERT ("ID", "AMT", "TS") VALUES (s."ID", s."AMT", s."TS")'
        )
        cur.execute("COMMIT")
        rows = cur.execute(
            'SELECT "ID", CAST("AMT" AS VARCHAR), "TS" FROM "INV" ORDER BY "ID"'
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, "12345678901234.567"), (2, "0.100")]
    assert rows[0][2] == dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)


def test_data_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "snowflake"
    first = SnowflakeSandbox(data_dir=data_dir)
    try:
        first.query("CREATE TABLE KEPT (ID NUMBER(38,0), AMT NUMBER(18,3))")
        first.query("INSERT INTO KEPT VALUES (1, 10.125)")
        first.query("CREATE WAREHOUSE PARKED_WH AUTO_RESUME = FALSE INITIALLY_SUSPENDED = TRUE")
    finally:
        first.stop()
    second = SnowflakeSandbox(data_dir=data_dir)
    try:
        assert second.query("SELECT ID, CAST(AMT AS VARCHAR) FROM KEPT") == [(1, "10.125")]
        assert second.query("SHOW WAREHOUSES LIKE 'PARKED_WH'")[0][1] == "SUSPENDED"
    finally:
        second.stop()


def test_injected_fault_answers_matching_statements_then_clears(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    snowflake_sandbox.fail_next(r"^SELECT 4\b", times=2, code="390114")
    with snowflake_sandbox.connect() as conn:
        cur = conn.cursor()
        for _ in range(2):
            with pytest.raises(snowflake.connector.errors.Error) as excinfo:
                cur.execute("SELECT 4")
            assert excinfo.value.errno == 390114
    with snowflake_sandbox.connect() as conn:
        assert conn.cursor().execute("SELECT 4").fetchone() == (4,)
    snowflake_sandbox.fail_next(r"^SELECT 5\b", times=5, code="000608")
    snowflake_sandbox.clear_faults()
    assert snowflake_sandbox.query("SELECT 5") == [(5,)]


def test_transaction_left_open_by_a_vanished_client_is_rolled_back(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    schema = snowflake_sandbox.unique_schema()
    with snowflake_sandbox.connect(schema=schema) as setup:
        setup.cursor().execute("CREATE TABLE T (ID NUMBER(38,0), V VARCHAR)")
        setup.cursor().execute("INSERT INTO T VALUES (1, 'committed')")
    gone = snowflake_sandbox.connect(schema=schema)
    gone.cursor().execute("BEGIN")
    gone.cursor().execute("UPDATE T SET V = 'uncommitted' WHERE ID = 1")
    # The client disappears without COMMIT or ROLLBACK (like a killed loader).
    assert snowflake_sandbox.abort_idle_transactions() == 1
    with snowflake_sandbox.connect(schema=schema) as later:
        later.cursor().execute("UPDATE T SET V = 'rerun' WHERE ID = 1")
        assert later.cursor().execute("SELECT V FROM T").fetchall() == [("rerun",)]
    gone.close()


def test_remove_deletes_staged_files_and_list_shows_it(
    snowflake_sandbox: SnowflakeSandbox, tmp_path: Path
) -> None:
    schema = snowflake_sandbox.unique_schema()
    data = tmp_path / "one.parquet"
    data.write_bytes(b"PAR1")
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cur.execute("CREATE STAGE ST")
        for prefix in ("run1/a", "run1/b", "run2/a"):
            cur.execute(f"PUT 'file://{data}' @ST/{prefix}/ AUTO_COMPRESS=FALSE")
        removed = cur.execute(f'REMOVE @"SANDBOX_DB"."{schema}"."ST"/run1/').fetchall()
        assert sorted(removed) == [
            ("st/run1/a/one.parquet", "removed"),
            ("st/run1/b/one.parquet", "removed"),
        ]
        assert [r[0] for r in cur.execute("LIST @ST").fetchall()] == ["st/run2/a/one.parquet"]
        assert cur.execute("REMOVE @ST/nothing/").fetchall() == []
        with pytest.raises(snowflake.connector.errors.ProgrammingError) as excinfo:
            cur.execute("REMOVE @NO_SUCH_STAGE")
        assert excinfo.value.errno == 2003


def test_an_after_fault_runs_the_statement_and_loses_its_answer(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    schema = snowflake_sandbox.unique_schema()
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cur.execute("CREATE TABLE T (ID NUMBER(38,0))")
        snowflake_sandbox.fail_next(r"^COMMIT", code="390114", after=True)
        cur.execute("BEGIN")
        cur.execute("INSERT INTO T VALUES (1)")
        with pytest.raises(snowflake.connector.errors.Error) as excinfo:
            cur.execute("COMMIT")
        assert excinfo.value.errno == 390114
    with snowflake_sandbox.connect(schema=schema) as other:
        assert other.cursor().execute("SELECT ID FROM T").fetchall() == [(1,)]


def test_a_held_after_fault_answers_late_once_the_statement_took_effect(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    """`after` with `delay_s`: the COMMIT takes effect at once and its answer comes late, so a
    test can kill a loader between its commit and whatever it does once it hears back."""
    schema = snowflake_sandbox.unique_schema()
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cur.execute("CREATE TABLE T (ID NUMBER(38,0))")
        snowflake_sandbox.fail_next(r"^COMMIT", code="hold", delay_s=8, after=True)
        cur.execute("BEGIN")
        cur.execute("INSERT INTO T VALUES (1)")
        answered = threading.Event()
        committing = threading.Thread(target=lambda: (cur.execute("COMMIT"), answered.set()))
        committing.start()
        with snowflake_sandbox.connect(schema=schema) as other:
            deadline = time.monotonic() + 6
            seen: list[Any] = []
            while not seen and time.monotonic() < deadline:
                seen = other.cursor().execute("SELECT ID FROM T").fetchall()
            assert seen == [(1,)], "the COMMIT took effect before its answer"
            assert not answered.is_set(), "the answer is still held"
        committing.join(10)
        assert answered.is_set()
