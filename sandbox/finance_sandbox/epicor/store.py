"""Row-level writes on the emulator database: the global SysRevID counter, `now`, exact JSON."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any
from zoneinfo import ZoneInfo

from finance_sandbox.epicor.late import LateCommits
from finance_sandbox.epicor.model import DEC, STORED, Entity
from finance_sandbox.epicor.odata import format_local
from finance_sandbox.epicor.rows import ZERO_GUID, dec_text, python_value


class Store:
    """Every write goes through here so that SysRevID grows globally and UpdatedOn is `now`.

    A row is written (and takes a fresh SysRevID) only when one of its values changes, as a
    real BO writes only the rows it changes. With `rewrite_headers` the old convenience holds:
    any change below an invoice or PO rewrites its header.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        tz: ZoneInfo,
        entities: dict[str, Entity],
        *,
        rewrite_headers: bool = False,
    ) -> None:
        self.conn = conn
        self.tz = tz
        self.entities = entities
        self.rewrite_headers = rewrite_headers
        self.late = LateCommits(conn)
        self.depth = 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'sysrevid'").fetchone()
        self.rev = int(row[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing, like a BO method call; nested calls join the outer transaction."""
        if self.depth:
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        self.late.release_due()
        self.conn.execute("BEGIN")
        self.depth = 1
        rev = self.rev
        held = self.late.begin()
        try:
            yield
        except BaseException:
            self.depth = 0
            self.rev = rev
            self.late.abort()
            self.conn.execute("ROLLBACK")
            raise
        self.depth = 0
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'sysrevid'", [str(self.rev)])
        if held:
            self.late.hold(self._read_row)
        self.conn.execute("COMMIT")

    @contextmanager
    def held(self, seconds: float | None) -> Iterator[None]:
        """One transaction whose rows become visible `seconds` later (None: on commit)."""
        self.late.forced, self.late.forced_seconds = True, seconds
        try:
            with self.transaction():
                yield
        finally:
            self.late.forced = False

    def next_rev(self) -> int:
        self.rev += 1
        return self.rev

    def next_number(
        self, sequence: str, table: str, column: str, company: str, *, floor: int = 0
    ) -> int:
        """The next value of a database sequence (Epicor's `CheckHedSeq`, ...), per company.

        Unlike MAX()+1 it never hands out a number again while the row that took it is not
        visible yet (a held transaction, late.py); it starts above the generated rows.
        """
        key = f"seq:{sequence}:{company}"
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        top = self.conn.execute(
            f"SELECT COALESCE(MAX({column}), 0) FROM {table} WHERE Company = ?", [company]
        ).fetchone()[0]
        value = max(int(row[0]) if row else floor, int(top), floor) + 1
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, str(value)]
        )
        return value

    def now(self) -> str:
        """Server-local wall clock with milliseconds (UpdatedOn)."""
        return format_local(datetime.now(self.tz).replace(tzinfo=None), millis=True)

    def today(self) -> str:
        """Server-local date as a midnight datetime (ChangeDate)."""
        return datetime.now(self.tz).strftime("%Y-%m-%dT00:00:00")

    def get(self, table: str, where: dict[str, Any]) -> dict[str, Any] | None:
        cols = STORED[table]
        clause = " AND ".join(f'"{k}" = ?' for k in where)
        row = self.conn.execute(
            f"SELECT {', '.join(cols)} FROM {table} WHERE {clause}", list(where.values())
        ).fetchone()
        return dict(zip(cols, row, strict=True)) if row else None

    def select(self, table: str, where: dict[str, Any], order: str = "") -> list[dict[str, Any]]:
        cols = STORED[table]
        clause = " AND ".join(f'"{k}" = ?' for k in where)
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {clause}"
        sql += f" ORDER BY {order or ', '.join(self.entities[table].keys)}"
        return [
            dict(zip(cols, r, strict=True)) for r in self.conn.execute(sql, list(where.values()))
        ]

    def _key(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in self.entities[table].keys}

    def _read_row(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.get(table, key)

    def insert(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        """A new row: unset stored columns get their defaults, plus SysRevID/SysRowID/UpdatedOn."""
        ent = self.entities[table]
        row: dict[str, Any] = {}
        for name in STORED[table]:
            col = ent.columns.get(name)
            default: Any = "" if col is None or col.kind in ("str",) else 0
            if col is not None and col.kind in ("date", "stamp"):
                default = None
            row[name] = values.get(name, default)
        row["SysRevID"] = self.next_rev()
        row["SysRowID"] = str(uuid.uuid4())
        if "UpdatedOn" in row:
            row["UpdatedOn"] = self.now()
        self.late.touch(table, self._key(table, row), None)
        self._put(table, row)
        return row

    def _put(self, table: str, row: dict[str, Any]) -> None:
        cols = list(row)
        self.conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            list(row.values()),
        )

    def update(
        self, table: str, where: dict[str, Any], changes: dict[str, Any], *, force: bool = False
    ) -> int:
        """Rewrite the matching rows whose values change (every one with `force`): each takes a
        fresh SysRevID (and UpdatedOn = now where it exists). Returns the rows written."""
        written = 0
        for row in self.select(table, where):
            diff = {k: v for k, v in changes.items() if row.get(k) != v}
            if not diff and not force:
                continue
            key = self._key(table, row)
            self.late.touch(table, key, row)
            diff["SysRevID"] = self.next_rev()
            if "UpdatedOn" in STORED[table]:
                diff["UpdatedOn"] = self.now()
            sets = ", ".join(f'"{k}" = ?' for k in diff)
            clause = " AND ".join(f'"{k}" = ?' for k in key)
            self.conn.execute(
                f"UPDATE {table} SET {sets} WHERE {clause}", [*diff.values(), *key.values()]
            )
            written += 1
        return written

    def delete(self, table: str, where: dict[str, Any]) -> int:
        """Remove the matching rows (Epicor keeps no trace of a deleted unposted row)."""
        rows = self.select(table, where)
        for row in rows:
            self.late.touch(table, self._key(table, row), row)
        clause = " AND ".join(f'"{k}" = ?' for k in where)
        self.conn.execute(f"DELETE FROM {table} WHERE {clause}", list(where.values()))
        return len(rows)

    def ds_row(
        self, table: str, stored: dict[str, Any] | None, row_mod: str = ""
    ) -> dict[str, Any]:
        """A tableset row with every column (BO method naming), decimals as exact Decimals."""
        ent = self.entities[table]
        out: dict[str, Any] = {}
        for name, col in ent.columns.items():
            if stored is not None and col.stored:
                value = python_value(col, stored.get(name))
            else:
                value = python_value(replace(col, stored=False), None)
            if col.kind == DEC:
                value = Decimal(value)
            out[name] = value
        out["RowMod"] = row_mod
        if not stored:
            out["SysRowID"] = ZERO_GUID
        return out


def dumps_exact(obj: Any) -> str:
    """JSON with Decimals written as exact numbers (never through float)."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return str(encode_basestring_ascii(obj))
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, Decimal):
        text = format(obj.normalize(), "f") if obj == obj.to_integral_value() else format(obj, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, dict):
        return (
            "{"
            + ",".join(
                f"{encode_basestring_ascii(str(k))}:{dumps_exact(v)}" for k, v in obj.items()
            )
            + "}"
        )
    if isinstance(obj, list | tuple):
        return "[" + ",".join(dumps_exact(v) for v in obj) + "]"
    raise TypeError(f"cannot encode {type(obj).__name__}")


def scaled(value: Any, scale: int) -> int:
    """A client number as the column's scaled integer, rounded half up."""
    try:
        dec = Decimal(str(value))
    except ArithmeticError as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    q = (dec * (Decimal(10) ** scale)).quantize(Decimal(1), rounding="ROUND_HALF_UP")
    return int(q)


__all__ = ["Store", "dec_text", "dumps_exact", "scaled"]
