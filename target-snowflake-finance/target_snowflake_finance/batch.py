"""A batch's `_sdc_*` metadata, kept column-wise until the batch loads, and its sequence numbers."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from target_snowflake_finance.sdk_hooks import SDK_METADATA_FIELDS
from target_snowflake_finance.types import ColumnType, to_arrow

LOAD_ID_FIELD = "_sdc_load_id"
SEQUENCE_FIELD = "_sdc_sequence"
DELETED_FIELD = "_sdc_deleted_at"
METADATA_FIELDS = (*SDK_METADATA_FIELDS, LOAD_ID_FIELD)
UTC_MICROS = pa.timestamp("us", tz="UTC")

_sequence_lock = threading.Lock()
_last_sequence = 0


def next_sequences(count: int) -> int:
    """First of `count` sequence numbers, strictly increasing per process (µs since epoch, bumped).

    The SDK's `_sdc_sequence` is milliseconds, so records of one batch tie; the MERGE's
    last-record-wins dedupe needs a total order (reference §4.4: not SEQ8()). A batch takes one
    block, numbered in arrival order, so later records always get larger numbers.
    """
    global _last_sequence  # noqa: PLW0603
    with _sequence_lock:
        start = max(time.time_ns() // 1000, _last_sequence + 1)
        _last_sequence = start + max(count, 1) - 1
        return start


def micros_to_text(micros: int) -> str:
    """What the SDK writes for a receipt time: ISO 8601 in UTC."""
    return dt.datetime.fromtimestamp(micros / 1_000_000, dt.UTC).isoformat()


def with_metadata(
    record: dict[str, Any],
    *,
    extracted_at: Any,
    received_us: int,
    batched_at: dt.datetime,
    sequence: int,
    table_version: Any,
    sync_started_at: Any,
) -> dict[str, Any]:
    """A copy of the record with the `_sdc_*` keys the SDK adds, in its order and forms."""
    return {
        **record,
        "_sdc_extracted_at": extracted_at,
        "_sdc_received_at": micros_to_text(received_us),
        "_sdc_batched_at": batched_at.isoformat(),
        DELETED_FIELD: record.get(DELETED_FIELD),
        SEQUENCE_FIELD: sequence,
        "_sdc_table_version": table_version,
        "_sdc_sync_started_at": sync_started_at,
    }


@dataclass
class BatchMetadata:
    """The `_sdc_*` values of one batch's records, one list (or constant) per column.

    The SDK adds seven metadata keys to every record as it arrives, with two `isoformat` calls;
    here the per-record part is a receipt time, and the columns are built once per batch.
    `_sdc_deleted_at` stays the record's own value, as in the SDK.
    """

    extracted_at: list[Any]
    received_us: list[int]
    batched_at: dt.datetime
    table_version: list[Any]
    sequence_start: int
    sync_started_at: Any

    def column(self, field: str, ctype: ColumnType, rows: int) -> pa.Array | None:
        """The Arrow column of a metadata field (None: not metadata, read it from the records)."""
        if field == "_sdc_extracted_at":
            return to_arrow(self.extracted_at, ctype)
        if field == "_sdc_received_at":
            if ctype.arrow_type == UTC_MICROS:
                return pa.array(self.received_us, UTC_MICROS)
            return to_arrow([micros_to_text(v) for v in self.received_us], ctype)
        if field == "_sdc_batched_at":
            return to_arrow([self.batched_at] * rows, ctype)
        if field == SEQUENCE_FIELD:
            return to_arrow(range(self.sequence_start, self.sequence_start + rows), ctype)
        if field == "_sdc_table_version":
            return to_arrow(self.table_version, ctype)
        if field == "_sdc_sync_started_at":
            return to_arrow([self.sync_started_at] * rows, ctype)
        return None

    def row(self, index: int, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the SDK's per-record path would have passed it on (metadata inline)."""
        return with_metadata(
            record,
            extracted_at=self.extracted_at[index],
            received_us=self.received_us[index],
            batched_at=self.batched_at,
            sequence=self.sequence_start + index,
            table_version=self.table_version[index],
            sync_started_at=self.sync_started_at,
        )

    def attach(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every record with its metadata inline (for rejects, dead letters and replay)."""
        return [self.row(i, r) for i, r in enumerate(records)]
