"""What a user reads from a run: each stream's start and end once, and a closing summary.

The SDK logs "Beginning sync of '<stream>'" for every parent context a child stream is synced
in; only the first is news. The summary gives records per stream, requests and wall time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

BEGINNING = "Beginning sync of '%s'"


class RunTally:
    """Counts for one tap process (the tap runs once per process)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.records: Counter[str] = Counter()
        self.requests = 0
        self._lock = threading.Lock()

    def count_request(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """A `requests` response hook: one more HTTP request answered."""
        with self._lock:
            self.requests += 1
        return response

    def ended(self, stream: str) -> str:
        """The line for a stream whose sync is over (children end with their top-level parent)."""
        return f"Stream '{stream}' ended: {self.records[stream]} records"

    def summary(self) -> str:
        streams = ", ".join(f"{name} {n}" for name, n in self.records.items()) or "none"
        return (
            f"Extracted {sum(self.records.values())} records with {self.requests} requests in "
            f"{time.monotonic() - self.started:.1f}s; records per stream: {streams}"
        )


class FirstStartOnly(logging.Filter):
    """Lets through the first "Beginning sync" line of a stream and drops the repeats."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or not record.msg.startswith(BEGINNING):
            return True
        stream = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        if stream in self._seen:
            return False
        self._seen.add(stream)
        return True


RUN = RunTally()
FIRST_START_ONLY = FirstStartOnly()
