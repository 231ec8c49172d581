"""An ALTER TABLE waits for another session's open transaction instead of losing its rows."""

from __future__ import annotations

import threading
import time
from typing import Any


def test_alter_table_waits_for_an_open_transaction_and_loses_no_committed_row(
    snowflake_sandbox: Any,
) -> None:
    schema = snowflake_sandbox.unique_schema("DDL")
    table = f'"SANDBOX_DB"."{schema}"."T"'
    writer = snowflake_sandbox.connect(schema="PUBLIC")
    altering = snowflake_sandbox.connect(schema="PUBLIC")
    try:
        writer.cursor().execute(f'CREATE SCHEMA "SANDBOX_DB"."{schema}"')
        writer.cursor().execute(f'CREATE TABLE {table} ("ID" INT)')
        writer.cursor().execute("BEGIN")
        writer.cursor().execute(f"INSERT INTO {table} VALUES (1), (2)")
        altered: list[float] = []

        def alter() -> None:
            altering.cursor().execute(f'ALTER TABLE {table} ADD COLUMN "MEMO" VARCHAR')
            altered.append(time.monotonic())

        thread = threading.Thread(target=alter)
        thread.start()
        time.sleep(1.5)
        # In DuckDB the ALTER ran at once, and the rows committed next vanished (COMMIT said
        # success); in Snowflake it waits for the table's lock.
        assert not altered
        writer.cursor().execute("COMMIT")
        thread.join(30)
        assert altered
    finally:
        writer.close()
        altering.close()
    assert snowflake_sandbox.query(f'SELECT "ID", "MEMO" FROM {table} ORDER BY 1') == [
        (1, None),
        (2, None),
    ]


def test_alter_table_sent_during_another_sessions_commit_loses_no_committed_row(
    snowflake_sandbox: Any,
) -> None:
    # Two loaders into an empty schema, one adding a column as the other committed its batch,
    # lost that batch about once in 14 tries: the ALTER was let in when the COMMIT arrived,
    # not when it had finished, and DuckDB dropped the rows that COMMIT reported committed.
    schema = snowflake_sandbox.unique_schema("DDL")
    table = f'"SANDBOX_DB"."{schema}"."T"'
    rows = 2_000_000  # a COMMIT that takes a while: the ALTER arrives while it runs
    writer = snowflake_sandbox.connect(schema="PUBLIC")
    altering = snowflake_sandbox.connect(schema="PUBLIC")
    try:
        writer.cursor().execute(f'CREATE SCHEMA "SANDBOX_DB"."{schema}"')
        writer.cursor().execute(f'CREATE TABLE {table} ("ID" INT, "NAME" VARCHAR)')
        writer.cursor().execute("BEGIN")
        writer.cursor().execute(
            f"INSERT INTO {table} SELECT SEQ4(), 'row ' || SEQ4() "
            f"FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"
        )
        commit = threading.Thread(target=lambda: writer.cursor().execute("COMMIT"))
        commit.start()
        time.sleep(0.05)
        altering.cursor().execute(f'ALTER TABLE {table} ADD COLUMN "MEMO" VARCHAR')
        commit.join(60)
        assert not commit.is_alive()
    finally:
        writer.close()
        altering.close()
    assert snowflake_sandbox.query(f'SELECT COUNT(*), COUNT("MEMO") FROM {table}') == [(rows, 0)]
