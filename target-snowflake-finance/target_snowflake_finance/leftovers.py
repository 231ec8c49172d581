"""What a run leaves in Snowflake and on disk, and how it is removed: now, or by a later run.

A run owns staging tables (`_TSF_STG_<table>_<epoch>_<suffix>`), files under
`@stage/<load id>/…` and temp directories `target-snowflake-finance-*`. They go when their sink
is cleaned up, when the run fails, and, after a kill, when a later run finds them older than
`orphan_cleanup_hours` (the age keeps it off the files of a run still going).
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
import os
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from target_snowflake_finance.errors import classify
from target_snowflake_finance.naming import quote

if TYPE_CHECKING:
    from target_snowflake_finance.connector import Session

logger = logging.getLogger("target_snowflake_finance")

STAGING_PREFIX = "_TSF_STG_"
WORKDIR_PREFIX = "target-snowflake-finance-"
OWNER_FILE = "owner.pid"
# The creation time (epoch seconds) is part of the name: a later run can judge the age of an
# orphan from the name alone, on any account (no reliance on information_schema's CREATED).
_STAGING_RE = re.compile(rf"^{STAGING_PREFIX}.*_(\d{{10}})_[0-9A-F]{{8}}$")

_live: weakref.WeakSet[Cleanable] = weakref.WeakSet()


class Cleanable(abc.ABC):
    """Something that owns leftovers; `clean_up_now` removes them (idempotent, never raises)."""

    @abc.abstractmethod
    def clean_up_now(self) -> None:
        """Remove this owner's staged files, staging tables and temp folders."""


def register(owner: Cleanable) -> None:
    _live.add(owner)


def clean_up_live() -> None:
    """After a failed run: every owner still alive removes what it made."""
    for owner in list(_live):
        owner.clean_up_now()


def staging_name(table: str, suffix: str) -> str:
    safe = re.sub(r"[^0-9A-Za-z_]", "_", table)[:200]
    return f"{STAGING_PREFIX}{safe}_{int(time.time())}_{suffix}"


def new_workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    # Whose it is: a later run removes it only once this process is gone (same host, shared /tmp).
    (path / OWNER_FILE).write_text(str(os.getpid()))
    return path


def _owner_alive(path: Path) -> bool:
    try:
        pid = int((path / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user has that pid
        return True
    return True


def quietly(what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as e:
        logger.warning("Could not %s: %s", what, classify(e).reason)


def remove_orphans(session: Session, stage_ref: str, hours: float) -> None:
    """Remove staging tables, staged files and temp dirs of earlier runs older than `hours`."""
    cutoff = time.time() - hours * 3600
    quietly("drop orphaned staging tables", lambda: _drop_old_staging(session, cutoff))
    quietly("remove orphaned staged files", lambda: _remove_old_files(session, stage_ref, cutoff))
    _remove_old_workdirs(cutoff)


def _drop_old_staging(session: Session, cutoff: float) -> None:
    rows = session.execute(
        f"SELECT table_name FROM {quote(session.database)}.information_schema.tables "
        f"WHERE table_schema = %(schema)s AND LEFT(table_name, {len(STAGING_PREFIX)}) = %(prefix)s",
        {"schema": session.schema, "prefix": STAGING_PREFIX},
    )
    for (name,) in rows:
        match = _STAGING_RE.match(str(name))
        if match and int(match.group(1)) < cutoff:
            logger.info("Dropping staging table %s left by an earlier run", name)
            session.execute(f"DROP TABLE IF EXISTS {session.table_ref(str(name))}")


def _remove_old_files(session: Session, stage_ref: str, cutoff: float) -> None:
    rows = session.execute(f"LIST @{stage_ref}")
    old_loads: set[str] = set()
    young_loads: set[str] = set()
    for row in rows:
        name, modified = str(row[0]), str(row[3])
        parts = name.split("/")
        if len(parts) < 3:  # <stage>/<load id>/…: anything else is not ours
            continue
        try:
            stamp = dt.datetime.strptime(modified, "%a, %d %b %Y %H:%M:%S %Z")
        except ValueError:
            continue
        age_ok = stamp.replace(tzinfo=dt.UTC).timestamp() < cutoff
        (old_loads if age_ok else young_loads).add(parts[1])
    for load in sorted(old_loads - young_loads):
        logger.info("Removing staged files of earlier load %s", load)
        session.execute(f"REMOVE @{stage_ref}/{load}/")


def _remove_old_workdirs(cutoff: float) -> None:
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff and not _owner_alive(path):
                shutil.rmtree(path, ignore_errors=True)
        except OSError:  # another run removed it first
            continue
