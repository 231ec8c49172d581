"""Where a sync starts and what its STATE keeps: the saved bookmark and the late-commit ring.

A bookmark is a keyset position (positions.py); its tie-break sits next to the SDK's
`replication_key_value` in the partition state. A sync starts after the saved position, or
earlier for late commits (bookmarks.py); each run adds its bookmark to the ring at the end.
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t

from tap_epicor_kinetic import bookmarks, odata
from tap_epicor_kinetic.positions import from_position, saved_position
from tap_epicor_kinetic.timeutil import utc_now

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_epicor_kinetic.client import EpicorStream
    from tap_epicor_kinetic.positions import Position

TIEBREAK_STATE_KEY = "replication_key_tiebreak"
#: Least seconds between two STATE messages written from inside a page of parents.
CHILD_STATE_INTERVAL_S = 10.0


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


def is_date_key(stream: EpicorStream) -> bool:
    """Whether the replication key is a date or date-time column."""
    prop = stream.schema["properties"].get(stream.replication_key or "", {})
    return prop.get("format") in {"date-time", "date"}


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
