"""Records out: a row becomes a record, and a record RECORD lines through the msgspec writer.

The SDK's msgspec writer is faster than its default simplejson one; the tap also writes RECORD
lines without building a message object per record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.encoding.simple import Message

from tap_epicor_kinetic.records import ConversionError, RecordPlan
from tap_epicor_kinetic.run_log import RUN
from tap_epicor_kinetic.timeutil import utc_now

if t.TYPE_CHECKING:
    from tap_epicor_kinetic.client import EpicorStream

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python < 3.12
    from typing_extensions import override


class FastWriter(MsgSpecWriter):
    """msgspec serialization (Decimals stay JSON numbers); works on any stdout.

    RECORD lines are buffered and every other message (SCHEMA, STATE, ...) flushes them: the SDK
    flushes after each record, one write system call per record on a pipe. A STATE line is never
    seen before the records it covers, so a tap killed mid-page loses only records that no
    emitted state vouches for, and the next run reads them again.
    The SDK's writer writes bytes to `sys.stdout.buffer`; a text-only stdout (a redirect in
    tests or embedding code) gets the same line as text.
    """

    @override
    def write_message(self, message: Message) -> None:
        if isinstance(message, RecordMessage):
            RUN.records[message.stream] += 1
        self._write(self.format_message(message), flush=not isinstance(message, RecordMessage))

    @override
    def serialize_message(self, message: Message) -> bytearray:
        # The SDK's Message.to_dict is dataclasses.asdict, which copies every nested dict and
        # list: a STATE carrying the open documents' child keys took tens of milliseconds.
        # The same fields, None ones left out as to_dict does, serialised without the copy.
        fields = {
            field.name: value
            for field in dataclasses.fields(message)
            if (value := getattr(message, field.name)) is not None
        }
        return serialize_jsonl(fields)

    def write_record(
        self,
        stream: str,
        record: dict[str, t.Any],
        version: int | None,
        time_extracted: dt.datetime,
    ) -> None:
        """A RECORD line, byte for byte what `write_message(RecordMessage(...))` writes.

        The tap's hot path: no message object and no dict copy per record.
        """
        RUN.records[stream] += 1
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = time_extracted
        self._write(serialize_jsonl(message), flush=False)

    @staticmethod
    def _write(data: bytes | bytearray, *, flush: bool) -> None:
        out = sys.stdout
        buffer = getattr(out, "buffer", None)
        if buffer is None:
            out.write(data.decode())
        else:
            buffer.write(data)
        if flush:
            out.flush()


def record_plan(stream: EpicorStream) -> RecordPlan:
    """How the stream's rows become records: after prepare() settled the key and UD columns.

    A stream that is not selected emits nothing but still moves its bookmark for its
    selected children: its records keep every field.
    """

    def keep(name: str) -> bool:
        return (
            not stream.selected
            or name == stream.replication_key
            or bool(stream.mask.get(("properties", name), True))
        )

    return RecordPlan.build(
        stream.schema, odata_name=stream.odata_name, selected=keep, zone=stream.services.zone
    )


def conversion_error(
    stream: EpicorStream, row: dict[str, t.Any], exc: ConversionError
) -> FatalAPIError:
    """The error that stops the run at a value that cannot be converted exactly.

    It names the row and field: the tap has no quarantine, and a truncated amount or key would
    load a wrong row silently.
    """
    keys = ", ".join(
        f"{key}={row.get(stream.odata_name(key))}" for key in stream.primary_keys or []
    )
    field = exc.field or "a field"
    msg = (
        f"Stream '{stream.name}': row {keys or '(no key)'}: {field} {exc.reason}, which "
        f"the schema declares as {_declared(stream, exc.field)}; the tap does not round or "
        "guess, so it stopped before this row. Fix the value in Epicor, or deselect "
        f"the field ({stream.name}.{field}) in the catalog."
    )
    return FatalAPIError(msg)


def _declared(stream: EpicorStream, field: str) -> str:
    prop = stream.schema["properties"].get(field, {})
    if prop.get("format") in {"x-singer.decimal", "singer.decimal"}:
        return "an exact decimal"
    types = [t_ for t_ in t.cast("list[str]", prop.get("type") or []) if t_ != "null"]
    return prop.get("format") or " or ".join(types) or "its type"


def write_records(stream: EpicorStream, record: dict[str, t.Any]) -> bool:
    """Write the record's RECORD lines straight to a FastWriter; False for another writer.

    No message object per record (see record_messages for what is skipped and why); another
    writer gets the SDK's path.
    """
    writer = stream.message_writer
    if not isinstance(writer, FastWriter):
        return False
    extracted = stream.extracted_at or utc_now()
    for alias, mapped in through_maps(stream, record):
        writer.write_record(alias, mapped, stream.stream_version, extracted)
    return True


def record_messages(stream: EpicorStream, record: dict[str, t.Any]) -> t.Iterator[RecordMessage]:
    """The RECORD messages of one record, through the stream maps.

    The SDK's version first walks every record against the selection mask (18% of the tap's
    CPU in a profile, benchmarks/RESULTS.md); to_record already emits selected fields only,
    and TYPE_CONFORMANCE_LEVEL is NONE.
    """
    extracted = stream.extracted_at or utc_now()
    for alias, mapped in through_maps(stream, record):
        yield RecordMessage(
            stream=alias, record=mapped, version=stream.stream_version, time_extracted=extracted
        )


def through_maps(
    stream: EpicorStream, record: dict[str, t.Any]
) -> t.Iterator[tuple[str, dict[str, t.Any]]]:
    """(stream alias, record) for each stream map that keeps the record."""
    for stream_map in stream.stream_maps:
        mapped = stream_map.transform(record)
        if mapped is not None:
            yield stream_map.stream_alias, mapped
