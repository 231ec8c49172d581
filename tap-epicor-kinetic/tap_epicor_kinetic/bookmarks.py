"""Late commits: where a run starts so that rows committed after an earlier run still arrive.

Epicor takes a row's SysRevID (a SQL Server rowversion) when the row is written, not when its
transaction commits, so a long transaction can make a row visible whose SysRevID is already below
a bookmark a run saved. If no transaction stays open longer than the lookback L, a row missed by
the previous run (which started at P) committed after P, so its SysRevID was taken after P - L;
every value of a bookmark saved at or before P - L was taken before that, hence lower. The next
run therefore starts from the newest bookmark saved at least L before the previous run started.
The partition state keeps a short ring of (saved at, bookmark) pairs for this.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

STATE_KEY = "late_commit"
#: Ring entries kept at most (one per run; older ones are pruned once a newer one qualifies).
MAX_ENTRIES = 50


@dataclass(frozen=True)
class Saved:
    """A bookmark and when the run that reached it finished."""

    saved_at: dt.datetime
    value: t.Any
    tiebreak: dict[str, t.Any] | None


def _parse(text: t.Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


def ring(state: dict[str, t.Any]) -> tuple[list[Saved], dt.datetime | None]:
    """The saved bookmarks (oldest first) and when the previous run started."""
    stored = state.get(STATE_KEY)
    if not isinstance(stored, dict):
        return [], None
    entries = []
    for item in stored.get("bookmarks") or []:
        if not isinstance(item, list) or len(item) != 3:
            continue
        saved_at = _parse(item[0])
        if saved_at is not None:
            tiebreak = item[2] if isinstance(item[2], dict) else None
            entries.append(Saved(saved_at, item[1], tiebreak))
    return entries, _parse(stored.get("previous_start"))


def starting_point(state: dict[str, t.Any], lookback: dt.timedelta) -> Saved | bool | None:
    """Where this run starts: a saved bookmark, None (from the beginning), or False (no ring).

    False means the state predates the ring (or the lookback is 0): start from the bookmark.
    """
    entries, previous_start = ring(state)
    if not lookback or previous_start is None or not entries:
        return False
    cutoff = previous_start - lookback
    eligible = [entry for entry in entries if entry.saved_at <= cutoff]
    return eligible[-1] if eligible else None


def record_run(
    state: dict[str, t.Any],
    *,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    value: t.Any,
    tiebreak: dict[str, t.Any] | None,
    lookback: dt.timedelta,
) -> None:
    """Add this run's bookmark to the ring and drop entries no later run can need."""
    entries, _ = ring(state)
    if value is not None:
        entries.append(Saved(finished_at, value, tiebreak))
    # The next run needs the newest entry saved at least `lookback` before this run started.
    cutoff = started_at - lookback
    eligible = [i for i, entry in enumerate(entries) if entry.saved_at <= cutoff]
    if eligible:
        entries = entries[eligible[-1] :]
    entries = entries[-MAX_ENTRIES:]
    state[STATE_KEY] = {
        "previous_start": started_at.isoformat(),
        "bookmarks": [[e.saved_at.isoformat(), e.value, e.tiebreak] for e in entries],
    }
