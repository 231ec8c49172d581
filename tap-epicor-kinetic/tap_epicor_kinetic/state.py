"""Where a sync starts and what may move its bookmark: keyset positions and the tie-break.

A bookmark is a position in the keyset ordering (replication key, then tie-break columns, e.g.
SysRevID); the tie-break sits next to the SDK's `replication_key_value` in the partition state.
A sync starts after the saved position, or earlier for late commits (bookmarks.py), and rows
stamped after the server's clock or re-read below the bookmark emit without moving it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import time
import typing as t
from dataclasses import dataclass

from singer_sdk.exceptions import FatalAPIError

from tap_epicor_kinetic import bookmarks, odata
from tap_epicor_kinetic.clock import TOLERANCE
from tap_epicor_kinetic.odata import Scalar
from tap_epicor_kinetic.timeutil import (
    looks_like_date,
    looks_like_datetime,
    parse_server_datetime,
    utc_now,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_epicor_kinetic.client import EpicorStream

Position = tuple[Scalar, ...]
TIEBREAK_STATE_KEY = "replication_key_tiebreak"
#: Least seconds between two STATE messages written from inside a page of parents.
CHILD_STATE_INTERVAL_S = 10.0


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


class StateClock:
    """When this process last wrote a STATE (monotonic clock; shared by every stream)."""

    written_at = float("-inf")

    def recent(self) -> bool:
        """Whether a STATE was written less than CHILD_STATE_INTERVAL_S ago."""
        return time.monotonic() - self.written_at < CHILD_STATE_INTERVAL_S

    def written(self) -> None:
        """A STATE is being written now."""
        self.written_at = time.monotonic()


STATE_CLOCK = StateClock()


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


def is_date_key(stream: EpicorStream) -> bool:
    """Whether the replication key is a date or date-time column."""
    prop = stream.schema["properties"].get(stream.replication_key or "", {})
    return prop.get("format") in {"date-time", "date"}


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


def start_filter(stream: EpicorStream) -> str | None:
    """start_date through the entity's date column, when the replication key is no date."""
    start = stream.services.start_date
    if start is None or not stream.replication_key or is_date_key(stream):
        return None
    if stream.start_date_column:
        return f"{stream.odata_name(stream.start_date_column)} ge {odata.literal(start)}"
    return None


def lower_bound(
    stream: EpicorStream, context: Context | None
) -> tuple[str | None, Position | None]:
    """(keyset filter where this sync starts, the saved bookmark's position).

    After the bookmark, or, with a late-commit lookback, after an older bookmark (a ring of
    them in state, see bookmarks.py) or lookback before a date-time bookmark; else at
    start_date for a date key, from the beginning otherwise.
    """
    key = stream.replication_key
    if not key or stream.replication_method != "INCREMENTAL":
        # FULL_TABLE (e.g. forced in the catalog) reads every row, whatever the state says.
        return None, None
    column = stream.odata_name(key)
    state = stream.get_context_state(context)
    bookmark = state.get("replication_key_value")
    lookback = stream.services.late_commit_lookback
    if bookmark is not None and state.get("replication_key") == key:
        floor = saved_position(stream, bookmark, state.get(TIEBREAK_STATE_KEY))
        if is_date_key(stream):
            value = floor[0]
            if lookback and isinstance(value, dt.datetime):
                return f"{column} ge {odata.literal(value - lookback)}", floor
            return from_position(stream, floor), floor
        start = bookmarks.starting_point(state, lookback)
        if start is False:
            return from_position(stream, floor), floor
        if isinstance(start, bookmarks.Saved):
            older = saved_position(stream, start.value, start.tiebreak)
            return from_position(stream, older), floor
        stream.logger.info(
            "Stream '%s': no bookmark was saved %s before the previous run started; "
            "reading from the beginning so that late commits are not missed.",
            stream.name,
            lookback,
        )
        return None, floor
    if bookmark is not None:
        stream.logger.warning(
            "Stream '%s': the saved bookmark is on %s, the replication key is now %s; "
            "starting from start_date.",
            stream.name,
            state.get("replication_key"),
            key,
        )
        # The old key's values cannot be compared with the new key's.
        for stale in ("replication_key", "replication_key_value", TIEBREAK_STATE_KEY):
            state.pop(stale, None)
        state.pop(bookmarks.STATE_KEY, None)
    start_date = stream.services.start_date
    if start_date is None or not is_date_key(stream):
        return None, None
    return f"{column} ge {odata.literal(start_date)}", None


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


def record_run(stream: EpicorStream, context: Context | None, started: dt.datetime) -> None:
    """Add this run's bookmark to the partition's late-commit ring (bookmarks.py)."""
    if not stream.replication_key or stream.replication_method != "INCREMENTAL":
        return
    state = stream.get_context_state(context)
    bookmarks.record_run(
        state,
        started_at=started,
        finished_at=utc_now(),
        value=state.get("replication_key_value"),
        tiebreak=state.get(TIEBREAK_STATE_KEY),
        lookback=stream.services.late_commit_lookback,
    )


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
