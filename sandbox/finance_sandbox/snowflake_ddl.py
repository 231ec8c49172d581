"""ALTER TABLE and other sessions' transactions take turns, as Snowflake's table locks make them.

In DuckDB, an `ALTER TABLE … ADD COLUMN` run while another session's transaction has written to
that table makes those rows vanish when the transaction commits, and both statements answer
success: a loader that added a column while another run's MERGE was in flight lost that run's
batch (found by two loaders started together into an empty schema). In Snowflake the DDL waits
for the table's lock instead. Here, coarsely, an ALTER TABLE waits until no other session has a
transaction open (any table), and a BEGIN waits while an ALTER TABLE runs. Runs on the server's
event loop only, so a check and what follows it happen without another request in between.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

_ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\b", re.I)
_BEGIN = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION)\b", re.I)
# A transaction left open longer than this (a killed client) no longer holds an ALTER back;
# the idle-transaction reaper rolls it back meanwhile.
WAIT_LIMIT_S = 60.0


class DdlGate:
    """Lets an ALTER TABLE run only when no other session is inside a transaction."""

    def __init__(self, open_elsewhere: Callable[[str], bool]) -> None:
        self._open_elsewhere = open_elsewhere
        self.altering = 0

    async def enter(self, token: str, sql: str) -> bool:
        """Wait for `sql`'s turn; True when it is an ALTER TABLE (then call `leave` after it)."""
        if _ALTER_TABLE.match(sql):
            deadline = time.monotonic() + WAIT_LIMIT_S
            while self._open_elsewhere(token) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            self.altering += 1
            return True
        if _BEGIN.match(sql):
            while self.altering:
                await asyncio.sleep(0.02)
        return False

    def leave(self) -> None:
        self.altering -= 1
