"""A latency model for the sandbox: what a real Snowflake account and a real Kinetic server cost.

The local Snowflake answers in milliseconds and the Epicor emulator in microseconds, so a loader
that waits on every statement or page looks fast here and is slow for users. With a model on,
each answer is held back by what the real system would charge for it (figures and their sources
in benchmarks/README.md). Off by default: without a model nothing is wrapped.

The wait is an `asyncio.sleep` after the work is done, so other sessions and requests go on
meanwhile, as they would against a real server.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ENV_VAR = "FINANCE_SANDBOX_LATENCY"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Charge:
    """What one request of a kind costs: a fixed part plus parts that grow with rows and bytes."""

    fixed_ms: float = 0.0
    per_1000_rows_ms: float = 0.0
    per_mb_ms: float = 0.0

    def seconds(self, rows: int = 0, nbytes: int = 0, scale: float = 1.0) -> float:
        ms = self.fixed_ms + self.per_1000_rows_ms * rows / 1000 + self.per_mb_ms * nbytes / 1e6
        return max(ms, 0.0) * scale / 1000


# Kinds of Snowflake request; figures (ms) and their sources: benchmarks/README.md.
SNOWFLAKE_DEFAULTS: dict[str, Charge] = {
    "login": Charge(fixed_ms=1000),
    "metadata": Charge(fixed_ms=200),
    "select": Charge(fixed_ms=200, per_1000_rows_ms=1),
    "put": Charge(fixed_ms=200),
    "upload": Charge(fixed_ms=100, per_mb_ms=100),
    "copy": Charge(fixed_ms=500, per_1000_rows_ms=20),
    "dml": Charge(fixed_ms=300, per_1000_rows_ms=26),
    "commit": Charge(fixed_ms=200),
}
EPICOR_DEFAULTS: dict[str, Charge] = {
    "request": Charge(fixed_ms=500, per_1000_rows_ms=10_000),
}


@dataclass(frozen=True)
class Model:
    """Per-kind charges for both systems, and one factor that scales them all."""

    snowflake: dict[str, Charge] = field(default_factory=lambda: dict(SNOWFLAKE_DEFAULTS))
    epicor: dict[str, Charge] = field(default_factory=lambda: dict(EPICOR_DEFAULTS))
    scale: float = 1.0

    def delay(self, system: str, kind: str, rows: int = 0, nbytes: int = 0) -> float:
        charges = self.snowflake if system == "snowflake" else self.epicor
        charge = charges.get(kind)
        return charge.seconds(rows, nbytes, self.scale) if charge else 0.0


def _charges(base: dict[str, Charge], raw: Any, where: str) -> dict[str, Charge]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object of kind -> charge")
    merged = dict(base)
    for kind, spec in raw.items():
        if kind not in base:
            raise ValueError(f"{where}: unknown kind {kind!r}; known: {sorted(base)}")
        if not isinstance(spec, dict) or set(spec) - set(Charge.__dataclass_fields__):
            raise ValueError(
                f"{where}.{kind} takes fixed_ms, per_1000_rows_ms, per_mb_ms (numbers, ms)"
            )
        merged[kind] = replace(base[kind], **{k: float(v) for k, v in spec.items()})
    return merged


def load(spec: str | None) -> Model | None:
    """The model named by `spec`: None/""/"off", "default", or a JSON file overriding defaults.

    The file holds `{"scale": 0.5, "snowflake": {"copy": {"fixed_ms": 800}}, "epicor": {…}}`;
    kinds it leaves out keep their default figures.
    """
    if spec is None or spec.strip().lower() in {"", "off", "none"}:
        return None
    if spec.strip().lower() == "default":
        return Model()
    path = Path(spec)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(
            f"latency model {spec!r}: not 'off', 'default' or a readable JSON file ({e})"
        ) from e
    if not isinstance(raw, dict) or set(raw) - {"scale", "snowflake", "epicor"}:
        raise ValueError(f"latency model {spec}: keys are scale, snowflake, epicor")
    scale = float(raw.get("scale", 1.0))
    if scale < 0:
        raise ValueError(f"latency model {spec}: scale must be >= 0")
    return Model(
        snowflake=_charges(SNOWFLAKE_DEFAULTS, raw.get("snowflake", {}), "snowflake"),
        epicor=_charges(EPICOR_DEFAULTS, raw.get("epicor", {}), "epicor"),
        scale=scale,
    )


def from_option(option: str | None) -> Model | None:
    """The model from a `--latency` option, else from $FINANCE_SANDBOX_LATENCY, else off."""
    return load(option if option is not None else os.environ.get(ENV_VAR))


class Ledger:
    """What was charged, by kind: for benchmarks to set a run's wall time against its waits.

    Served at `GET /_sandbox/latency` (`DELETE` answers and resets it) by the wrapped server,
    with the local server's own work time per kind beside the charges. Runs on the server's
    event loop only.
    """

    PATH = "/_sandbox/latency"

    def __init__(self, model: Model, system: str) -> None:
        self.model, self.system = model, system
        self.by_kind: dict[str, dict[str, float]] = {}
        # Charges per client connection (statements only; logins and uploads carry no session):
        # a loader that overlaps its connections waits on the busiest one, not on the sum.
        self.by_session: dict[str, float] = {}

    def note(
        self, kind: str, seconds: float, rows: int, nbytes: int, work: float, *, session: str = ""
    ) -> None:
        zero = {"count": 0, "seconds": 0.0, "work_seconds": 0.0, "rows": 0, "bytes": 0}
        entry = self.by_kind.setdefault(kind, zero)
        entry["count"] += 1
        entry["seconds"] += seconds
        entry["work_seconds"] += work
        entry["rows"] += rows
        entry["bytes"] += nbytes
        if session:
            self.by_session[session] = self.by_session.get(session, 0.0) + seconds

    async def answer(self, scope: Scope, send: Send) -> None:
        """The charges so far; a DELETE answers them too, then starts afresh."""
        total = sum(e["seconds"] for e in self.by_kind.values())
        work = sum(e["work_seconds"] for e in self.by_kind.values())
        sessions = {k: round(v, 3) for k, v in self.by_session.items()}
        body = json.dumps(
            {
                "seconds": round(total, 3),
                "work_seconds": round(work, 3),
                "by_kind": self.by_kind,
                "by_session": sessions,
            }
        ).encode()
        if scope["method"] == "DELETE":
            self.by_kind.clear()
            self.by_session.clear()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def charge(
        self, kind: str, rows: int, nbytes: int, started: float, session: str = ""
    ) -> None:
        """Note and wait the charge; `started`: when the local server began the work."""
        seconds = self.model.delay(self.system, kind, rows, nbytes)
        self.note(kind, seconds, rows, nbytes, time.perf_counter() - started, session=session)
        await asyncio.sleep(seconds)


# -- Snowflake ----------------------------------------------------------------------------------

_COMMIT_RE = re.compile(r"^\s*(COMMIT|ROLLBACK)\b", re.I)
_PUT_RE = re.compile(r"^\s*PUT\s", re.I)
_COPY_RE = re.compile(r"^\s*COPY\s+INTO\b", re.I)
_DML_RE = re.compile(r"^\s*(MERGE|INSERT|UPDATE|DELETE)\b", re.I)
_SELECT_RE = re.compile(r"^\s*\(?\s*(SELECT|WITH)\b", re.I)
_CATALOG_RE = re.compile(r"\binformation_schema\b|\bCURRENT_[A-Z_]+\s*\(", re.I)


def statement_kind(sql: str) -> str:
    """The model's kind of a statement; anything not loading or reading data is metadata."""
    if _COMMIT_RE.match(sql):
        return "commit"
    if _PUT_RE.match(sql):
        return "put"
    if _COPY_RE.match(sql):
        return "copy"
    if _DML_RE.match(sql):
        return "dml"
    if _SELECT_RE.match(sql) and not _CATALOG_RE.search(sql):
        return "select"
    return "metadata"


def _result_rows(kind: str, payload: dict[str, Any]) -> int:
    """Rows a statement loaded, changed or returned, read from the answer the client gets."""
    data = payload.get("data") or {}
    if kind == "select":
        return int(data.get("total") or 0)
    names = [str(col.get("name", "")).lower() for col in data.get("rowtype") or []]
    rows = data.get("rowset")
    if rows is None and data.get("rowsetBase64"):
        from pyarrow import ipc

        table = ipc.open_stream(base64.b64decode(data["rowsetBase64"])).read_all()
        rows = [list(r.values()) for r in table.to_pylist()]
    if kind == "copy" and "rows_loaded" in names:
        at = names.index("rows_loaded")
        return sum(int(r[at] or 0) for r in rows or [])
    total = 0
    for row in rows or []:  # DML answers: one row of counts (inserted, updated, deleted)
        total += sum(int(v) for v in row if isinstance(v, (int, str)) and str(v).isdigit())
    return total


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _charged(
    app: App,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    ledger: Ledger,
    kind: str,
    nbytes: int,
    count: Callable[[list[Message], bytes], int],
    session: str = "",
) -> None:
    """Run the app, keeping its answer back so the charge can depend on it (`count` reads the
    rows from the held messages and body), charge, then send the answer."""
    started = time.perf_counter()
    sent: list[Message] = []

    async def keep(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, keep)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    await ledger.charge(kind, count(sent, body), nbytes, started, session)
    for message in sent:
        await send(message)


def _decoded(body: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    if (b"content-encoding", b"gzip") in [(k.lower(), v.lower()) for k, v in headers]:
        return gzip.decompress(body)
    return body


def snowflake_middleware(app: App, model: Model) -> App:
    """Wrap the local Snowflake's ASGI app so each login, statement and upload pays its charge."""
    ledger = Ledger(model, "snowflake")

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == Ledger.PATH:
            await ledger.answer(scope, send)
            return
        if path == "/session/v1/login-request":
            kind, nbytes = "login", 0
        elif path == "/queries/v1/query-request":
            kind, nbytes = "metadata", 0
            body, messages = await _read_body(receive)
            receive = _replay(messages, receive)
            try:
                request = json.loads(_decoded(body, scope.get("headers", [])))
                sql = str(request.get("sqlText", ""))
                kind = "metadata" if request.get("describeOnly") else statement_kind(sql)
            except ValueError:  # let the server answer a malformed request itself
                pass
        elif path.startswith("/fs_bucket/") and method == "PUT":
            kind = "upload"
            body, messages = await _read_body(receive)
            receive, nbytes = _replay(messages, receive), len(body)
        else:
            await app(scope, receive, send)
            return
        await _charged(
            app,
            scope,
            receive,
            send,
            ledger=ledger,
            kind=kind,
            nbytes=nbytes,
            count=lambda _, answer: _statement_rows(kind, answer),
            session=_session_of(scope) if kind not in {"login", "upload"} else "",
        )

    return wrapped


def _session_of(scope: Scope) -> str:
    """A short, stable name for the connection a request came on (from its session token)."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            return hashlib.sha256(value).hexdigest()[:8]
    return ""


def _statement_rows(kind: str, answer: bytes) -> int:
    """Rows a data statement's answer counts; 0 for other kinds and unreadable answers."""
    if kind not in {"select", "copy", "dml"}:
        return 0
    try:
        return _result_rows(kind, json.loads(answer))
    except (ValueError, KeyError, TypeError):
        return 0


# -- Epicor -------------------------------------------------------------------------------------


def served_rows(payload: Any) -> int:
    """Rows in an Epicor answer: the page's rows plus every `$expand`-ed child row."""
    if isinstance(payload, list):
        return sum(1 + served_rows(item) for item in payload if isinstance(item, dict))
    if isinstance(payload, dict):
        return sum(served_rows(v) for v in payload.values() if isinstance(v, (list, dict)))
    return 0


def epicor_middleware(app: App, model: Model) -> App:
    """Wrap the Epicor emulator so each API request pays a base charge plus one per row served.

    The emulator's own control routes (`/_sandbox/…`) are not charged.
    """
    ledger = Ledger(model, "epicor")

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == Ledger.PATH:
            await ledger.answer(scope, send)
            return
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await app(scope, receive, send)
            return
        await _charged(
            app, scope, receive, send, ledger=ledger, kind="request", nbytes=0, count=_epicor_rows
        )

    return wrapped


def _epicor_rows(sent: list[Message], body: bytes) -> int:
    """Rows a successful JSON answer served; 0 for errors and anything else."""
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    if start is None or start.get("status") != 200 or body[:1] not in (b"{", b"["):
        return 0
    try:
        return served_rows(json.loads(body))
    except ValueError:
        return 0
