"""A batch's records as Arrow columns in the table plan's order; a value that cannot land is a
reject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from target_snowflake_finance.batch import LOAD_ID_FIELD, BatchMetadata
from target_snowflake_finance.table_plan import TablePlan
from target_snowflake_finance.types import check_value, to_arrow


class InvalidRecordError(Exception):
    """A record that cannot land, with `on_invalid_record: fail`."""


@dataclass
class Reject:
    record: dict[str, Any]
    reason: str


def key_text(keys: Sequence[str], record: dict[str, Any]) -> str:
    return ", ".join(f"{k}={record.get(k)!r}" for k in keys) or "(no key)"


def invalid_message(stream: str, keys: Sequence[str], record: dict[str, Any], reason: str) -> str:
    return (
        f"invalid record in stream {stream!r} (key {key_text(keys, record)}): "
        f"{reason}. Fix the source, or set on_invalid_record to 'quarantine' to send such "
        "records to the rejects table"
    )


def _values(records: list[dict[str, Any]], field: str) -> list[Any]:
    """One field of every record (None where absent), at C speed when every record has it."""
    try:
        return list(map(itemgetter(field), records))
    except KeyError:
        return [r.get(field) for r in records]


@dataclass(frozen=True)
class BatchColumns:
    """Converts one stream's batches, by its table plan."""

    plan: TablePlan
    load_id: str
    stream: str
    quarantine: bool  # on_invalid_record: quarantine (else a bad value fails the run)

    def arrays(
        self, records: list[dict[str, Any]], metadata: BatchMetadata | None = None
    ) -> tuple[list[pa.Array], list[Reject]]:
        """Arrow columns for the records; values that cannot land exactly become rejects.

        With `metadata`, the `_sdc_*` columns come from it; without, from the records (replay).
        """
        plan = self.plan
        bad: dict[int, str] = {}
        arrays: list[pa.Array] = []
        rows = len(records)
        values_of: dict[str, list[Any]] = {}
        if plan.load_method != "append-only":
            # MERGE matches keys with `=`, and NULL never equals NULL: such a row would be
            # inserted again on every run.
            for k in plan.key_fields:
                values = values_of[k] = _values(records, k)
                if None not in values:
                    continue
                for i, v in enumerate(values):
                    if v is None and i not in bad:
                        bad[i] = f"key field {k!r} is null; {plan.load_method} needs every key"
        for f in plan.fields:
            if f == LOAD_ID_FIELD:
                arrays.append(pa.array([self.load_id] * rows, pa.string()))
                continue
            ctype = plan.types[f]
            if metadata is not None:
                try:
                    column = metadata.column(f, ctype, rows)
                except Exception:  # a metadata value that does not fit: judge it per record
                    return self.arrays(metadata.attach(records))
                if column is not None:
                    arrays.append(column)
                    continue
            values = values_of.get(f) or _values(records, f)
            try:
                arrays.append(to_arrow(values, ctype))
            except Exception:
                for i, v in enumerate(values):
                    if i not in bad and (reason := check_value(v, ctype)):
                        bad[i] = f"field {f!r}: {reason}"
                arrays.append(pa.nulls(rows, ctype.arrow_type))
        if not bad:
            return arrays, []
        if metadata is not None:
            # Rejects keep the record as the SDK passed it on, metadata included.
            return self.arrays(metadata.attach(records))
        rejects = [Reject(records[i], reason) for i, reason in sorted(bad.items())]
        if not self.quarantine:
            first = rejects[0]
            raise InvalidRecordError(
                invalid_message(self.stream, plan.key_fields, first.record, first.reason)
            )
        keep = [r for i, r in enumerate(records) if i not in bad]
        arrays, more = self.arrays(keep)
        return arrays, rejects + more

    def key_range(self, arrays: list[pa.Array]) -> tuple[str | None, str | None]:
        """Min and max replication key of the batch, from its (already converted) column."""
        key, fields = self.plan.replication_key, self.plan.fields
        if not key or key not in fields:
            return None, None
        column = arrays[fields.index(key)]
        if column.null_count == len(column):
            return None, None
        if pa.types.is_string(column.type):
            values = [v for v in column.to_pylist() if v is not None]
            return min(values), max(values)
        bounds = pc.min_max(column)
        return tuple(  # type: ignore[return-value]
            v.isoformat() if hasattr(v, "isoformat") else str(v)
            for v in (bounds["min"].as_py(), bounds["max"].as_py())
        )
