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

    The pages in flight form a chain. A *start* page is a plain keyset page after the last row
    yielded (`window(last)`, `$top`). Each further page overlaps its predecessor by one row: it
    uses `window(L)`, where L is the newest page end received, and the `$skip` that makes it
    begin on the predecessor's last row, so `$skip` stays below `limit·$top` however long the
    stream (a large `$skip` is slow on SQL Server). A page is used only when its first row is
    exactly the last row yielded: then it is a contiguous slice of the ordering and nothing
    between was missed. Otherwise (a row moved by a write mid-sync, a server row cap below
    `$top`, a short page) the chain is dropped and a start page after the last row yielded
    begins a new one, which is always correct; the worst case costs wasted requests, never rows.
    Next pages are requested before a page is handed over, so they are in flight while the
    caller turns it into records.
    """
    top = page_size
    executor = ThreadPoolExecutor(max_workers=limit.maximum + 1, thread_name_prefix="epicor-page")
    #: (True for a start page, the request) in keyset order.
    pending: deque[tuple[bool, Future[list[Row]]]] = deque()

    def start_page(anchor: Position | None) -> None:
        pending.append((True, executor.submit(fetch, window(anchor), 0, top)))

    def extend_chain(anchor: Position | None) -> None:
        """Fill the chain up to the limit; `anchor` is the last row of the page in hand."""
        while len(pending) < limit.current:
            if not pending:
                start_page(anchor)
                continue
            if top < 2:
                return  # pages of one row cannot overlap: one keyset page at a time
            # Rows after `anchor` covered by the chain: a start page adds $top, others $top-1.
            covered = len(pending) * (top - 1) + (1 if pending[0][0] else 0)
            pending.append((False, executor.submit(fetch, window(anchor), covered - 1, top)))

    def drop_chain() -> None:
        for _, stale in pending:
            stale.cancel()
        pending.clear()

    upper: Position | None = None
    last: Position | None = None
    try:
        upper_future = executor.submit(bound) if bound is not None and limit.current >= 2 else None
        if bound is not None and upper_future is None:
            upper = bound()
            if upper is None:
                return
        start_page(None)
        if upper_future is not None:
            upper = upper_future.result()
            if upper is None:
                return
        while pending:
            is_start, future = pending.popleft()
            rows = future.result()
            if is_start:
                if not rows:
                    return  # nothing after the last row yielded: the window is done
                skip = 0
            elif rows and position(rows[0]) == last:
                skip = 1
            else:
                drop_chain()  # not contiguous with what was yielded: start again from there
                start_page(last)
                continue
            new_last = position(rows[-1])
            if last is not None and not new_last > last:
                raise OutOfOrderError
            short = len(rows) < top
            at_end = False
            if upper is not None and not new_last < upper:
                at_end, end = True, upper
                if new_last != end:  # rows written since the sync started: the next sync's
                    rows = [row for row in rows if not position(row) > end]
            if not at_end and not short:
                extend_chain(new_last)
            fresh = rows[skip:]
            if fresh:
                yield fresh
            last = new_last
            if at_end:
                return
            if short:
                # The end of the window, or a server row cap below $top: learn the cap and go
                # on after the last row (an empty start page ends the window).
                if len(rows) >= 2:
                    top = len(rows)
                drop_chain()
                start_page(last)
    finally:
        drop_chain()
        executor.shutdown(wait=False, cancel_futures=True)
