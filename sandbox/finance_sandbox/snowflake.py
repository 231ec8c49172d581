"""`finance-sandbox snowflake`: fakesnow's HTTP server on disk, with emulated warehouses."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from finance_sandbox import latency

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8702
DEFAULT_DATA_DIR = ".sandbox/snowflake"
DEFAULT_WAREHOUSE = "SANDBOX_WH"

# Statements fakesnow 0.12.1 cannot run but a loader issues; harmless to skip locally
# (reference/snowflake-loading.md §6.2, §6.4). Matched case-insensitively from the start.
NOP_REGEXES = [
    r"^\s*ALTER\s+SESSION\b",
    r"^\s*DROP\s+STAGE\b",
    r"^\s*DROP\s+FILE\s+FORMAT\b",
    r"^\s*ALTER\s+USER\b",
    r"^\s*GRANT\b",
]

# Statements that need a running warehouse in Snowflake (reference §3: PUT, SHOW, DDL do not).
_COMPUTE_RE = re.compile(r"^\s*\(?\s*(SELECT|WITH|INSERT|UPDATE|DELETE|MERGE|COPY)\b", re.I)
_NAME = r"(\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)"
_SHOW_RE = re.compile(r"^\s*SHOW\s+WAREHOUSES(?:\s+LIKE\s+'((?:[^']|'')*)')?\s*;?\s*$", re.I)
_CREATE_RE = re.compile(
    rf"^\s*CREATE\s+(OR\s+REPLACE\s+)?WAREHOUSE\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}(.*)$", re.I | re.S
)
_ALTER_RE = re.compile(
    rf"^\s*ALTER\s+WAREHOUSE\s+(IF\s+EXISTS\s+)?{_NAME}\s+(.*?)\s*;?\s*$", re.I | re.S
)
_USE_RE = re.compile(rf"^\s*USE\s+WAREHOUSE\s+{_NAME}\s*;?\s*$", re.I)
_DROP_RE = re.compile(rf"^\s*DROP\s+WAREHOUSE\s+(IF\s+EXISTS\s+)?{_NAME}\s*;?\s*$", re.I)
_BOOL_PROP_RE = r"{prop}\s*=\s*(TRUE|FALSE)"
_REMOVE_RE = re.compile(
    r"^\s*(?:REMOVE|RM)\s+'?@((?:\"(?:[^\"]|\"\")+\"|[^\s/'\".]+)(?:\.(?:\"(?:[^\"]|\"\")+\"|[^\s/'\".]+)){0,2})"
    r"(/[^\s']*)?'?(?:\s+PATTERN\s*=\s*'((?:[^']|'')*)')?\s*;?\s*$",
    re.I,
)
_IDENT_RE = re.compile(r'"(?:[^"]|"")+"|[^."]+')

logger = logging.getLogger("finance_sandbox.snowflake")


@dataclass
class Warehouse:
    """One emulated warehouse: the state Snowflake reports in SHOW WAREHOUSES."""

    name: str
    state: str = "STARTED"
    auto_resume: bool = True


class WarehouseRegistry:
    """Warehouses by name, persisted as JSON next to the databases.

    fakesnow reports one fixed, always-running warehouse, so a loader's warehouse check and the
    `000608` path could never run locally. This keeps real state per warehouse instead.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self.warehouses: dict[str, Warehouse] = {}
        if path is not None and path.exists():
            for item in json.loads(path.read_text()):
                self.warehouses[item["name"]] = Warehouse(**item)
        self.warehouses.setdefault(DEFAULT_WAREHOUSE, Warehouse(DEFAULT_WAREHOUSE))

    def _save(self) -> None:
        if self._path is not None:
            data = [vars(w) for w in self.warehouses.values()]
            self._path.write_text(json.dumps(data, indent=1))

    def get_or_create(self, name: str) -> Warehouse:
        """Any warehouse a session names exists (running, auto-resume), unless created otherwise."""
        with self._lock:
            if name not in self.warehouses:
                self.warehouses[name] = Warehouse(name)
                self._save()
            return self.warehouses[name]

    def update(self, warehouse: Warehouse) -> None:
        with self._lock:
            self.warehouses[warehouse.name] = warehouse
            self._save()

    def drop(self, name: str) -> None:
        with self._lock:
            self.warehouses.pop(name, None)
            self._save()


def normalise_name(raw: str) -> str:
    """Snowflake's identifier rule: unquoted → upper case, quoted → as written."""
    if raw.startswith('"'):
        return raw[1:-1].replace('""', '"')
    return raw.upper()


def sql_str(value: str) -> str:
    """A SQL string literal of `value` (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _like_to_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(parts) + "$", re.I | re.S)


def show_warehouses_sql(
    registry: WarehouseRegistry,
    like: str | None,
    current: str | None,
    visible: Callable[[str], bool] = lambda _name: True,
) -> str:
    """A SELECT with the columns of Snowflake's SHOW WAREHOUSES that loaders read."""
    regex = _like_to_regex(like.replace("''", "'")) if like is not None else None
    rows = [
        w
        for w in registry.warehouses.values()
        if (regex is None or regex.match(w.name)) and visible(w.name)
    ]
    cols = (
        '{name} AS "name", {state} AS "state", \'STANDARD\' AS "type", \'X-Small\' AS "size", '
        '600 AS "auto_suspend", {auto} AS "auto_resume", {current} AS "is_current", '
        "'N' AS \"is_default\", 'SYSADMIN' AS \"owner\", '' AS \"comment\""
    )
    selects = [
        "SELECT "
        + cols.format(
            name=sql_str(w.name),
            state=sql_str(w.state),
            auto=sql_str("true" if w.auto_resume else "false"),
            current=sql_str("Y" if w.name == current else "N"),
        )
        for w in rows
    ]
    if not selects:
        empty = cols.format(name="''", state="''", auto="''", current="''")
        return f"SELECT {empty} WHERE 1 = 0"
    return " UNION ALL ".join(selects)


def _bool_prop(text: str, prop: str) -> bool | None:
    match = re.search(_BOOL_PROP_RE.format(prop=prop), text, re.I)
    return None if match is None else match.group(1).upper() == "TRUE"


def _ok_sql(message: str = "Statement executed successfully.") -> str:
    return f'SELECT {sql_str(message)} AS "status"'


class WarehouseError(Exception):
    """A Snowflake error the emulated warehouse layer answers with."""

    def __init__(self, code: str, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.sqlstate = sqlstate


class WarehouseLayer:
    """Rewrites warehouse statements and enforces suspended warehouses for one server."""

    def __init__(self, registry: WarehouseRegistry) -> None:
        self.registry = registry
        self.session_warehouse: dict[str, str | None] = {}

    def rewrite(
        self, token: str, sql: str, visible: Callable[[str], bool] = lambda _name: True
    ) -> str | None:
        """SQL to run instead of `sql` (or None to run it unchanged); raise WarehouseError."""
        current = self.session_warehouse.get(token)
        if match := _SHOW_RE.match(sql):
            return show_warehouses_sql(self.registry, match.group(1), current, visible)
        if match := _USE_RE.match(sql):
            name = normalise_name(match.group(1))
            self.registry.get_or_create(name)
            self.session_warehouse[token] = name
            return _ok_sql()
        if match := _CREATE_RE.match(sql):
            return self._create(match)
        if match := _ALTER_RE.match(sql):
            return self._alter(match)
        if match := _DROP_RE.match(sql):
            name = normalise_name(match.group(2))
            self.registry.drop(name)
            return _ok_sql(f"{name} successfully dropped.")
        if current is not None and _COMPUTE_RE.match(sql):
            warehouse = self.registry.get_or_create(current)
            if warehouse.state == "SUSPENDED":
                if not warehouse.auto_resume:
                    raise WarehouseError(
                        "000608",
                        f"Warehouse '{warehouse.name}' is suspended. Use 'alter warehouse "
                        f"{warehouse.name} resume;' command if you need to use it again.",
                        "57P03",
                    )
                warehouse.state = "STARTED"
                self.registry.update(warehouse)
        return None

    def _create(self, match: re.Match[str]) -> str:
        or_replace, if_not_exists, raw, props = match.groups()
        name = normalise_name(raw)
        if name in self.registry.warehouses and if_not_exists and not or_replace:
            return _ok_sql(f"{name} already exists, statement succeeded.")
        suspended = _bool_prop(props, "INITIALLY_SUSPENDED")
        auto_resume = _bool_prop(props, "AUTO_RESUME")
        self.registry.update(
            Warehouse(
                name,
                state="SUSPENDED" if suspended else "STARTED",
                auto_resume=True if auto_resume is None else auto_resume,
            )
        )
        return _ok_sql(f"Warehouse {name} successfully created.")

    def _alter(self, match: re.Match[str]) -> str:
        if_exists, raw, action = match.groups()
        name = normalise_name(raw)
        warehouse = self.registry.warehouses.get(name)
        if warehouse is None:
            if if_exists:
                return _ok_sql()
            raise WarehouseError(
                "002003",
                f"Warehouse '{name}' does not exist or not authorized.",
                "02000",
            )
        words = action.upper().split()
        if words[:1] == ["SUSPEND"]:
            if warehouse.state == "SUSPENDED":
                raise WarehouseError(
                    "090064", f"Invalid state. Warehouse '{name}' cannot be suspended.", "22000"
                )
            warehouse.state = "SUSPENDED"
        elif words[:1] == ["RESUME"]:
            if warehouse.state != "SUSPENDED" and words[1:3] != ["IF", "SUSPENDED"]:
                raise WarehouseError(
                    "090063", f"Invalid state. Warehouse '{name}' cannot be resumed.", "22000"
                )
            warehouse.state = "STARTED"
        elif words[:1] == ["SET"]:
            auto_resume = _bool_prop(action, "AUTO_RESUME")
            if auto_resume is not None:
                warehouse.auto_resume = auto_resume
        self.registry.update(warehouse)
        return _ok_sql()


def remove_stage_files(
    sql: str,
    bucket: Path,
    database: str | None,
    schema: str | None,
    stage_exists: Callable[[str, str, str], bool],
) -> str | None:
    """`REMOVE @stage[/path] [PATTERN = '…']` as Snowflake does it: the files go (None if not one).

    fakesnow has no REMOVE (reference §6.2), so a loader's clean-up was never tested: the
    staged files (finance data) stayed and LIST kept showing them. Answers with Snowflake's
    output, one row per removed file (`name`, `result`).
    """
    match = _REMOVE_RE.match(sql)
    if match is None:
        return None
    named = [normalise_name(p) for p in _IDENT_RE.findall(match.group(1))]
    parts = [*([database, schema][: 3 - len(named)]), *named]
    if len(parts) != 3 or None in parts:
        raise WarehouseError("001003", "SQL compilation error:\nsyntax error in REMOVE.", "42000")
    db, sch, stage = (str(p) for p in parts)
    root = bucket / db / sch / stage
    if not stage_exists(db, sch, stage):
        raise WarehouseError(
            "002003",
            f"SQL compilation error:\nStage '{db}.{sch}.{stage}' does not exist or not authorized.",
            "02000",
        )
    prefix = (match.group(2) or "/").lstrip("/")
    pattern = re.compile(match.group(3).replace("''", "'")) if match.group(3) else None
    removed = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):  # none before the first PUT
        relative = path.relative_to(root).as_posix()
        name = f"{stage.lower()}/{relative}"
        if not relative.startswith(prefix) or (pattern and not pattern.fullmatch(name)):
            continue
        path.unlink()
        removed.append(name)
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    if not removed:
        return "SELECT '' AS \"name\", '' AS \"result\" WHERE 1 = 0"
    return " UNION ALL ".join(
        f'SELECT {sql_str(n)} AS "name", \'removed\' AS "result"' for n in removed
    )


def _patch_fakesnow() -> None:
    """Let CREATE TABLE run inside a transaction that has already written data.

    fakesnow records a (possibly empty) table comment in its `_fs_global` catalog for every
    CREATE TABLE with properties, including the temporary table its MERGE builds; DuckDB then
    refuses the write because one transaction may only write to one attached database. So a
    COPY followed by a MERGE in one BEGIN … COMMIT failed. Skip the record when there is no comment.
    """
    import fakesnow.transforms as fs_transforms

    original = fs_transforms.extract_comment_on_table
    if getattr(original, "_sandbox_patched", False):
        return

    def extract_comment_on_table(expression: Any) -> Any:
        new = original(expression)
        table_comment = new.args.get("table_comment")
        if table_comment is not None and table_comment[1] is None:
            new.args.pop("table_comment")
        return new

    extract_comment_on_table._sandbox_patched = True  # type: ignore[attr-defined]
    fs_transforms.extract_comment_on_table = extract_comment_on_table


def _patch_fakesnow_temp_copy() -> None:
    """Let COPY INTO load a temporary table, as Snowflake does.

    fakesnow 0.12.1 looks the COPY target up as `<current db>.<current schema>.<name>`, where a
    DuckDB temporary table never is (it lives in the `temp` catalog), so COPY into one failed
    with "Table … does not exist". A loader without CREATE TABLE stages into a temporary table.
    """
    import fakesnow.copy_into as fs_copy

    original = fs_copy._describe_table
    if getattr(original, "_sandbox_patched", False):
        return

    def describe_table(table: Any, duck_conn: Any, database: Any, schema: Any) -> Any:
        if not table.catalog and not table.db:
            found = duck_conn.execute(
                "SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = ?", [table.name]
            ).fetchone()
            if found is not None:
                rows = duck_conn.execute(f'DESCRIBE temp.main."{table.name}"').fetchall()
                return [(row[0], row[1]) for row in rows]
        return original(table, duck_conn, database, schema)

    describe_table._sandbox_patched = True  # type: ignore[attr-defined]
    fs_copy._describe_table = describe_table


class _EscapingTemplate(Template):
    """A status-message template whose values are escaped for the SQL string they land in."""

    def substitute(self, mapping: Any = None, /, **kws: Any) -> str:
        values = {**(mapping or {}), **kws}
        escaped = {k: v.replace("'", "''") if isinstance(v, str) else v for k, v in values.items()}
        return super().substitute(escaped)


def _patch_fakesnow_null_timestamps() -> None:
    """Send a NULL timestamp as a null struct, as Snowflake does.

    fakesnow 0.12.1 encodes it as a struct whose non-nullable `epoch` child holds a null:
    connector 4 read that as 1970-01-01, connector 5 refuses the whole result (252005).
    """
    import fakesnow.arrow as fs_arrow
    import pyarrow as pa
    import pyarrow.compute as pc

    original = fs_arrow.timestamp_to_sf_struct

    def timestamp_to_sf_struct(ts: Any) -> Any:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if ts.null_count == 0:
            return original(ts)
        struct = original(pc.fill_null(ts, pa.scalar(0, ts.type)))
        return pa.StructArray.from_arrays(
            struct.flatten(), fields=list(struct.type), mask=ts.is_null()
        )

    fs_arrow.timestamp_to_sf_struct = timestamp_to_sf_struct


def _patch_fakesnow_quoting() -> None:
    """Escape quotes in the names fakesnow pastes into SQL of its own.

    fakesnow 0.12.1 builds its catalog inserts (`… values ('{table}', …)`) and its status
    answers (`SELECT 'Table {name} successfully created.'`) by plain string formatting, and
    DuckDB runs every statement of such a string. So a quoted identifier holding a `'` broke
    CREATE TABLE (HTTP 500, which the connector retries for ever) or, worse, ran what followed
    it. Snowflake takes any character in a quoted identifier.
    """
    import fakesnow.cursor as fs_cursor
    import fakesnow.info_schema as fs_info

    if getattr(fs_info.insert_text_lengths_sql, "_sandbox_patched", False):
        return
    lengths_sql, comment_sql = fs_info.insert_text_lengths_sql, fs_info.insert_table_comment_sql

    def esc(value: str) -> str:
        return value.replace("'", "''")

    def insert_text_lengths_sql(
        catalog: str, schema: str, table: str, text_lengths: list[tuple[str, int]]
    ) -> str:
        cols = [(esc(c), n) for c, n in text_lengths]
        return str(lengths_sql(esc(catalog), esc(schema), esc(table), cols))

    def insert_table_comment_sql(catalog: str, schema: str, table: str, comment: str) -> str:
        return str(comment_sql(esc(catalog), esc(schema), esc(table), comment))

    insert_text_lengths_sql._sandbox_patched = True  # type: ignore[attr-defined]
    fs_info.insert_text_lengths_sql = insert_text_lengths_sql
    fs_info.insert_table_comment_sql = insert_table_comment_sql
    for attr, value in vars(fs_cursor).copy().items():
        if isinstance(value, Template) and "'" in value.template:
            setattr(fs_cursor, attr, _EscapingTemplate(value.template))


# Errors a test can inject (POST /_sandbox/faults): Snowflake's codes and messages.
FAULT_MESSAGES = {
    "000608": (
        "57P03",
        "Warehouse '{warehouse}' is suspended. Use 'alter warehouse {warehouse} "
        "resume;' command if you need to use it again.",
    ),
    "000606": (
        "57P03",
        "No active warehouse selected in the current session.  Select an active "
        "warehouse with the 'use warehouse' command.",
    ),
    "390112": ("08001", "Your session has expired. Please login again."),
    "390114": ("08001", "Authentication token has expired.  The user must authenticate again."),
    "000630": (
        "57014",
        "Statement reached its statement or warehouse timeout of 60 second(s) and was canceled.",
    ),
    "000604": ("57014", "SQL execution canceled"),
    "000625": (
        "57014",
        "Statement '01b2c3d4-0000-0000-0000-000000000001' has locked table 'T' in transaction "
        "1700000000000000000 and this lock has not yet been released. Your statement "
        "'01b2c3d4-0000-0000-0000-000000000002' was aborted because the number of waiters for "
        "this lock exceeds the 20 statements limit.",
    ),
}
_CANCEL_ALL_RE = re.compile(
    r"^\s*SELECT\s+SYSTEM\$CANCEL_ALL_QUERIES\s*\(\s*(\d+)\s*\)\s*;?\s*$", re.I
)


# A "fault" that only holds matching statements for `delay_s`, then runs them: lines up two
# clients' statements (e.g. two loaders' DDL) so that a race happens every time.
HOLD_ONLY = "hold"


@dataclass
class Fault:
    """Answer the next `times` statements matching `match` with Snowflake error `code`.

    With `delay_s`, the statement is held that long first: a test can then kill a loader while
    a given statement is in flight (the held statement is never executed). With `after`, the
    statement runs first and only its answer is replaced by the error: a COMMIT whose response
    was lost, so the client cannot know that it took effect. With both, the statement runs at
    once and its answer is held `delay_s`: a COMMIT that took effect while its reply is still on
    the way, a point at which a test can kill the loader.
    """

    match: re.Pattern[str]
    times: int
    code: str
    delay_s: float = 0.0
    after: bool = False
    taken: int = 0
    cancelled: int = 0


class FaultInjector:
    """Injected statement errors, for tests of a loader's retry and dead-letter paths."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []

    def add(
        self, match: str, times: int, code: str, delay_s: float = 0.0, after: bool = False
    ) -> None:
        if code != HOLD_ONLY and code not in FAULT_MESSAGES:
            raise ValueError(f"unknown fault code {code!r}; known: {sorted(FAULT_MESSAGES)}")
        if delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        with self._lock:
            self.faults.append(Fault(re.compile(match, re.I | re.S), times, code, delay_s, after))

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "match": f.match.pattern,
                    "times": f.times,
                    "code": f.code,
                    "delay_s": f.delay_s,
                    "after": f.after,
                    "taken": f.taken,
                    "cancelled": f.cancelled,
                }
                for f in self.faults
            ]

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, sql: str, warehouse: str | None) -> tuple[WarehouseError | None, Fault | None]:
        """The error to answer `sql` with (or None), and the fault that chose it."""
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match.search(sql):
                    fault.times -= 1
                    fault.taken += 1
                    if fault.code == HOLD_ONLY:
                        return None, fault
                    sqlstate, template = FAULT_MESSAGES[fault.code]
                    message = template.format(warehouse=warehouse or "SANDBOX_WH")
                    return WarehouseError(fault.code, message, sqlstate), fault
        return None, None


class HeldStatements:
    """Statements held in flight, so that a client can cancel them as it would in Snowflake.

    Snowflake cancels a running statement on the connector's abort request (by request id, what
    the connector sends on Ctrl-C or a client timeout) or on `SYSTEM$CANCEL_ALL_QUERIES(<session
    id>)`, and answers it with 000604. fakesnow knows no session ids and ignores abort requests,
    so a loader's cancel path could not be tested. Runs on the server's event loop only.
    """

    def __init__(self) -> None:
        self._held: dict[asyncio.Event, tuple[str, str | None]] = {}
        self._ids = itertools.count(1_000_001)
        self.session_ids: dict[int, str] = {}

    def new_session(self, token: str) -> int:
        session_id = next(self._ids)
        self.session_ids[session_id] = token
        return session_id

    async def hold(self, token: str, request_id: str | None, seconds: float) -> bool:
        """Wait `seconds`; True if the statement was cancelled meanwhile."""
        event = asyncio.Event()
        self._held[event] = (token, request_id)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        finally:
            del self._held[event]
        return True

    def session_id(self, token: str) -> int | None:
        return next((sid for sid, held in self.session_ids.items() if held == token), None)

    def cancel(self, *, session_id: int | None = None, request_id: str | None = None) -> int:
        token = self.session_ids.get(session_id) if session_id is not None else None
        hits = [
            event
            for event, (held_token, held_request) in self._held.items()
            if (token is not None and held_token == token)
            or (request_id is not None and held_request == request_id)
        ]
        for event in hits:
            event.set()
        return len(hits)


class SessionTracker:
    """Rolls back transactions that a client left open (e.g. a loader killed mid-batch).

    Snowflake aborts a dead client's transaction on its own; fakesnow keeps it open forever,
    and DuckDB then refuses later writes to the same rows. A session with no request in flight
    whose transaction has been idle longer than the timeout is rolled back.
    """

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._last_seen: dict[str, float] = {}
        self._open: set[str] = set()

    def note_sql(self, token: str, sql: str, *, done: bool) -> None:
        """Follow explicit transactions (fakesnow only tracks them with autocommit off).

        Call before `sql` runs (`done=False`) and after (`done=True`). A transaction counts as
        open from its BEGIN's arrival until its COMMIT or ROLLBACK has finished: an ALTER TABLE
        let in while DuckDB was still committing lost the rows that COMMIT reported committed.
        """
        word = sql.lstrip().split(None, 1)[0].upper().rstrip(";") if sql.strip() else ""
        with self._lock:
            if word in ("BEGIN", "START") and not done:
                self._open.add(token)
            elif word in ("COMMIT", "ROLLBACK") and done:
                self._open.discard(token)

    def open_tokens(self) -> list[str]:
        """Sessions with a transaction open (BEGIN seen, no COMMIT or ROLLBACK yet)."""
        with self._lock:
            return list(self._open)

    def in_transaction(self, token: str, conn: Any) -> bool:
        return token in self._open or bool(getattr(conn, "_in_transaction", False))

    def start(self, token: str) -> None:
        with self._lock:
            self._in_flight[token] = self._in_flight.get(token, 0) + 1
            self._last_seen[token] = time.monotonic()

    def end(self, token: str) -> None:
        with self._lock:
            self._in_flight[token] = max(0, self._in_flight.get(token, 1) - 1)
            self._last_seen[token] = time.monotonic()

    def abort_idle(self, sessions: dict[str, Any], idle_seconds: float) -> int:
        """Roll back open transactions idle for `idle_seconds`; returns how many."""
        aborted = 0
        now = time.monotonic()
        with self._lock:
            for token, conn in list(sessions.items()):
                if self._in_flight.get(token, 0) or not self.in_transaction(token, conn):
                    continue
                if now - self._last_seen.get(token, now) < idle_seconds:
                    continue
                self._open.discard(token)
                try:
                    conn.rollback()
                    aborted += 1
                except Exception as e:  # a broken session: nothing left to roll back
                    logger.warning("could not roll back an abandoned transaction: %s", e)
        if aborted:
            logger.warning("rolled back %d abandoned transaction(s)", aborted)
        return aborted

    def run_reaper(self, sessions: dict[str, Any], stop: threading.Event) -> None:
        while not stop.wait(1.0):
            self.abort_idle(sessions, self.idle_timeout)


def restore_stages(fs: Any, stage_dir: Path) -> int:
    """Declare again the stages whose files are on disk; returns how many.

    fakesnow keeps stage definitions in an in-memory catalog, so after a restart a loader that
    created its stage earlier got `Stage ... does not exist`; in Snowflake a stage lasts until it
    is dropped.
    """
    restored = 0
    for path in sorted(p for p in stage_dir.glob("*/*/*") if p.is_dir()):
        database, schema, stage = path.relative_to(stage_dir).parts
        conn = fs.connect(database=database, schema=schema)
        try:
            ref = ".".join(f'"{part}"' for part in (database, schema, stage))
            conn.cursor().execute(f"CREATE STAGE IF NOT EXISTS {ref}")
            restored += 1
        except Exception as e:  # a stage we cannot declare must not stop the server
            logger.warning("could not restore stage %s: %s", path, e)
        finally:
            conn.close()
    return restored


def _open_fakesnow(data_dir: Path | None) -> Path | None:
    """Patch fakesnow and open its one shared database; returns where warehouses are kept."""
    import fakesnow.server as fs_server
    import fakesnow.transforms.stage as fs_stage
    from fakesnow.instance import FakeSnow

    _patch_fakesnow()
    _patch_fakesnow_temp_copy()
    _patch_fakesnow_quoting()
    _patch_fakesnow_null_timestamps()
    registry_path = None
    if data_dir is not None:
        db_dir = data_dir / "databases"
        stage_dir = data_dir / "stages"
        db_dir.mkdir(parents=True, exist_ok=True)
        stage_dir.mkdir(parents=True, exist_ok=True)
        # Stage files live with the databases so a restart keeps both.
        fs_stage.LOCAL_BUCKET_PATH = str(stage_dir.resolve())
        registry_path = data_dir / "warehouses.json"
    # Every session shares one DuckDB instance: per-session FAKESNOW_DB_PATH would attach the
    # same files from several instances, which DuckDB refuses.
    fs_server.shared_fs = FakeSnow(
        db_path=str((data_dir / "databases").resolve()) if data_dir is not None else None,
        nop_regexes=NOP_REGEXES,
    )
    if data_dir is not None:
        restore_stages(fs_server.shared_fs, data_dir / "stages")
    return registry_path


def build_app(
    data_dir: Path | None, idle_transaction_timeout: float = 30.0
) -> tuple[Any, SessionTracker]:
    """The fakesnow Starlette app with a shared on-disk database and the warehouse layer."""
    import fakesnow.server as fs_server
    from starlette.applications import Starlette
    from starlette.routing import Route

    from finance_sandbox.snowflake_control import ControlRoutes
    from finance_sandbox.snowflake_ddl import DdlGate
    from finance_sandbox.snowflake_grants import RoleGrants
    from finance_sandbox.snowflake_sessions import SessionRoutes
    from finance_sandbox.snowflake_state import Catalog, ServerState
    from finance_sandbox.snowflake_statements import StatementRoutes
    from finance_sandbox.snowflake_streams import StreamCatalog
    from finance_sandbox.snowflake_users import UserRegistry

    layer = WarehouseLayer(WarehouseRegistry(_open_fakesnow(data_dir)))
    catalog = Catalog(layer)
    tracker = SessionTracker(idle_transaction_timeout)
    state = ServerState(
        layer=layer,
        faults=FaultInjector(),
        held=HeldStatements(),
        tracker=tracker,
        users=UserRegistry(),
        ddl=DdlGate(lambda token: any(t != token for t in tracker.open_tokens())),
        grants=RoleGrants(catalog.owned_objects),
        streams=StreamCatalog(
            data_dir / "streams.json" if data_dir else None, catalog.table_exists
        ),
    )
    sessions = SessionRoutes(state)
    statements = StatementRoutes(state, catalog)
    own = {
        "/session/v1/login-request",
        "/queries/v1/query-request",
        "/queries/v1/abort-request",
        "/session",
    }
    routes = [
        *ControlRoutes(state).routes(),
        Route("/session/v1/login-request", sessions.login, methods=["POST"]),
        Route("/queries/v1/query-request", statements.query, methods=["POST"]),
        Route("/queries/v1/abort-request", sessions.abort_request, methods=["POST"]),
        Route("/session", sessions.session, methods=["POST"]),
        Route("/session/token-request", sessions.token_request, methods=["POST"]),
        *(r for r in fs_server.routes if getattr(r, "path", None) not in own),
    ]
    return Starlette(routes=routes), tracker


def login_extras(token: str) -> dict[str, Any]:
    """Login fields fakesnow leaves out and connector 5 (its Rust core) requires."""
    return {
        "masterToken": f"{token}-master",
        "validityInSeconds": 3600,
        "masterValidityInSeconds": 14400,
        "displayUserName": "LOADER",
        "firstLogin": False,
        "healthCheckInterval": 45,
    }


def complete_stage_info(response: Any, sql: str) -> Any:
    """Stage fields fakesnow leaves out of a PUT answer and connector 5 (its Rust core) requires."""
    from starlette.responses import JSONResponse

    payload = json.loads(bytes(response.body))
    info = (payload.get("data") or {}).get("stageInfo")
    if not isinstance(info, dict):
        return response
    # fakesnow always answers overwrite false, which connector 5 uploads only with signed headers.
    payload["data"]["overwrite"] = re.search(r"\bOVERWRITE\s*=\s*TRUE\b", sql, re.I) is not None
    info.setdefault("region", "us-central1")
    info.setdefault("endPoint", None)
    info.setdefault("storageAccount", None)
    info.setdefault("isClientSideEncrypted", False)
    info.setdefault("useS3RegionalUrl", False)
    info.setdefault("useRegionalUrl", False)
    info.setdefault("useVirtualUrl", False)
    info.setdefault("path", info.get("location", ""))
    url = info.get("presignedUrl")
    if url and "X-Goog-SignedHeaders" not in url:
        # Connector 5 sends these on upload (a conditional create under OVERWRITE=FALSE) and
        # refuses a URL that does not list them as signed.
        signed = "host;x-goog-if-generation-match;x-goog-meta-sfc-digest"
        info["presignedUrl"] = f"{url}{'&' if '?' in url else '?'}X-Goog-SignedHeaders={signed}"
    return JSONResponse(payload, status_code=response.status_code)


def _error_response(error: WarehouseError) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(
        {
            "data": {"errorCode": error.code, "sqlState": error.sqlstate},
            "code": error.code,
            "message": error.message,
            "success": False,
        }
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finance-sandbox snowflake",
        description="Serve a local Snowflake (fakesnow on DuckDB) for the real Python connector.",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"listen address (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"listen port (default {DEFAULT_PORT}; 0 picks a free one, "
        "printed as SNOWFLAKE_SANDBOX_PORT=<n>)",
    )
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"where databases, stage files and warehouses persist (default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--idle-transaction-timeout",
        type=float,
        default=30.0,
        help="roll back a transaction whose client sent nothing for this many seconds "
        "(a killed loader's open transaction; default 30)",
    )
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--latency",
        help="hold answers back as a real account would: off, default, or a JSON file "
        "(default: $FINANCE_SANDBOX_LATENCY, else off; see benchmarks/README.md)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGINT/SIGTERM."""
    import uvicorn

    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        model = latency.from_option(args.latency)
    except ValueError as e:
        parser.error(str(e))
    data_dir = Path(args.data_dir)
    logging.getLogger("fakesnow.server").setLevel(args.log_level.upper())
    app, tracker = build_app(data_dir, args.idle_transaction_timeout)
    if model is not None:
        app = latency.snowflake_middleware(app, model)
    import fakesnow.server as fs_server

    stop_reaper = threading.Event()
    threading.Thread(
        target=tracker.run_reaper,
        args=(fs_server.sessions, stop_reaper),
        name="abandoned-transactions",
        daemon=True,
    ).start()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=args.host, port=args.port, log_level=args.log_level, access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name="snowflake-sandbox", daemon=True)

    def stop(_signum: int, _frame: object) -> None:
        server.should_exit = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    thread.start()
    while thread.is_alive() and not server.started:
        thread.join(0.05)
    if not server.started:
        print("finance-sandbox snowflake: server failed to start", file=sys.stderr)  # noqa: T201
        return 1
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"SNOWFLAKE_SANDBOX_PORT={port}", flush=True)  # noqa: T201
    print(  # noqa: T201
        f"local Snowflake on http://{args.host}:{port} (account fakesnow, data in {data_dir})",
        file=sys.stderr,
        flush=True,
    )
    while thread.is_alive():
        thread.join(0.5)
    stop_reaper.set()
    # Close DuckDB so the database files are checkpointed.
    fs_server.shared_fs.duck_conn.close()
    return 0
