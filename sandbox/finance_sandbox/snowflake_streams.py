"""Table streams for the local Snowflake: CREATE / SHOW / DROP STREAM, kept as a catalog.

fakesnow cannot parse `CREATE STREAM`, so a loader that offers downstream change capture could
not be tested. This keeps each stream's definition (persisted next to the databases) and answers
SHOW STREAMS with Snowflake's columns. Reading a stream's changes (`SELECT … FROM <stream>`,
`METADATA$ACTION`) is not emulated.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from finance_sandbox.snowflake import WarehouseError, normalise_name

_NAME = r"(?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)"
_REF = rf"({_NAME}(?:\s*\.\s*{_NAME}){{0,2}})"
_CREATE_RE = re.compile(
    rf"^\s*CREATE\s+(OR\s+REPLACE\s+)?STREAM\s+(IF\s+NOT\s+EXISTS\s+)?{_REF}\s+"
    rf"ON\s+TABLE\s+{_REF}(.*?)\s*;?\s*$",
    re.I | re.S,
)
_SHOW_RE = re.compile(
    r"^\s*SHOW\s+(?:TERSE\s+)?STREAMS(?:\s+LIKE\s+'((?:[^']|'')*)')?"
    rf"(?:\s+IN\s+(ACCOUNT|DATABASE|SCHEMA)(?:\s+{_REF})?)?\s*;?\s*$",
    re.I | re.S,
)
_DROP_RE = re.compile(rf"^\s*DROP\s+STREAM\s+(IF\s+EXISTS\s+)?{_REF}\s*;?\s*$", re.I | re.S)
_PART_RE = re.compile(_NAME)


@dataclass
class Stream:
    """What SHOW STREAMS reports about one stream on a table."""

    database: str
    schema: str
    name: str
    table: str  # fully qualified, as SHOW STREAMS prints `table_name`
    mode: str
    comment: str
    created_on: str


def _parts(ref: str, database: str | None, schema: str | None) -> tuple[str, str, str]:
    names = [normalise_name(p) for p in _PART_RE.findall(ref)]
    while len(names) < 3:
        names.insert(0, (schema if len(names) == 1 else database) or "")
    return names[0], names[1], names[2]


def _like_regex(pattern: str) -> re.Pattern[str]:
    body = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        for ch in pattern.replace("''", "'")
    )
    return re.compile(f"^{body}$", re.I | re.S)


def _str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class StreamCatalog:
    """The streams of every database, by (database, schema, name)."""

    def __init__(self, path: Path | None, table_exists: Callable[[str, str, str], bool]) -> None:
        self._path = path
        self._table_exists = table_exists
        self._lock = threading.Lock()
        self.streams: dict[tuple[str, str, str], Stream] = {}
        if path is not None and path.exists():
            for item in json.loads(path.read_text()):
                stream = Stream(**item)
                self.streams[(stream.database, stream.schema, stream.name)] = stream

    def _save(self) -> None:
        if self._path is not None:
            self._path.write_text(json.dumps([asdict(s) for s in self.streams.values()]))

    def rewrite(self, sql: str, database: str | None, schema: str | None) -> str | None:
        """SQL fakesnow can run in place of a stream statement, or None if `sql` is not one."""
        if match := _CREATE_RE.match(sql):
            return self._create(match, database, schema)
        if match := _SHOW_RE.match(sql):
            return self._show(match, database, schema)
        if match := _DROP_RE.match(sql):
            key = _parts(match.group(2), database, schema)
            with self._lock:
                if self.streams.pop(key, None) is None and not match.group(1):
                    raise WarehouseError(
                        "002003",
                        f"SQL compilation error: Stream '{'.'.join(key)}' does not exist or "
                        "not authorized.",
                        "02000",
                    )
                self._save()
            return f'SELECT {_str(f"{key[2]} successfully dropped.")} AS "status"'
        return None

    def _create(self, match: re.Match[str], database: str | None, schema: str | None) -> str:
        replace, if_not_exists = bool(match.group(1)), bool(match.group(2))
        key = _parts(match.group(3), database, schema)
        table = _parts(match.group(4), database, schema)
        options = match.group(5) or ""
        if not self._table_exists(*table):
            raise WarehouseError(
                "002003",
                f"SQL compilation error: Table '{'.'.join(table)}' does not exist or not "
                "authorized.",
                "42S02",
            )
        with self._lock:
            if key in self.streams and not replace:
                if if_not_exists:
                    return (
                        f"SELECT {_str(f'{key[2]} already exists, statement succeeded.')} "
                        'AS "status"'
                    )
                raise WarehouseError(
                    "002002", f"SQL compilation error: Object '{key[2]}' already exists.", "42710"
                )
            append_only = re.search(r"APPEND_ONLY\s*=\s*TRUE", options, re.I) is not None
            comment = re.search(r"COMMENT\s*=\s*'((?:[^']|'')*)'", options, re.I)
            self.streams[key] = Stream(
                database=key[0],
                schema=key[1],
                name=key[2],
                table=".".join(table),
                mode="APPEND_ONLY" if append_only else "DEFAULT",
                comment=comment.group(1).replace("''", "'") if comment else "",
                created_on=dt.datetime.now(dt.UTC).isoformat(),
            )
            self._save()
        return f'SELECT {_str(f"Stream {key[2]} successfully created.")} AS "status"'

    def _show(self, match: re.Match[str], database: str | None, schema: str | None) -> str:
        like = _like_regex(match.group(1)) if match.group(1) is not None else None
        scope = (match.group(2) or "SCHEMA").upper()
        names = [normalise_name(p) for p in _PART_RE.findall(match.group(3) or "")]
        if scope == "DATABASE":
            where: tuple[str | None, ...] = (names[-1] if names else database,)
        elif scope == "SCHEMA":
            if len(names) >= 2:
                where = tuple(names[-2:])
            else:
                where = (database, names[0] if names else schema)
        else:
            where = ()
        rows = [
            s
            for s in sorted(self.streams.values(), key=lambda s: (s.database, s.schema, s.name))
            if (s.database, s.schema)[: len(where)] == where
            and (like is None or like.match(s.name))
        ]
        cols = (
            '{created} AS "created_on", {name} AS "name", {db} AS "database_name", '
            '{schema} AS "schema_name", \'SYSADMIN\' AS "owner", {comment} AS "comment", '
            '{table} AS "table_name", \'Table\' AS "source_type", {table} AS "base_tables", '
            '\'DELTA\' AS "type", \'false\' AS "stale", {mode} AS "mode"'
        )
        selects = [
            "SELECT "
            + cols.format(
                created=_str(s.created_on),
                name=_str(s.name),
                db=_str(s.database),
                schema=_str(s.schema),
                comment=_str(s.comment),
                table=_str(s.table),
                mode=_str(s.mode),
            )
            for s in rows
        ]
        if not selects:
            blank = "''"
            empty = cols.format(
                created=blank,
                name=blank,
                db=blank,
                schema=blank,
                comment=blank,
                table=blank,
                mode=blank,
            )
            return f"SELECT {empty} WHERE 1 = 0"
        return " UNION ALL ".join(selects)
