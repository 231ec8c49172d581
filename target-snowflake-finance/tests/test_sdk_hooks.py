"""What the target relies on in singer-sdk's private names (sdk_hooks.py): fails when it changes.

A bare target and sink built on the hooks, no Snowflake: the SDK must still route each message
type, each record's steps, the drain order and the state write through the names the target
overrides.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any, ClassVar

import pytest
from singer_sdk import typing as th
from singer_sdk.exceptions import InvalidRecord, RecordsWithoutSchemaException
from singer_sdk.sinks import Sink
from target_snowflake_finance.batch import with_metadata
from target_snowflake_finance.reader import BulkMessageReader
from target_snowflake_finance.sdk_hooks import (
    SDK_METADATA_FIELDS,
    SinkHooks,
    TargetHooks,
    process_unknown_message,
)

PROPS = {"Id": {"type": "integer"}, "Name": {"type": "string"}}
SCHEMA = {
    "type": "SCHEMA",
    "stream": "s",
    "schema": {"properties": PROPS},
    "key_properties": ["Id"],
}


def record(n: int) -> dict[str, Any]:
    return {"type": "RECORD", "stream": "s", "record": {"Id": n, "Name": f"n{n}"}}


class RecordingSink(SinkHooks):
    calls: ClassVar[list[tuple[str, Any]]] = []

    @property
    def max_size(self) -> int:
        return 2

    @property
    def include_sdc_metadata_properties(self) -> bool:
        return True  # as SnowflakeSink

    def process_batch(self, context: dict) -> None:
        self.calls.append(("process_batch", [r["Id"] for r in context.get("records", [])]))


class RecordingTarget(TargetHooks):
    name = "target-hooks-test"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = RecordingSink
    calls = RecordingSink.calls

    def install_signal_handlers(self) -> None:
        self.calls.append(("install_signal_handlers", None))  # the SDK's stay off in tests

    def require_sink(self, stream_name: str) -> None:
        self.calls.append(("require_sink", stream_name))
        super().require_sink(stream_name)

    def on_schema(self, message: dict) -> None:
        self.calls.append(("on_schema", message["stream"]))
        super().on_schema(message)

    def on_record(self, message: dict) -> None:
        self.calls.append(("on_record", message["record"]["Id"]))
        super().on_record(message)

    def on_state(self, message: dict) -> None:
        self.calls.append(("on_state", message["value"]))
        super().on_state(message)

    def drain_sinks(self, sink_list: Any, parallelism: int) -> None:
        first = sink_list is self.replaced_sinks
        self.calls.append(("drain_sinks", (first, parallelism)))
        super().drain_sinks(sink_list, parallelism)

    def write_state(self, state: dict) -> None:
        self.calls.append(("write_state", state))
        super().write_state(state)


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    RecordingSink.calls.clear()


def listen(target: RecordingTarget, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def named(kind: str) -> list[Any]:
    return [value for name, value in RecordingSink.calls if name == kind]


def test_each_message_type_and_the_state_write_go_through_the_hooks() -> None:
    target = RecordingTarget(config={})
    assert named("install_signal_handlers") == [None]  # from PluginBase.__init__
    state = {"bookmarks": {"s": 3}}
    messages = [SCHEMA, record(1), record(2), record(3), {"type": "STATE", "value": state}]
    written = listen(target, messages)

    assert named("on_schema") == ["s"]
    assert named("on_record") == [1, 2, 3]
    assert named("on_state") == [state]
    assert target.latest_state == state
    # drain_all: the replaced sinks (that very list, one at a time), then the active ones.
    assert named("drain_sinks")[:2] == [(True, 1), (False, target.max_parallelism)]
    assert named("write_state") == [state]
    assert written == [state]


def test_the_metadata_the_target_adds_is_the_sdks_in_its_order() -> None:
    """Rejects and dead letters carry the `_sdc_*` keys as the SDK's record path adds them
    (`Sink._add_sdc_metadata_to_record`), and the batch columns are the same fields."""
    target = RecordingTarget(config={})
    listen(target, [SCHEMA])
    sink = target.active_sinks["s"]
    assert isinstance(sink, RecordingSink)
    context = sink.batch_context({"Id": 1})
    message = {"time_extracted": "2024-01-01T00:00:00+00:00", "version": 3}
    sdk = {"Id": 1, "Name": "a"}
    ours = with_metadata(
        dict(sdk),
        extracted_at=message["time_extracted"],
        received_us=0,
        batched_at=context["batch_start_time"],
        sequence=1,
        table_version=message["version"],
        sync_started_at=sink.sync_started_at,
    )
    sink._add_sdc_metadata_to_record(sdk, message, context)
    assert list(ours) == list(sdk) == ["Id", "Name", *SDK_METADATA_FIELDS]
    varying = {"_sdc_received_at", "_sdc_sequence"}  # clock readings
    assert {k: v for k, v in ours.items() if k not in varying} == {
        k: v for k, v in sdk.items() if k not in varying
    }


def test_a_batch_context_is_started_once_and_current_size_counts_it() -> None:
    target = RecordingTarget(config={})
    listen(target, [SCHEMA, record(1), record(2), record(3)])
    assert named("process_batch") == [[1, 2], [3]]  # full at max_size, the rest at the end

    sink = target.active_sinks["s"]
    assert isinstance(sink, RecordingSink)
    context = sink.batch_context({"Id": 4})
    assert sink.batch_context({"Id": 5}) is context  # the pending batch, not a new one
    assert set(context) >= {"batch_id", "batch_start_time"}
    sink.tally_record_read()
    assert sink.current_size == 1
    target.drain_one(sink)
    assert sink.current_size == 0


def test_record_validator_is_the_sinks_validator() -> None:
    target = RecordingTarget(config={})
    listen(target, [SCHEMA])
    sink = target.active_sinks["s"]
    assert isinstance(sink, RecordingSink)
    assert sink.record_validator is not None
    sink.record_validator.validate({"Id": 1, "Name": "a"})
    with pytest.raises(InvalidRecord):
        sink.record_validator.validate({"Id": "one", "Name": "a"})


def test_a_record_before_its_schema_reaches_require_sink() -> None:
    with pytest.raises(RecordsWithoutSchemaException):
        listen(RecordingTarget(config={}), [record(1)])
    assert named("require_sink") == ["s"]


def test_check_record_age_drains_every_sink_once_records_are_too_old(monkeypatch) -> None:
    target = RecordingTarget(config={})
    listen(target, [SCHEMA])
    sink: Sink = target.active_sinks["s"]
    target.on_record(record(1))
    RecordingSink.calls.clear()
    target.check_record_age()
    assert named("process_batch") == []  # a fresh record is young enough
    monkeypatch.setattr(RecordingTarget, "_MAX_RECORD_AGE_IN_MINUTES", -1)
    target.check_record_age()
    assert named("process_batch") == [[1]]
    assert sink.current_size == 0


def test_an_unknown_message_type_is_refused_by_the_sdk() -> None:
    with pytest.raises(ValueError, match="Unknown message type 'BOGUS'"):
        process_unknown_message(BulkMessageReader(), {"type": "BOGUS"})
