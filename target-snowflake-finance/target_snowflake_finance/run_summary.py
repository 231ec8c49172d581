"""The closing line of a load: rows per table, batches, rejects and wall time.

Per-batch lines scroll by; a user (or an orchestrator's log view) reads the last line of a run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter


class LoadTally:
    """Committed batches of one run, counted as they commit (sinks may drain in threads)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.batches = 0
        self.rejected = 0
        self.rows: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, table: str, rows: int, rejected: int) -> None:
        with self._lock:
            self.batches += 1
            self.rows[table] += rows
            self.rejected += rejected

    def line(self, load_id: str) -> str:
        tables = ", ".join(f"{name} {n}" for name, n in sorted(self.rows.items())) or "none"
        return (
            f"Load {load_id} finished in {time.monotonic() - self.started:.1f}s: "
            f"{sum(self.rows.values())} rows loaded in {self.batches} batches, "
            f"{self.rejected} rejected; rows per table: {tables}"
        )
