"""Which stream loads which table in this run, and which table's rows a run's `overwrite`
already replaced; shared by every sink (a new SCHEMA makes a new sink for the same table)."""

from __future__ import annotations

import threading

from target_snowflake_finance.errors import TargetConfigError


class TableClaims:
    """One stream per table, and one replacing batch per table for `overwrite`."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[str, list[str]]] = {}
        self._overwritten: set[str] = set()
        self._overwrite_lock = threading.Lock()

    def claim_table(self, table_ref: str, stream: str, keys: list[str]) -> list[str] | None:
        """One stream per table; returns the keys the stream had earlier in this run, if any.

        Two streams in one table (`pay` and `PAY`, or via table_mapping) would mix their rows
        and keys. Compared case-insensitively, as a session may resolve quoted names so.
        """
        folded = table_ref.upper()
        owner = self._tables.get(folded)
        if owner is not None and owner[0] != stream:
            raise TargetConfigError(
                f"streams {owner[0]!r} and {stream!r} both load into table {table_ref}: map "
                "one of them to another table with table_mapping (or drop one with a stream map)"
            )
        self._tables[folded] = (stream, list(keys))
        return owner[1] if owner is not None else None

    def claim_overwrite(self, table_ref: str, load_method: str) -> bool:
        """True once per run and table for `overwrite`: that batch replaces the table's rows."""
        with self._overwrite_lock:
            if load_method != "overwrite" or table_ref in self._overwritten:
                return False
            self._overwritten.add(table_ref)
            return True

    def release_overwrite(self, table_ref: str) -> None:
        """The replacing batch rolled back: the next attempt replaces the table again."""
        with self._overwrite_lock:
            self._overwritten.discard(table_ref)
