"""The source's clock, from the `Date` header of its answers: how far a bookmark may move.

A row stamped in the future (a wrong server clock, a typo in a date column used as the key)
must not become the bookmark: every later change would sort below it and never be read.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
import time

import requests

#: How far past the server's current time a row's stamp may be and still be a bookmark: the
#: `Date` header has one-second resolution, and the app server stamping rows and the web
#: server answering may be different machines.
TOLERANCE = dt.timedelta(minutes=10)


class ServerClock:
    """The server's time now, as last told by a `Date` header (else this machine's clock)."""

    def __init__(self) -> None:
        """No answer seen yet."""
        self._told: dt.datetime | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def observe(self, response: requests.Response) -> None:
        """Note the time an answer says it is (ignored when absent or unreadable)."""
        header = response.headers.get("Date")
        if not header:
            return
        try:
            told = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        if told.tzinfo is None:
            told = told.replace(tzinfo=dt.UTC)
        with self._lock:
            self._told, self._at = told, time.monotonic()

    def now(self) -> dt.datetime:
        """The server's current time (this machine's clock before any `Date` was seen)."""
        with self._lock:
            told, at = self._told, self._at
        if told is None:
            return dt.datetime.now(dt.UTC)
        return told + dt.timedelta(seconds=time.monotonic() - at)

    def latest_trusted(self) -> dt.datetime:
        """The latest stamp that may become a bookmark."""
        return self.now() + TOLERANCE
