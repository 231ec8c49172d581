"""Setting `create_streams`: a Snowflake STREAM on each loaded table for downstream consumers."""

from __future__ import annotations

from typing import Any

PROPS = {"Id": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}


def _streams(snowflake_sandbox: Any, schema_name: str) -> list[tuple[str, str]]:
    rows = snowflake_sandbox.query(f'SHOW STREAMS IN SCHEMA "SANDBOX_DB"."{schema_name}"')
    return sorted((row[1], row[6]) for row in rows)  # name, table_name


def _messages(singer: Any) -> list[dict[str, Any]]:
    return [
        singer.schema("payments", PROPS, ["Id"]),
        singer.schema("refunds", PROPS, ["Id"]),
        singer.record("payments", {"Id": 1, "Amount": 1}),
        singer.record("refunds", {"Id": 2, "Amount": 2}),
    ]


def test_each_loaded_table_gets_a_stream_once(
    config, run_target, singer, snowflake_sandbox, schema_name, table_rows
) -> None:
    config["create_streams"] = True
    run_target(config, _messages(singer))
    run_target(config, _messages(singer))  # a second run finds the streams in place
    ref = f"SANDBOX_DB.{schema_name}"
    # Only the loaded tables: not the audit, rejects or staging tables.
    assert _streams(snowflake_sandbox, schema_name) == [
        ("PAYMENTS_STREAM", f"{ref}.PAYMENTS"),
        ("REFUNDS_STREAM", f"{ref}.REFUNDS"),
    ]
    assert table_rows("PAYMENTS", "Id") == [(1,)]


def test_no_stream_unless_asked(config, run_target, singer, snowflake_sandbox, schema_name) -> None:
    run_target(config, _messages(singer))
    assert _streams(snowflake_sandbox, schema_name) == []
