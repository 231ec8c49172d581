"""Downstream change capture: a Snowflake STREAM on each loaded table (setting `create_streams`).

A stream records the inserts, updates and deletes each MERGE makes, so a downstream task can
consume only what changed since it last read (the product this target replaces offered the
same). Creating the first stream on a table turns on its change tracking, which needs ownership
of the table: the target owns the tables it creates; on a table of your own, its owner runs
`ALTER TABLE … SET CHANGE_TRACKING = TRUE` once.
"""

from __future__ import annotations

from snowflake.connector.errors import ProgrammingError

from target_snowflake_finance.connector import Session
from target_snowflake_finance.errors import TargetConfigError
from target_snowflake_finance.naming import qualified


def stream_name(table: str) -> str:
    """`PAYMENTS` → `PAYMENTS_STREAM` (a lower-case table name gets `_stream`)."""
    return table + ("_stream" if table.islower() else "_STREAM")


def ensure_stream(session: Session, table: str) -> None:
    """Create the table's stream unless it exists (idempotent, keeps the stream's offset)."""
    stream = qualified(session.database, session.schema, stream_name(table))
    try:
        session.execute(f"CREATE STREAM IF NOT EXISTS {stream} ON TABLE {session.table_ref(table)}")
    except ProgrammingError as e:
        schema = qualified(session.database, session.schema)
        raise TargetConfigError(
            f"create_streams: could not create stream {stream} on {session.table_ref(table)} "
            f"({e.errno}: {e.msg}). The role needs CREATE STREAM on schema {schema} and "
            "SELECT on the table, and the table must allow change tracking (its owner runs "
            "ALTER TABLE … SET CHANGE_TRACKING = TRUE); or set create_streams to false"
        ) from None
