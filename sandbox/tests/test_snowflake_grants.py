"""The local Snowflake refuses a restricted role what it was not granted, as Snowflake does."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from finance_sandbox.testing.snowflake import SnowflakeSandbox
from snowflake.connector.errors import ProgrammingError


def _setup(sandbox: SnowflakeSandbox) -> tuple[str, str]:
    schema = sandbox.unique_schema("G")
    role = f"R_{uuid.uuid4().hex[:8].upper()}"
    sandbox.query(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema}"')
    sandbox.query(f'CREATE STAGE "SANDBOX_DB"."{schema}"."STG"')
    sandbox.query(f'CREATE TABLE "SANDBOX_DB"."{schema}"."PAY" ("ID" NUMBER(38,0), "AMT" VARCHAR)')
    sandbox.define_role(
        role,
        [
            f"GRANT USAGE ON WAREHOUSE SANDBOX_WH TO ROLE {role}",
            f"GRANT USAGE ON DATABASE SANDBOX_DB TO ROLE {role}",
            f"GRANT USAGE ON SCHEMA SANDBOX_DB.{schema} TO ROLE {role}",
            f"GRANT SELECT, INSERT, UPDATE ON TABLE SANDBOX_DB.{schema}.PAY TO ROLE {role}",
            f"GRANT READ, WRITE ON STAGE SANDBOX_DB.{schema}.STG TO ROLE {role}",
        ],
    )
    return schema, role


def _refusal(cur: object, sql: str) -> tuple[int, str]:
    with pytest.raises(ProgrammingError) as refused:
        cur.execute(sql)  # type: ignore[attr-defined]
    return refused.value.errno, str(refused.value.msg)


def test_a_restricted_role_gets_snowflakes_errors_for_what_it_was_not_granted(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    schema, role = _setup(snowflake_sandbox)
    with snowflake_sandbox.connect(role=role, schema=schema) as conn:
        cur = conn.cursor()
        errno, msg = _refusal(cur, f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema}"')
        assert (errno, msg.splitlines()[-1]) == (
            3001,
            "Insufficient privileges to operate on database 'SANDBOX_DB'",
        )
        errno, msg = _refusal(cur, "CREATE TABLE IF NOT EXISTS X (A INT)")
        assert (errno, msg.splitlines()[-1]) == (
            3001,
            f"Insufficient privileges to operate on schema '{schema}'",
        )
        assert _refusal(cur, "CREATE STAGE IF NOT EXISTS S2")[0] == 3001
        assert _refusal(cur, f'DELETE FROM "SANDBOX_DB"."{schema}"."PAY"')[0] == 3001
        assert _refusal(cur, f'TRUNCATE TABLE "SANDBOX_DB"."{schema}"."PAY"')[0] == 3001
        assert _refusal(cur, 'ALTER TABLE "PAY" ADD COLUMN "X" INT')[0] == 3001
        assert _refusal(cur, "ALTER WAREHOUSE SANDBOX_WH RESUME IF SUSPENDED")[0] == 3001
        errno, msg = _refusal(cur, 'SELECT * FROM "SANDBOX_DB"."OTHER"."PAY"')
        assert (errno, msg.splitlines()[-1]) == (
            2003,
            "Schema 'SANDBOX_DB.OTHER' does not exist or not authorized.",
        )
        errno, msg = _refusal(cur, 'SELECT * FROM "HIDDEN"')
        assert errno == 2003
        assert "does not exist or not authorized" in msg
        # What it was granted works, and a temporary table needs no CREATE TABLE.
        cur.execute('CREATE TEMPORARY TABLE "_T" ("ID" NUMBER(38,0), "AMT" VARCHAR)')
        cur.execute(f'INSERT INTO "SANDBOX_DB"."{schema}"."PAY" SELECT * FROM "_T"')
        cur.execute('SELECT COUNT(*) FROM "PAY"')
        assert cur.fetchone() == (0,)


def test_a_restricted_role_stages_into_a_temporary_table_and_merges(
    snowflake_sandbox: SnowflakeSandbox, tmp_path: Path
) -> None:
    schema, role = _setup(snowflake_sandbox)
    data = tmp_path / "batch.parquet"
    pq.write_table(pa.table({"C0": [1, 2], "C1": ["1.10", "2.20"]}), data)
    with snowflake_sandbox.connect(role=role, schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f"PUT 'file://{data}' @STG/b/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE")
        cur.execute('CREATE TEMPORARY TABLE "_T" ("C0" NUMBER(38,0), "C1" VARCHAR)')
        cur.execute(
            'COPY INTO "_T" FROM @STG/b/ FILE_FORMAT = (TYPE = PARQUET) '
            "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE"
        )
        cur.execute("BEGIN")
        cur.execute(
            'MERGE INTO "PAY" t USING (SELECT "C0" AS "ID", "C1" AS "AMT" FROM "_T") s '
            'ON t."ID" = s."ID" WHEN MATCHED THEN UPDATE SET "AMT" = s."AMT" '
            'WHEN NOT MATCHED THEN INSERT ("ID", "AMT") VALUES (s."ID", s."AMT")'
        )
        cur.execute("COMMIT")
        cur.execute("REMOVE @STG/b/")
        cur.execute('SELECT "ID", "AMT" FROM "PAY" ORDER BY 1')
        assert cur.fetchall() == [(1, "1.10"), (2, "2.20")]
    assert not any(
        s.lstrip().upper().startswith("CREATE TABLE")
        for s in snowflake_sandbox.role_statements(role)
    )


def test_show_grants_to_role_answers_in_snowflakes_columns(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    schema, role = _setup(snowflake_sandbox)
    with snowflake_sandbox.connect(role=role, schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f"SHOW GRANTS TO ROLE {role}")
        columns = [d[0] for d in cur.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    assert columns == [
        "created_on",
        "privilege",
        "granted_on",
        "name",
        "granted_to",
        "grantee_name",
        "grant_option",
        "granted_by",
    ]
    granted = {(r["privilege"], r["granted_on"], r["name"]) for r in rows}
    assert ("USAGE", "SCHEMA", f"SANDBOX_DB.{schema}") in granted
    assert ("WRITE", "STAGE", f"SANDBOX_DB.{schema}.STG") in granted
    assert ("INSERT", "TABLE", f"SANDBOX_DB.{schema}.PAY") in granted
    assert ("DELETE", "TABLE", f"SANDBOX_DB.{schema}.PAY") not in granted
    assert {r["grantee_name"] for r in rows} == {role}


def test_roles_nobody_defined_stay_unrestricted(snowflake_sandbox: SnowflakeSandbox) -> None:
    schema = snowflake_sandbox.unique_schema("G")
    with snowflake_sandbox.connect(role="SOME_ADMIN", schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema}"')
        cur.execute('CREATE TABLE "X" ("A" INT)')
        cur.execute('TRUNCATE TABLE "X"')


def test_an_unrestricted_role_shows_as_the_owner_of_everything(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    schema, _ = _setup(snowflake_sandbox)
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute("SHOW GRANTS TO ROLE LOADER_ROLE")
        rows = {(r[1], r[2], r[3]) for r in cur.fetchall()}
    assert ("OWNERSHIP", "SCHEMA", f"SANDBOX_DB.{schema}") in rows
    assert ("OWNERSHIP", "TABLE", f"SANDBOX_DB.{schema}.PAY") in rows
    assert ("OWNERSHIP", "STAGE", f"SANDBOX_DB.{schema}.STG") in rows
    assert ("OWNERSHIP", "WAREHOUSE", "SANDBOX_WH") in rows
