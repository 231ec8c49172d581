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


class InFlight:
    """The page requests not yet handed over, in keyset order, at most `limit.current` of them.

    They form a chain. A *start* page is a plain keyset page after an anchor (`window(anchor)`,
    `$top`). Each further page overlaps its predecessor by one row: it uses `window(L)`, where L
    is the newest page end received, and the `$skip` that makes it begin on the predecessor's
    last row, so `$skip` stays below `limit·$top` however long the stream (a large `$skip` is
    slow on SQL Server).
    """

    def __init__(
        self,
        fetch: Fetch,
        window: t.Callable[[Position | None], str | None],
        *,
        top: int,
        limit: AdaptiveLimit,
    ) -> None:
        """Nothing requested yet; one worker per request that may be in flight, plus the bound."""
        self.fetch = fetch
        self.window = window
        #: $top of every request; lowered once a server row cap below it is seen.
        self.top = top
        self.limit = limit
        self.executor = ThreadPoolExecutor(
            max_workers=limit.maximum + 1, thread_name_prefix="epicor-page"
        )
        #: (True for a start page, the request) in keyset order.
        self.pending: deque[tuple[bool, Future[list[Row]]]] = deque()

    def start(self, anchor: Position | None) -> None:
        """Request a start page: the rows after `anchor`."""
        request = self.executor.submit(self.fetch, self.window(anchor), 0, self.top)
        self.pending.append((True, request))

    def extend(self, anchor: Position | None) -> None:
        """Fill the chain up to the limit; `anchor` is the last row of the page in hand."""
        top = self.top
        pending = self.pending
        while len(pending) < self.limit.current:
            if not pending:
                self.start(anchor)
                continue
            if top < 2:
                return  # pages of one row cannot overlap: one keyset page at a time
            # Rows after `anchor` covered by the chain: a start page adds $top, others $top-1.
            covered = len(pending) * (top - 1) + (1 if pending[0][0] else 0)
            request = self.executor.submit(self.fetch, self.window(anchor), covered - 1, top)
            pending.append((False, request))

    def restart(self, anchor: Position | None) -> None:
        """Drop the chain and begin a new one with a start page after `anchor`."""
        self.drop()
        self.start(anchor)

    def drop(self) -> None:
        """Cancel every request not yet handed over (one already running finishes unread)."""
        for _, stale in self.pending:
            stale.cancel()
        self.pending.clear()

    def close(self) -> None:
        """Drop the chain and let the workers go without waiting for them."""
        self.drop()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def harvest(self) -> tuple[bool, list[Row]]:
        """The oldest request's rows (waits for them; its error is raised here), and whether
        it was a start page."""
        is_start, request = self.pending.popleft()
        return is_start, request.result()


class KeysetReader:
    """Takes the pages of an `InFlight` chain in order, keeping only those that continue what
    was yielded, and cuts the window at the sync's upper bound."""

    def __init__(self, requests: InFlight, position: t.Callable[[Row], Position]) -> None:
        """Nothing yielded yet, no upper bound known."""
        self.requests = requests
        self.position = position
        #: Position of the last row of the window (None: no bound).
        self.upper: Position | None = None
        #: Position of the last row yielded (or skipped as a repeat).
        self.last: Position | None = None

    def open(self, bound: t.Callable[[], Position | None] | None) -> bool:
        """Request the first page, and the upper bound alongside it when there is a worker
        to spare; False when `bound()` says there is nothing to read."""
        requests = self.requests
        if bound is None:
            requests.start(None)
            return True
        if requests.limit.current < 2:
            self.upper = bound()
            if self.upper is None:
                return False
            requests.start(None)
            return True
        upper = requests.executor.submit(bound)
        requests.start(None)
        self.upper = upper.result()
        return self.upper is not None

    def pages(self) -> t.Iterator[list[Row]]:
        """New rows, page by page; next pages are requested before a page is handed over,
        so they are in flight while the caller turns it into records."""
        requests = self.requests
        while requests.pending:
            harvested = self.next_contiguous()
            if harvested is None:
                return
            rows, skip = harvested
            short = len(rows) < requests.top
            rows, new_last, at_end = self.cut(rows, skip)
            if not at_end and not short:
                requests.extend(new_last)
            fresh = rows[skip:]
            if fresh:
                yield fresh
            self.last = new_last
            if at_end:
                return
            if short:
                # The end of the window, or a server row cap below $top: learn the cap and go
                # on after the last row (an empty start page ends the window).
                if len(rows) >= 2:
                    requests.top = len(rows)
                requests.restart(self.last)

    def next_contiguous(self) -> tuple[list[Row], int] | None:
        """The next page that continues the rows yielded, with how many of its leading rows
        were yielded already; None when the window is done.

        A chained page is used only when its first row is exactly the last row yielded: then it
        is a contiguous slice of the ordering and nothing between was missed. Otherwise (a row
        moved by a write mid-sync, a server row cap below `$top`, a short page) the chain is
        dropped and a start page after the last row yielded begins a new one, which is always
        correct; the worst case costs wasted requests, never rows.
        """
        requests = self.requests
        while requests.pending:
            is_start, rows = requests.harvest()
            if is_start:
                if not rows:
                    return None  # nothing after the last row yielded: the window is done
                return rows, 0
            if rows and self.position(rows[0]) == self.last:
                return rows, 1
            requests.restart(self.last)  # not contiguous with what was yielded
        return None

    def cut(self, rows: list[Row], skip: int) -> tuple[list[Row], Position, bool]:
        """(the page's rows up to the upper bound, its last row's position, whether it reaches
        the bound); raises OutOfOrderError when the page's new rows do not sort after the last
        one."""
        new_last = self.position(rows[-1])
        # A chained page of only the row it overlaps is where the rows end, not out of order:
        # it is short, so a start page after it confirms the end.
        if self.last is not None and not new_last > self.last and len(rows) > skip:
            raise OutOfOrderError
        upper = self.upper
        if upper is None or new_last < upper:
            return rows, new_last, False
        if new_last != upper:  # rows written since the sync started: the next sync's
            position = self.position
            rows = [row for row in rows if not position(row) > upper]
        return rows, new_last, True


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
    Pages are requested as a chain (`InFlight`) and taken in order (`KeysetReader`); whatever
    is still in flight when the caller stops or a request fails is cancelled.
    """
    requests = InFlight(fetch, window, top=page_size, limit=limit)
    try:
        reader = KeysetReader(requests, position)
        if reader.open(bound):
            yield from reader.pages()
    finally:
        requests.close()
