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

from finance_sandbox.epicor.model import DEC, STORED, Entity
from finance_sandbox.epicor.odata import format_local
from finance_sandbox.epicor.rows import ZERO_GUID, dec_text, python_value


class Store:
    """Every write goes through here so that SysRevID grows globally and UpdatedOn is `now`."""

    def __init__(self, conn: sqlite3.Connection, tz: ZoneInfo, entities: dict[str, Entity]) -> None:
        self.conn = conn
        self.tz = tz
        self.entities = entities
        row = conn.execute("SELECT value FROM meta WHERE key = 'sysrevid'").fetchone()
        self.rev = int(row[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing, like a BO method call."""
        self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'sysrevid'", [str(self.rev)])
        self.conn.execute("COMMIT")

    def next_rev(self) -> int:
        self.rev += 1
        return self.rev

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
        cols = list(row)
        self.conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            list(row.values()),
        )
        return row

    def update(self, table: str, where: dict[str, Any], changes: dict[str, Any]) -> None:
        """Rewrite a row: new SysRevID, and UpdatedOn = now on tables that have it."""
        changes = dict(changes)
        changes["SysRevID"] = self.next_rev()
        if "UpdatedOn" in STORED[table]:
            changes["UpdatedOn"] = self.now()
        sets = ", ".join(f'"{k}" = ?' for k in changes)
        clause = " AND ".join(f'"{k}" = ?' for k in where)
        self.conn.execute(
            f"UPDATE {table} SET {sets} WHERE {clause}", [*changes.values(), *where.values()]
        )

    def delete(self, table: str, where: dict[str, Any]) -> None:
        clause = " AND ".join(f'"{k}" = ?' for k in where)
        self.conn.execute(f"DELETE FROM {table} WHERE {clause}", list(where.values()))

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
