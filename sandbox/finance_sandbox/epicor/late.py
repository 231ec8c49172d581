"""Late commits: a write whose SysRevID/UpdatedOn are taken now but that becomes visible later.

On SQL Server `SysRevID` is a rowversion and `UpdatedOn` is stamped when the row is written, not
when the transaction commits; a long transaction (AP posting, a PO with many lines) can make rows
visible whose values are already below a bookmark a reader saved meanwhile. The emulator models
it with before/after images: a held transaction runs normally (taking its SysRevIDs), then its
rows are put back as they were and the new images wait until they are due or committed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Image = tuple[str, dict[str, Any], dict[str, Any] | None]


@dataclass
class Pending:
    """One held transaction: the rows it wrote (None = deleted), visible from `due` on."""

    due: float | None
    rows: list[Image] = field(default_factory=list)


class LateCommits:
    """Holds the next N write transactions (or those inside `forced`) for a number of seconds."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.hold_next = 0
        self.seconds: float | None = 60.0
        self.forced = False  # set by Store.held(): the current transaction is held
        self.forced_seconds: float | None = None
        self.pending: list[Pending] = []
        self._capturing = False
        self._images: dict[tuple[str, tuple[Any, ...]], tuple[str, dict[str, Any], Any]] = {}

    def configure(self, hold_next: int, seconds: float | None) -> None:
        """Hold the next `hold_next` write transactions for `seconds` (None: until commit)."""
        self.hold_next = hold_next
        self.seconds = seconds

    def begin(self) -> bool:
        """Called at BEGIN: is this transaction held?"""
        self._images = {}
        self._capturing = self.forced or self.hold_next > 0
        return self._capturing

    def touch(self, table: str, key: dict[str, Any], before: dict[str, Any] | None) -> None:
        """Remember a row's image before the held transaction first writes it."""
        if not self._capturing:
            return
        self._images.setdefault((table, tuple(key.values())), (table, key, before))

    def abort(self) -> None:
        self._capturing = False
        self._images = {}

    def hold(self, read: Callable[[str, dict[str, Any]], dict[str, Any] | None]) -> None:
        """Before COMMIT of a held transaction: keep the new images, put the old ones back."""
        seconds = self.forced_seconds if self.forced else self.seconds
        if not self.forced:
            self.hold_next -= 1
        rows: list[Image] = []
        for table, key, before in self._images.values():
            rows.append((table, key, read(table, key)))
            self._replace(table, key, before)
        due = None if seconds is None else time.monotonic() + seconds
        self.pending.append(Pending(due, rows))
        self._capturing = False
        self._images = {}

    def _replace(self, table: str, key: dict[str, Any], row: dict[str, Any] | None) -> None:
        clause = " AND ".join(f'"{k}" = ?' for k in key)
        self.conn.execute(f"DELETE FROM {table} WHERE {clause}", list(key.values()))
        if row is not None:
            cols = list(row)
            self.conn.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                list(row.values()),
            )

    def release_due(self, everything: bool = False) -> int:
        """Make due held transactions visible (all of them with `everything`); returns how many."""
        now = time.monotonic()
        due = [p for p in self.pending if everything or (p.due is not None and p.due <= now)]
        if not due:
            return 0
        self.conn.execute("BEGIN")
        try:
            for p in due:
                for table, key, after in p.rows:
                    self._replace(table, key, after)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        self.pending = [p for p in self.pending if p not in due]
        return len(due)

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "hold_next": self.hold_next,
            "seconds": self.seconds,
            "pending": [
                {
                    "rows": len(p.rows),
                    "due_in_s": None if p.due is None else round(max(p.due - now, 0.0), 3),
                }
                for p in self.pending
            ],
        }
