"""The local Snowflake keeps table streams: CREATE, SHOW and DROP STREAM as Snowflake answers."""

from __future__ import annotations

import pytest
from finance_sandbox.testing.snowflake import SnowflakeSandbox
from snowflake.connector.errors import ProgrammingError


def test_a_stream_on_a_table_is_created_once_listed_and_dropped(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    schema = snowflake_sandbox.unique_schema()
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema}"')
        cur.execute(f'CREATE TABLE "SANDBOX_DB"."{schema}"."PAY" ("ID" INT)')
        cur.execute(
            f'CREATE STREAM IF NOT EXISTS "PAY_STREAM" ON TABLE "SANDBOX_DB"."{schema}"."PAY"'
        )
        cur.execute('CREATE STREAM IF NOT EXISTS "PAY_STREAM" ON TABLE "PAY"')  # no error
        with pytest.raises(ProgrammingError) as exists:
            cur.execute('CREATE STREAM "PAY_STREAM" ON TABLE "PAY"')
        assert exists.value.errno == 2002
        rows = cur.execute(f'SHOW STREAMS IN SCHEMA "SANDBOX_DB"."{schema}"').fetchall()
        columns = [d[0] for d in cur.description]
        listed = [dict(zip(columns, row, strict=True)) for row in rows]
        assert [(s["name"], s["table_name"], s["mode"]) for s in listed] == [
            ("PAY_STREAM", f"SANDBOX_DB.{schema}.PAY", "DEFAULT")
        ]
        assert cur.execute("SHOW STREAMS LIKE 'NOPE%'").fetchall() == []
        cur.execute('DROP STREAM "PAY_STREAM"')
        assert cur.execute("SHOW STREAMS").fetchall() == []


def test_a_stream_on_a_missing_table_fails_as_in_snowflake(
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    schema = snowflake_sandbox.unique_schema()
    with snowflake_sandbox.connect(schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema}"')
        with pytest.raises(ProgrammingError) as missing:
            cur.execute('CREATE STREAM "GHOST_STREAM" ON TABLE "GHOST"')
        assert missing.value.errno == 2003
        assert "does not exist or not authorized" in missing.value.msg
