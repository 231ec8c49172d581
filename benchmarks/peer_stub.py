"""Run MeltanoLabs target-snowflake with the Snowflake server's work removed (the peer's CLI).

Run by the peer's own interpreter (its venv, see peer_target.py), with the peer's CLI arguments:
`.benchmarks/peer-.../bin/python benchmarks/peer_stub.py --config FILE < messages`.

The peer cannot load into the local Snowflake (it PUTs to the user stage `@~`, which fakesnow
refuses), so only the statements' execution is removed; everything its Python side does runs
as shipped: process start and imports, config validation, reading and parsing every message,
record validation, type conformance, gzip JSON-lines batch files written to disk, and the SQL text
of each statement built and compiled by its SQLAlchemy dialect. Removed: the login and its
`SHOW DATABASES` probe, schema and table reflection and DDL (`prepare_schema`, `prepare_table`:
once per stream), and per batch the PUT upload, CREATE FILE FORMAT, MERGE or COPY, REMOVE and the
COMMIT. So its figure is a lower bound of its wall time: a loader with the server's work left in,
like ours, can only be slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy
from target_snowflake.connector import DEFAULT_RESERVED_WORDS, SnowflakeConnector
from target_snowflake.target import TargetSnowflake

#: Statements the peer sent, by their first word (printed to stderr at exit as a check).
SENT: dict[str, int] = {}


class _Result:
    """What a statement answers when nothing ran: no rows."""

    rowcount = 0

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []


class _Connection:
    """A SQLAlchemy connection stand-in: compiles each statement (client work), runs nothing."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect

    def begin(self) -> nullcontext[None]:
        return nullcontext()

    def execute(self, statement: Any, *_: Any, **__: Any) -> _Result:
        sql = str(statement.compile(dialect=self.dialect))
        word = sql.split(None, 1)[0].upper()
        SENT[word] = SENT.get(word, 0) + 1
        return _Result()


def _create_engine(self: SnowflakeConnector) -> sqlalchemy.Engine:
    # As shipped, minus the login its `SHOW DATABASES` check makes (engines connect lazily).
    engine = sqlalchemy.create_engine(
        self.sqlalchemy_url, connect_args=self.get_connect_args(), echo=False
    )
    engine.dialect.identifier_preparer.reserved_words |= DEFAULT_RESERVED_WORDS
    return engine


@contextmanager
def _connect(self: SnowflakeConnector) -> Iterator[_Connection]:
    yield _Connection(self._engine.dialect)


def _no_server(*_: Any, **__: Any) -> None:
    return None


SnowflakeConnector.create_engine = _create_engine  # type: ignore[method-assign]
SnowflakeConnector._connect = _connect  # type: ignore[method-assign,assignment]
SnowflakeConnector.prepare_schema = _no_server  # type: ignore[method-assign]
SnowflakeConnector.prepare_table = _no_server  # type: ignore[method-assign]

if __name__ == "__main__":
    import atexit
    import json
    import sys

    atexit.register(lambda: print(json.dumps({"peer_statements": SENT}), file=sys.stderr))
    TargetSnowflake.cli()
