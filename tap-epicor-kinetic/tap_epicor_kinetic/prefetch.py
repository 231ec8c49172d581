"""Concurrent keyset paging: pages fetched ahead by $skip from a keyset anchor, yielded in order."""

from __future__ import annotations

import logging
import threading
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from tap_epicor_kinetic.odata import Scalar

Position = tuple[Scalar, ...]
Row = dict[str, t.Any]
#: fetch(filter, skip, top) -> rows; runs on a worker thread.
Fetch = t.Callable[[str | None, int, int], list[Row]]

# After this many answered requests in a row without a throttle, one more may run at once.
REGROW_AFTER = 20


class AdaptiveLimit:
    """How many requests may be in flight: halved on 429 / license exhaustion, regrown by one.

    Additive increase, multiplicative decrease (as TCP does): a throttled server gets relief at
    once, and the tap creeps back to `maximum` only after a run of clean answers.
    """

    def __init__(self, maximum: int, logger: logging.Logger) -> None:
        """Start at `maximum` (at least 1)."""
        self.maximum = max(1, maximum)
        self._current = self.maximum
        self._clean = 0
        self._lock = threading.Lock()
        self._logger = logger

    @property
    def current(self) -> int:
        """Requests that may be in flight now."""
        return self._current

    def throttled(self, reason: str) -> None:
        """Epicor said 429 or ran out of license seats: halve the concurrency."""
        with self._lock:
            self._clean = 0
            lowered = max(1, self._current // 2)
            if lowered < self._current:
                self._logger.warning(
                    "%s: lowering max_concurrent_requests in use from %d to %d.",
                    reason,
                    self._current,
                    lowered,
                )
                self._current = lowered

    def succeeded(self) -> None:
        """A request was answered: after a run of these, allow one more at once."""
        with self._lock:
            if self._current >= self.maximum:
                return
            self._clean += 1
            if self._clean >= REGROW_AFTER:
                self._clean = 0
                self._current += 1
                self._logger.info("Concurrent requests back up to %d.", self._current)


class OutOfOrderError(Exception):
    """A page's last row does not sort after the previous page's last row."""


def prefetched_pages(
    fetch: Fetch,
    position: t.Callable[[Row], Position],
    window: t.Callable[[Position | None], str | None],
    *,
    bound: t.Callable[[], Position | None] | None,
    page_size: int,
    limit: AdaptiveLimit,
) -> t.Iterator[list[Row]]:
    """New rows, page by page and in keyset order, with up to `limit.current` pages in flight.

    `bound()` (when given) asks for the last row of the window, the sync's upper bound; it runs
    alongside the first page, which saves one round trip per stream, and rows past it are
    dropped (rows written after the sync started are the next sync's). None = nothing to read.
    Each round starts at a keyset anchor (the last row yielded; None = the window's start).
    Page 0 of a round is a plain keyset page (`window(anchor)`, `$top`); it also reveals a server
    row cap below `$top`. Pages j ≥ 1 use the same filter with `$skip = j·($top-1)`, so each
    starts on the last row of page j-1; they are requested before the page in hand is handed
    over. A page is used only when its first row is exactly the last row yielded: then it is a
    contiguous slice of the ordering after that row, and nothing between was missed. Otherwise
    (a row moved out of the window by a write mid-sync, a short or empty page) the round ends
    and a new one starts at the last row yielded, which is always correct; the worst case costs
    wasted requests, never rows.
    """
    anchor: Position | None = None
    top = page_size
    executor = ThreadPoolExecutor(max_workers=limit.maximum + 1, thread_name_prefix="epicor-page")
    upper: Position | None = None
    upper_future: Future[Position | None] | None = None
    try:
        if bound is not None:
            if limit.current >= 2:
                upper_future = executor.submit(bound)
            else:
                upper = bound()
                if upper is None:
                    return
        while True:
            filter_ = window(anchor)
            last = anchor
            pending: deque[tuple[int, Future[list[Row]]]] = deque()
            pending.append((0, executor.submit(fetch, filter_, 0, top)))
            next_index = 1
            try:
                if upper_future is not None:
                    upper, upper_future = upper_future.result(), None
                    if upper is None:
                        return
                while pending:
                    index, future = pending.popleft()
                    rows = future.result()
                    if index == 0:
                        if not rows:
                            return
                        start = 0
                    elif rows and position(rows[0]) == last:
                        start = 1
                    else:
                        break  # not contiguous with what was yielded: start again from there
                    new_last = position(rows[-1])
                    if last is not None and not new_last > last:
                        raise OutOfOrderError
                    short = len(rows) < top
                    at_end = False
                    if upper is not None and not new_last < upper:
                        at_end, end = True, upper
                        if new_last != end:  # rows written since the sync started: next sync's
                            rows = [row for row in rows if not position(row) > end]
                    if not at_end and not short and top >= 2:
                        # Ask for the next pages before handing this one over, so that they
                        # are in flight while the caller turns it into records.
                        while len(pending) < limit.current:
                            skip = next_index * (top - 1)
                            pending.append((next_index, executor.submit(fetch, filter_, skip, top)))
                            next_index += 1
                    fresh = rows[start:]
                    if fresh:
                        yield fresh
                    last = new_last
                    if at_end:
                        return
                    if short:
                        # The end of the window, or a server row cap below $top: learn the cap.
                        if len(rows) >= 2:
                            top = len(rows)
                        break
                    if not pending:
                        break  # $top of 1 cannot overlap: go on one keyset page at a time
            finally:
                for _, stale in pending:
                    stale.cancel()
            if last == anchor:
                return  # the round yielded nothing new (e.g. an empty page after a break)
            anchor = last
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
