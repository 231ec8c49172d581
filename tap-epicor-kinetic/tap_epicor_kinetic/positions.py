"""Keyset positions: where a row sits in the ordering, and whether its record moves the bookmark.

A position is a row's values of the replication key, then the tie-break columns (e.g. SysRevID),
datetimes in the server's zone. A saved bookmark becomes a position (state.py starts the sync
after it); while a page is emitted, the stream's `Cursor` says for each row whether its record
may move the bookmark and which tie-break goes with it: rows stamped after the server's clock
or re-read below the bookmark emit without moving it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing as t
from dataclasses import dataclass

from singer_sdk.exceptions import FatalAPIError

from tap_epicor_kinetic import odata
from tap_epicor_kinetic.clock import TOLERANCE
from tap_epicor_kinetic.odata import Scalar
from tap_epicor_kinetic.timeutil import looks_like_date, looks_like_datetime, parse_server_datetime

if t.TYPE_CHECKING:
    from tap_epicor_kinetic.client import EpicorStream

Position = tuple[Scalar, ...]


def json_safe(value: t.Any) -> t.Any:
    """A raw tie-break value as it can sit in the JSON state (integral Decimals as int)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else format(value, "f")
    return value


@dataclass
class Cursor:
    """Where one stream's sync is: what decides whether the record being emitted moves the
    bookmark, and the tie-break saved with it."""

    #: Position of the saved bookmark for this sync (None: none saved).
    floor: Position | None = None
    #: Tie-break values of the record being emitted (saved with the bookmark it sets).
    tiebreak: dict[str, t.Any] | None = None
    #: The record being emitted is stamped after the server's clock (never a bookmark).
    untrusted: bool = False
    #: True while rows re-read below the bookmark are emitted: they do not move it.
    hold: bool = False

    def may_move(self) -> bool:
        """Whether the record being emitted may become the bookmark."""
        return not (self.untrusted or self.hold)


def position_value(stream: EpicorStream, value: t.Any) -> Scalar:
    """An ordering column's raw value, comparable (datetimes in the server's zone)."""
    if value is None:
        msg = (
            f"Stream '{stream.name}': a row has no value for an ordering column "
            f"({', '.join(stream.ordering_fields())}); set replication_keys.{stream.name} to a "
            "column that is always filled."
        )
        raise FatalAPIError(msg)
    if looks_like_datetime(value):
        return parse_server_datetime(value, stream.services.zone)
    if isinstance(value, (bool, int, str, decimal.Decimal)):
        return value
    return str(value)


def position(stream: EpicorStream, row: dict[str, t.Any]) -> Position:
    """Where a raw row sits in the keyset ordering."""
    return tuple(
        position_value(stream, row.get(stream.odata_name(f))) for f in stream.ordering_fields()
    )


def saved_position(stream: EpicorStream, value: t.Any, tiebreak: t.Any) -> Position:
    """A saved bookmark as a keyset position (without tie-break when none was saved)."""
    first = position_value(stream, value)
    if isinstance(first, str) and looks_like_date(first):
        # A date column's bookmark (`2025-12-26`) is local midnight on the server.
        first = parse_server_datetime(f"{first}T00:00:00", stream.services.zone)
    tie_fields = [f for f in stream.ordering_fields() if f != stream.replication_key]
    if isinstance(tiebreak, dict) and list(tiebreak) == tie_fields:
        return (first, *[position_value(stream, v) for v in tiebreak.values()])
    return (first,)


def from_position(stream: EpicorStream, saved: Position) -> str:
    """Keyset filter for the rows after a saved position (at it, without a tie-break)."""
    columns = [stream.odata_name(f) for f in stream.ordering_fields()]
    if len(saved) == len(columns):
        return odata.after(columns, saved)
    # No tie-break saved (older or hand-written state): re-read rows at the bookmark.
    return f"{columns[0]} ge {odata.literal(saved[0])}"


def trusted_rows(stream: EpicorStream, rows: list[dict[str, t.Any]]) -> int:
    """How many leading rows of a page have a stamp that may become the bookmark.

    Rows are in replication-key order, so only the last row is checked unless it is
    stamped after the server's current time (plus clock.TOLERANCE).
    """
    key = stream.replication_key
    if (
        not rows
        or not key
        or stream.schema["properties"].get(key, {}).get("format") not in {"date-time"}
    ):
        return len(rows)
    column = stream.odata_name(key)
    clock = stream.services.server_clock
    latest = clock.latest_trusted()

    def beyond(row: dict[str, t.Any]) -> bool:
        value = position_value(stream, row.get(column))
        return isinstance(value, dt.datetime) and value > latest

    if not beyond(rows[-1]):
        return len(rows)
    trusted = next(i for i, row in enumerate(rows) if beyond(row))
    named = ", ".join(
        " ".join(
            [
                *(f"{k}={row.get(stream.odata_name(k))}" for k in stream.primary_keys or []),
                f"{column}={row.get(column)}",
            ]
        )
        for row in rows[trusted : trusted + 5]
    )
    stream.logger.warning(
        "Stream '%s': %d row(s) stamped after the server's current time (%s, plus %s), "
        "e.g. %s. They are emitted, but the bookmark stays before them, so the next run "
        "reads them again; check the server clock or the column's values.",
        stream.name,
        len(rows) - trusted,
        clock.now().isoformat(timespec="seconds"),
        TOLERANCE,
        named,
    )
    return trusted


def rows_with_cursor(
    stream: EpicorStream, rows: list[dict[str, t.Any]]
) -> t.Iterator[dict[str, t.Any]]:
    """The rows of one page, the stream's cursor set for each before it becomes a record.

    The SDK moves the bookmark after the record is yielded (sdk_hooks.StreamHooks), reading
    the cursor: the row's tie-break goes with it, and a row stamped after the server's clock or
    below the saved bookmark (a late-commit re-read) leaves it where it is.
    """
    cursor = stream.cursor
    floor = cursor.floor
    trusted = trusted_rows(stream, rows)
    key = stream.replication_key
    # Worked out once per page: the per-row work below runs for every header row of a first load.
    tie_columns = [(f, stream.odata_name(f)) for f in stream.ordering_fields() if f != key]
    ordering_columns = [stream.odata_name(f) for f in stream.ordering_fields()]
    for index, row in enumerate(rows):
        cursor.untrusted = index >= trusted
        if key:
            cursor.tiebreak = {f: json_safe(row.get(c)) for f, c in tie_columns}
            if floor is not None:
                cursor.hold = position(stream, row)[: len(floor)] < floor
            else:
                # The position is only needed below a floor; without one, only check that the
                # ordering columns are filled.
                cursor.hold = False
                if None in map(row.get, ordering_columns):
                    position(stream, row)  # fails naming the column and the setting
        yield row
