"""SIGTERM / SIGINT: stop within a bound, cancel and roll back what is in flight, no more state.

The SDK's handler drains every sink again from inside the signal handler: with a MERGE in flight
that re-entered the session holding it and hung for minutes. Here a signal instead cancels the
statements in flight (`SYSTEM$CANCEL_ALL_QUERIES` from a separate connection, since the busy
connection cannot speak), makes every later statement but ROLLBACK fail, and unwinds the main
thread with `Terminated`; each open transaction rolls back on its way out. A watchdog ends the
process after `GRACE_SECONDS` whatever happens, still with 128 + the signal number. Nothing is
committed and no STATE is written after the signal, so a rerun starts from the last commit.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import weakref
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from target_snowflake_finance.connector import Session

logger = logging.getLogger("target_snowflake_finance")

# Time from the signal to exit at most (documented as 30 s; the rest is margin for a slow exit).
GRACE_SECONDS = 20.0
# Statements still allowed once stopping: the ones that undo or end.
_ALLOWED = ("ROLLBACK",)

STOPPING = threading.Event()
_sessions: weakref.WeakSet[Session] = weakref.WeakSet()
_signum: list[int] = []
_config: dict[str, Any] = {}
_begin_lock = threading.Lock()
_handled = [0]


class Terminated(BaseException):
    """Raised in the target when a signal stops it (a BaseException: no retry catches it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def register(session: Session) -> None:
    """Sessions whose statements a signal cancels and whose transactions it rolls back."""
    _sessions.add(session)


def check(sql: str, cause: BaseException | None = None) -> None:
    """Once stopping, refuse a statement (ROLLBACK excepted) or turn its failure into a stop."""
    if STOPPING.is_set() and not sql.lstrip().upper().startswith(_ALLOWED):
        raise Terminated(_signum[0] if _signum else signal.SIGTERM) from cause


def install(config: Mapping[str, Any]) -> None:
    """Replace the SDK's handlers (main thread only, as `signal` requires)."""
    _config.clear()
    _config.update(config)
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    # Python runs handlers only between bytecodes: while the main thread waits inside the
    # connector's native code (connector 5's Rust core) it would not run until the statement
    # ended. The wakeup fd is written at once, so a thread starts the cancel meanwhile.
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read_fd,), name="stop-signals", daemon=True).start()


def _watch(read_fd: int) -> None:
    while chunk := os.read(read_fd, 16):
        for signum in chunk:
            if signum in (signal.SIGTERM, signal.SIGINT):
                begin(signum)


def _handle(signum: int, _frame: FrameType | None) -> None:
    _handled[0] += 1
    if _handled[0] > 1:  # a second signal: stop now
        os._exit(128 + signum)
    begin(signum)
    raise Terminated(signum)


def begin(signum: int) -> None:
    """Start stopping: no new statement, a watchdog, cancel what runs. Idempotent."""
    with _begin_lock:
        if STOPPING.is_set():
            return
        _signum.append(signum)
        STOPPING.set()
    name = signal.Signals(signum).name
    logger.warning(
        "Received %s: cancelling the statements in flight and rolling back; no state is written "
        "after the last commit; exiting within %.0f s",
        name,
        GRACE_SECONDS,
    )
    threading.Thread(target=_watchdog, args=(signum,), name="stop-watchdog", daemon=True).start()
    _cancel_in_flight()


def _watchdog(signum: int) -> None:
    threading.Event().wait(GRACE_SECONDS)
    logger.error(
        "Still stopping after %.0f s: exiting now; Snowflake rolls back what is left open",
        GRACE_SECONDS,
    )
    sys.stderr.flush()
    os._exit(128 + signum)


def _cancel_in_flight() -> None:
    """Cancel the running statements of every busy session, from a connection of its own."""
    busy = [s.session_id for s in list(_sessions) if s.busy and s.session_id is not None]
    if not busy:
        return
    from target_snowflake_finance.connector import Session

    canceller = Session(_config, track=False)
    try:
        for session_id in busy:
            canceller.execute(f"SELECT SYSTEM$CANCEL_ALL_QUERIES({int(session_id)})", force=True)
    except Exception as e:  # the watchdog still bounds the exit
        logger.warning("Could not cancel the statements in flight: %s", type(e).__name__)
    finally:
        canceller.close()


def finish(exc: BaseException) -> int:
    """After the main thread unwound: roll back and close every session; the exit code."""
    signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
    begin(signum)  # a KeyboardInterrupt from the connector's own Ctrl-C handler lands here
    for session in list(_sessions):
        session.rollback_quietly()
        session.close()
    name = signal.Signals(signum).name
    logger.error("Stopped by %s; a rerun continues from the last state written", name)
    return 128 + signum
