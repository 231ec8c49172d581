"""Fixtures: a fresh schema per test on the local Snowflake, and running the target on messages."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import typing as t
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import simplejson
from target_snowflake_finance.target import TargetSnowflakeFinance


class Singer:
    """Builds Singer messages for a test."""

    #: An AP invoice as the tap sends it: integer and string keys, a float amount, a timestamp
    #: bookmark and an exact decimal.
    INVOICE_PROPS: t.ClassVar[dict[str, Any]] = {
        "VendorNum": {"type": "integer"},
        "InvoiceNum": {"type": "string"},
        "InvoiceAmt": {"type": ["number", "null"], "multipleOf": 0.01},
        "UpdatedOn": {"type": ["string", "null"], "format": "date-time"},
        "TaxAmt": {
            "type": ["string", "null"],
            "format": "x-singer.decimal",
            "precision": 18,
            "scale": 2,
        },
    }
    INVOICE_KEYS: t.ClassVar[list[str]] = ["VendorNum", "InvoiceNum"]

    @staticmethod
    def schema(
        stream: str,
        properties: dict[str, Any],
        keys: list[str] | None = None,
        bookmark: str | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "SCHEMA",
            "stream": stream,
            "schema": {"type": "object", "properties": properties},
            "key_properties": keys or [],
        }
        if bookmark:
            message["bookmark_properties"] = [bookmark]
        return message

    @staticmethod
    def record(stream: str, record: dict[str, Any]) -> dict[str, Any]:
        return {"type": "RECORD", "stream": stream, "record": record}

    @staticmethod
    def state(value: dict[str, Any]) -> dict[str, Any]:
        return {"type": "STATE", "value": value}

    @staticmethod
    def lines(messages: Iterable[dict[str, Any]]) -> str:
        return "".join(simplejson.dumps(m, use_decimal=True) + "\n" for m in messages)


@pytest.fixture
def singer() -> type[Singer]:
    return Singer


@pytest.fixture
def schema_name(snowflake_sandbox: Any) -> str:
    return str(snowflake_sandbox.unique_schema())


@pytest.fixture
def config(snowflake_sandbox: Any, schema_name: str) -> dict[str, Any]:
    """A complete config on a schema of this test's own (key-pair auth, encrypted key)."""
    return dict(snowflake_sandbox.target_config(schema=schema_name))


@pytest.fixture
def run_target() -> Callable[..., list[dict[str, Any]]]:
    """Run the target in-process on messages; returns the STATE values it emitted."""

    def run(config: dict[str, Any], messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        target = TargetSnowflakeFinance(config=config, validate_config=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            target.listen(io.StringIO(Singer.lines(messages)))
        return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]

    return run


@pytest.fixture
def target_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the target CLI as a user would: config in a file, messages on stdin, output captured."""

    def run(
        config: dict[str, Any], stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        return subprocess.run(
            [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(path)],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, **(env or {})},
        )

    return run


@pytest.fixture
def sql_sent(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Every SQL statement the target sent, in order (its `target_snowflake_finance.sql` log)."""
    caplog.set_level(logging.DEBUG, logger="target_snowflake_finance.sql")

    def statements() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "target_snowflake_finance.sql"]

    return statements


@pytest.fixture
def table_rows(snowflake_sandbox: Any, schema_name: str) -> Callable[..., list[tuple[Any, ...]]]:
    """Rows of a table in this test's schema; `columns` are SQL expressions."""

    def rows(table: str, columns: str = "*", order_by: str = "1") -> list[tuple[Any, ...]]:
        ref = f'"SANDBOX_DB"."{schema_name}"."{table}"'
        return list(snowflake_sandbox.query(f"SELECT {columns} FROM {ref} ORDER BY {order_by}"))

    return rows


@pytest.fixture
def loader_objects(snowflake_sandbox: Any, schema_name: str) -> Callable[[], None]:
    """Create what a DBA creates for `manage_tables: false` (the README's DDL)."""
    from target_snowflake_finance.audit import create_table_sql
    from target_snowflake_finance.naming import qualified
    from target_snowflake_finance.preflight import HOUSE_TABLES
    from target_snowflake_finance.target import STAGE_NAME

    names = {"audit_table": "_SDC_LOAD_AUDIT", "rejects_table": "_SDC_REJECTS"}

    def create() -> None:
        for statement in [
            f"CREATE SCHEMA IF NOT EXISTS {qualified('SANDBOX_DB', schema_name)}",
            f"CREATE STAGE IF NOT EXISTS {qualified('SANDBOX_DB', schema_name, STAGE_NAME)}",
            *(
                create_table_sql(qualified("SANDBOX_DB", schema_name, names[setting]), columns)
                for setting, columns, _ in HOUSE_TABLES
            ),
        ]:
            snowflake_sandbox.query(statement)

    return create
