"""The audit trail: audit and rejects tables, dead-letter files, and what `replay` reads back."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import simplejson

from target_snowflake_finance.types import dumps_variant

DEAD_LETTER_FORMAT = "target-snowflake-finance/dead-letter/v1"
STATUS_COMMITTED = "committed"
STATUS_FAILED = "failed"

# One row per batch. The single place that knows the audit table's columns.
AUDIT_COLUMNS: dict[str, str] = {
    "LOAD_ID": "VARCHAR",
    "BATCH_ID": "VARCHAR",
    "STREAM": "VARCHAR",
    "TABLE_NAME": "VARCHAR",
    "LOAD_METHOD": "VARCHAR",
    "STATUS": "VARCHAR",
    "ROWS_RECEIVED": "NUMBER(38,0)",
    "ROWS_LOADED": "NUMBER(38,0)",
    "ROWS_REJECTED": "NUMBER(38,0)",
    "REPLICATION_KEY": "VARCHAR",
    "MIN_REPLICATION_KEY": "VARCHAR",
    "MAX_REPLICATION_KEY": "VARCHAR",
    "ATTEMPTS": "NUMBER(38,0)",
    "ERROR": "VARCHAR",
    "DEAD_LETTER_FILE": "VARCHAR",
    "STARTED_AT": "TIMESTAMP_TZ",
    "STAGED_AT": "TIMESTAMP_TZ",
    "FINISHED_AT": "TIMESTAMP_TZ",
    "DURATION_MS": "NUMBER(38,0)",
}

REJECT_COLUMNS: dict[str, str] = {
    "LOAD_ID": "VARCHAR",
    "BATCH_ID": "VARCHAR",
    "STREAM": "VARCHAR",
    "TABLE_NAME": "VARCHAR",
    "RECORD_KEY": "VARCHAR",
    "REASON": "VARCHAR",
    "RECORD": "VARCHAR",
    "REJECTED_AT": "TIMESTAMP_TZ",
}

TIMESTAMP_COLUMNS = {c for c, t in AUDIT_COLUMNS.items() if t.startswith("TIMESTAMP")}


def create_table_sql(table_ref: str, columns: Mapping[str, str]) -> str:
    from target_snowflake_finance.naming import quote

    cols = ", ".join(f"{quote(c)} {t}" for c, t in columns.items())
    return f"CREATE TABLE IF NOT EXISTS {table_ref} ({cols})"


@dataclass
class BatchAudit:
    """What the audit row of one batch says."""

    load_id: str
    batch_id: str
    stream: str
    table_name: str
    load_method: str
    rows_received: int
    replication_key: str | None = None
    min_replication_key: str | None = None
    max_replication_key: str | None = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    status: str = STATUS_COMMITTED
    attempts: int = 1
    error: str | None = None
    dead_letter_file: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    staged_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    def params(self) -> dict[str, Any]:
        finished = self.finished_at or dt.datetime.now(dt.UTC)
        values: dict[str, Any] = {
            "LOAD_ID": self.load_id,
            "BATCH_ID": self.batch_id,
            "STREAM": self.stream,
            "TABLE_NAME": self.table_name,
            "LOAD_METHOD": self.load_method,
            "STATUS": self.status,
            "ROWS_RECEIVED": self.rows_received,
            "ROWS_LOADED": self.rows_loaded,
            "ROWS_REJECTED": self.rows_rejected,
            "REPLICATION_KEY": self.replication_key,
            "MIN_REPLICATION_KEY": self.min_replication_key,
            "MAX_REPLICATION_KEY": self.max_replication_key,
            "ATTEMPTS": self.attempts,
            "ERROR": (self.error or None) and self.error[:16000],
            "DEAD_LETTER_FILE": self.dead_letter_file,
            "STARTED_AT": self.started_at,
            "STAGED_AT": self.staged_at,
            "FINISHED_AT": finished,
            "DURATION_MS": int((finished - self.started_at).total_seconds() * 1000),
        }
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}


def insert_audit_sql(table_ref: str) -> str:
    """One INSERT for one audit row (pyformat parameters, escaped by the connector)."""
    from target_snowflake_finance.naming import quote

    cols = ", ".join(quote(c) for c in AUDIT_COLUMNS)
    values = ", ".join(
        f"TO_TIMESTAMP_TZ(%({c})s)" if c in TIMESTAMP_COLUMNS else f"%({c})s" for c in AUDIT_COLUMNS
    )
    return f"INSERT INTO {table_ref} ({cols}) SELECT {values}"


def committed_sql(table_ref: str) -> str:
    """Whether a batch's audit row says committed: it is written in the batch's transaction."""
    return (
        f'SELECT COUNT(*) FROM {table_ref} WHERE "LOAD_ID" = %(load_id)s '
        f'AND "BATCH_ID" = %(batch_id)s AND "STATUS" = \'{STATUS_COMMITTED}\''
    )


def record_json(record: Mapping[str, Any]) -> str:
    """A record as JSON text: decimals exact, datetimes ISO 8601."""
    return dumps_variant(dict(record)) or "{}"


# Dead letter


def write_dead_letter(directory: Path, payload: dict[str, Any]) -> Path:
    """Write one failed batch, readable by its owner only; the payload never holds config."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{payload['load_id']}-{_safe(payload['stream'])}-{payload['batch_id']}.json"
    path = directory / name
    body = simplejson.dumps(
        {"format": DEAD_LETTER_FORMAT, **payload},
        use_decimal=True,
        default=_default,
        ensure_ascii=False,
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(body)
    path.chmod(0o600)
    return path


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:80]


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def read_dead_letter(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = simplejson.loads(path.read_text(encoding="utf-8"), use_decimal=True)
    if data.get("format") != DEAD_LETTER_FORMAT:
        raise ValueError(f"{path.name} is not a target-snowflake-finance dead-letter file")
    return data


def dead_letter_files(directory: Path) -> Iterator[Path]:
    """Pending dead-letter files, oldest first (replayed ones live in `replayed/`)."""
    if not directory.is_dir():
        return iter(())
    return iter(sorted(directory.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name)))


def report_line(**fields: Any) -> str:
    return json.dumps(fields, default=str)
