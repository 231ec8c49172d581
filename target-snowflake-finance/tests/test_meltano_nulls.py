"""Config as Meltano passes it for settings nobody set: nested SDK settings arrive as nulls."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from target_snowflake_finance.errors import TargetConfigError
from target_snowflake_finance.target import TargetSnowflakeFinance

MELTANO_UNSET = {
    "stream_maps": {"__else__": None},
    "faker_config": {"seed": None, "locale": None},
}


def test_unset_stream_maps_from_meltano_load_every_record(
    config: dict[str, Any],
    singer: Any,
    run_target: Callable[..., list[dict[str, Any]]],
    table_rows: Callable[..., list[tuple[Any, ...]]],
) -> None:
    messages = [
        singer.schema("vendors", {"id": {"type": "integer"}, "name": {"type": "string"}}, ["id"]),
        singer.record("vendors", {"id": 1, "name": "a"}),
        singer.record("vendors", {"id": 2, "name": "b"}),
        singer.state({"bookmarks": {"vendors": {}}}),
    ]
    run_target({**config, **MELTANO_UNSET}, messages)
    assert table_rows("VENDORS", "ID") == [(1,), (2,)]


def test_stream_maps_that_drop_every_record_fail_without_emitting_state(
    config: dict[str, Any],
    singer: Any,
    snowflake_sandbox: Any,
    schema_name: str,
) -> None:
    messages = [
        singer.schema("vendors", {"id": {"type": "integer"}}, ["id"]),
        singer.record("vendors", {"id": 1}),
        singer.record("vendors", {"id": 2}),
        singer.state({"bookmarks": {"vendors": {"replication_key_value": 2}}}),
    ]
    mapped = {**config, "stream_maps": {"parts": {"__alias__": "parts2"}, "__else__": None}}
    target = TargetSnowflakeFinance(config=mapped, validate_config=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(TargetConfigError) as caught:
        target.listen(io.StringIO(singer.lines(messages)))
    assert "excluded every record it received: vendors (2)" in str(caught.value)
    assert "STATE" not in out.getvalue()


def test_meltano_config_test_stream_leaves_no_table(
    config: dict[str, Any],
    singer: Any,
    run_target: Callable[..., list[dict[str, Any]]],
    snowflake_sandbox: Any,
    schema_name: str,
) -> None:
    stream = "meltano_test_stream"
    messages = [
        singer.schema(stream, {"id": {"type": "integer"}, "name": {"type": "string"}}, ["id"]),
        singer.record(stream, {"id": 1, "name": "Meltano Test Record"}),
        singer.state({"bookmarks": {stream: {"last_record": 1}}}),
    ]
    states = run_target(config, messages)
    assert states, "the test stream's state is emitted once its record is loaded"
    tables = snowflake_sandbox.query(
        "SELECT TABLE_NAME FROM SANDBOX_DB.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = %s",
        (schema_name,),
    )
    assert "MELTANO_TEST_STREAM" not in {t[0] for t in tables}
    audit = snowflake_sandbox.query(
        f'SELECT ROWS_LOADED FROM SANDBOX_DB."{schema_name}"."_SDC_LOAD_AUDIT"'
    )
    assert audit, "the load itself went through COPY and MERGE and was audited"
