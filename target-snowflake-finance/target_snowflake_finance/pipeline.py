"""Per stream: stage the next batches while earlier ones load, in order, with bounded memory.

On a real account every statement is a cloud round trip and COPY/MERGE run on a warehouse: a
loader that waits for each batch's PUT, COPY, MERGE and COMMIT before reading on is idle most
of the time. Here the reading thread converts a batch (Parquet) and hands it over; a stager
thread uploads it (PUT) while a loader thread runs the transaction of the batch before it.
Each thread has its own Snowflake connection (a connection runs one statement at a time), and
each stream its own pair, so streams load in parallel while one stream's batches commit in the
order they were read. At most `max_in_flight` batches wait or load per stream; the reader
blocks beyond that. A batch handed over holds little memory (its records wait on disk for a
possible dead letter, spill.py): what memory holds is the batches being read.

A failed batch stops its stream: later batches of it are not loaded, and the failure is raised
in the reading thread at its next hand-over or wait, exactly as a failure in the reading
thread itself would be.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

from target_snowflake_finance import shutdown

logger = logging.getLogger("target_snowflake_finance")

T = TypeVar("T")

# One batch loading and one staged behind it: enough to keep the loader busy while the reader
# fills the next one.
MAX_IN_FLIGHT = 2


class EarlierBatchFailedError(Exception):
    """A batch not loaded because an earlier batch of its stream failed."""


class LoadPipeline(Generic[T]):
    """Stage and load one stream's batches in two background threads, in submission order."""

    def __init__(
        self,
        name: str,
        stage: Callable[[T], None],
        load: Callable[[T, BaseException | None], None],
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        """`stage(batch)` uploads; `load(batch, staging_error)` loads (staging again itself
        when `staging_error` is set: its retries then cover the upload too)."""
        self._stage, self._load = stage, load
        self._max = max(1, max_in_flight)
        self._stager = ThreadPoolExecutor(1, thread_name_prefix=f"stage-{name}")
        self._loader = ThreadPoolExecutor(1, thread_name_prefix=f"load-{name}")
        self._in_flight: collections.deque[Future[None]] = collections.deque()
        self._failure: BaseException | None = None
        self._closed = False

    @property
    def failure(self) -> BaseException | None:
        """The first failure of a background load, if any."""
        return self._failure

    def submit(self, batch: T) -> None:
        """Queue a batch; blocks while `max_in_flight` are queued or loading; raises a failure."""
        self.check()
        while len(self._in_flight) >= self._max:
            wait([self._in_flight.popleft()])
            self.check()
        staged = self._stager.submit(self._stage, batch)
        self._in_flight.append(self._loader.submit(self._load_after, batch, staged))

    def later(self, action: Callable[[], None]) -> None:
        """Run a clean-up step on the stager's connection, off the loads' critical path."""
        if not self._closed:
            self._stager.submit(action)
        else:
            action()

    def wait(self) -> None:
        """Until every queued batch is loaded; raises the first failure."""
        wait(list(self._in_flight))
        self._in_flight.clear()
        self.check()

    def check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def close(self, *, drop: bool = False) -> None:
        """Stop the threads once queued work is done; `drop` it instead (also after a failure or
        a stop signal)."""
        if self._closed:
            return
        self._closed = True
        drop = drop or self._failure is not None or shutdown.STOPPING.is_set()
        self._loader.shutdown(wait=True, cancel_futures=drop)
        self._stager.shutdown(wait=True, cancel_futures=drop)
        self._in_flight.clear()

    def _load_after(self, batch: T, staged: Future[None]) -> None:
        if self._failure is not None:
            raise EarlierBatchFailedError("an earlier batch of this stream failed")
        staging_error = staged.exception()
        if isinstance(staging_error, Exception):
            logger.debug("Staging ahead failed (%s): the load stages itself", staging_error)
        try:
            self._load(batch, staging_error)
        except BaseException as exc:
            self._failure = exc
            raise
