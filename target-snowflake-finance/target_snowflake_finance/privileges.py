"""What the loading role holds (SHOW GRANTS TO ROLE) and the GRANT statements it still needs.

A role that lacks a grant fails on a real account in the middle of a load, with an error naming
one object. Read once at start-up, the grants let the target (and `check`) name every missing
GRANT at once, before any data moves.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from snowflake.connector.errors import Error as SnowflakeError

from target_snowflake_finance.errors import classify
from target_snowflake_finance.naming import qualified, quote

if TYPE_CHECKING:
    from target_snowflake_finance.connector import Session

logger = logging.getLogger("target_snowflake_finance")

_PART_RE = re.compile(r'"((?:[^"]|"")*)"|([^."]+)')


def name_parts(name: str) -> tuple[str, ...]:
    """`DB.SCHEMA."mixed Case"` (SHOW GRANTS' spelling) → its parts as stored."""
    parts = []
    for quoted, plain in _PART_RE.findall(name):
        parts.append(quoted.replace('""', '"') if quoted else plain.strip().upper())
    return tuple(parts)


def table_privileges(load_method: str, has_keys: bool) -> tuple[str, ...]:
    """Table privileges one stream's load uses.

    upsert MERGEs (reads the table, inserts, updates); append-only inserts; overwrite DELETEs the
    table's rows, then inserts (MERGE when the stream has keys). Nothing TRUNCATEs.
    """
    if load_method == "append-only":
        return ("INSERT",)
    if load_method == "overwrite":
        return ("DELETE", "INSERT", "SELECT", "UPDATE") if has_keys else ("DELETE", "INSERT")
    return ("INSERT", "SELECT", "UPDATE")


@dataclass(frozen=True)
class Need:
    """Privileges needed on one object, and what for (said in the message)."""

    privileges: tuple[str, ...]
    kind: str  # WAREHOUSE, DATABASE, SCHEMA, TABLE, STAGE
    parts: tuple[str, ...]


class RoleGrants:
    """The privileges a role holds, directly or through roles granted to it."""

    def __init__(self, role: str, held: set[tuple[str, str, tuple[str, ...]]]) -> None:
        self.role = role
        self.held = held
        self.owned: set[tuple[str, tuple[str, ...]]] = set()

    @classmethod
    def load(cls, session: Session, role: str | None) -> RoleGrants | None:
        """Read the grants of `role` (or the session's role); None when they cannot be read."""
        try:
            if not role:
                rows = session.execute("SELECT CURRENT_ROLE()")
                role = str(rows[0][0]) if rows and rows[0][0] else None
            if not role:
                return None
            held: set[tuple[str, str, tuple[str, ...]]] = set()
            seen: set[tuple[str, str]] = set()
            pending = [("ROLE", role)]
            while pending:
                kind, name = pending.pop()
                if (kind, name) in seen:
                    continue
                seen.add((kind, name))
                what = "DATABASE ROLE" if kind == "DATABASE_ROLE" else "ROLE"
                ref = qualified(*name_parts(name)) if kind == "DATABASE_ROLE" else quote(name)
                rows = session.execute(f"SHOW GRANTS TO {what} {ref}")
                columns = [d[0].lower() for d in (session.last_description or [])]
                for row in rows:
                    grant = dict(zip(columns, row, strict=False))
                    privilege = str(grant.get("privilege") or "").upper()
                    granted_on = str(grant.get("granted_on") or "").upper()
                    object_name = str(grant.get("name") or "")
                    if granted_on in ("ROLE", "DATABASE_ROLE") and privilege == "USAGE":
                        pending.append((granted_on, object_name))
                    held.add((privilege, granted_on, name_parts(object_name)))
            return cls(role, held)
        except SnowflakeError as e:  # no privilege to look: the load itself will tell
            logger.warning(
                "Could not read the grants of role %s (%s): missing privileges will show up as "
                "errors during the load",
                role,
                classify(e).reason,
            )
            return None

    def has(self, privilege: str, kind: str, parts: tuple[str, ...]) -> bool:
        if (kind, parts) in self.owned or ("OWNERSHIP", kind, parts) in self.held:
            return True
        if (privilege, kind, parts) in self.held:
            return True
        # The owner of a schema (database) may use it and create in it.
        if kind in ("SCHEMA", "DATABASE") and privilege.split(maxsplit=1)[0] in ("USAGE", "CREATE"):
            return ("OWNERSHIP", kind, parts) in self.held
        return False

    def own(self, kind: str, parts: tuple[str, ...]) -> None:
        """The role created this object in this run: it owns it."""
        self.owned.add((kind, parts))

    def missing(self, needs: list[Need]) -> list[str]:
        """GRANT statements for whatever `needs` asks and the role lacks, one per object."""
        statements: list[str] = []
        for need in needs:
            lacking = [p for p in need.privileges if not self.has(p, need.kind, need.parts)]
            if lacking:
                statement = (
                    f"GRANT {', '.join(lacking)} ON {need.kind} {qualified(*need.parts)} "
                    f"TO ROLE {quote(self.role)};"
                )
                if statement not in statements:
                    statements.append(statement)
        return statements
