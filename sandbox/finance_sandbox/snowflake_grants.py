"""Roles and grants for the local Snowflake: a restricted role is refused what it was not granted.

fakesnow has no access control, so a loader that needs more than a DBA grants (CREATE SCHEMA on
the database, CREATE STAGE, …) passed every local test and failed on a real account. Off by
default: only a role defined through `POST /_sandbox/roles` is restricted; every other role may
do anything, as before. A restricted role's statements are checked against its grants (and the
objects it created, which it owns) and refused with Snowflake's codes and messages:

* no privilege at all on an object (or no USAGE on its database or schema) → `002003`,
  "… does not exist or not authorized." (Snowflake does not tell a hidden object from a missing
  one);
* a visible object without the privilege the statement needs → `003001`, "SQL access control
  error: Insufficient privileges to operate on <kind> '<name>'".

What each statement needs follows Snowflake's access-control pages: CREATE TABLE / STAGE /
STREAM on the schema (a TEMPORARY table needs none: "creating a temporary table does not
require the CREATE TABLE privilege"), CREATE SCHEMA on the database (also for IF NOT EXISTS),
INSERT / UPDATE / DELETE / TRUNCATE / SELECT on tables, OWNERSHIP for ALTER, COMMENT and DROP,
READ on a stage for COPY and LIST, READ and WRITE for PUT and REMOVE, USAGE on a warehouse to
use it and OPERATE to resume it. The user stage `@~` needs no grant; a table stage `@%T` needs
ownership of the table.
"""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finance_sandbox.snowflake import WarehouseError, normalise_name, sql_str

_ID = r"(?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)"
_QNAME = rf"({_ID}(?:\s*\.\s*{_ID}){{0,2}})"
_PART_RE = re.compile(r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*')

_GRANT_RE = re.compile(
    rf"^\s*GRANT\s+(.+?)\s+ON\s+(WAREHOUSE|DATABASE|SCHEMA|TABLE|STAGE)\s+{_QNAME}"
    rf"\s+TO\s+ROLE\s+{_ID}\s*;?\s*$",
    re.I | re.S,
)
_SHOW_GRANTS_RE = re.compile(rf"^\s*SHOW\s+GRANTS\s+TO\s+ROLE\s+({_ID})\s*;?\s*$", re.I)
_USE_WH_RE = re.compile(rf"^\s*USE\s+WAREHOUSE\s+({_ID})", re.I)
_ALTER_WH_RE = re.compile(rf"^\s*ALTER\s+WAREHOUSE\s+(?:IF\s+EXISTS\s+)?({_ID})", re.I)
_SHOW_WH_RE = re.compile(r"^\s*SHOW\s+WAREHOUSES\b", re.I)
_CREATE_SCHEMA_RE = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?{_QNAME}", re.I
)
_CREATE_RE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:(LOCAL\s+|GLOBAL\s+)?(TEMPORARY|TEMP|TRANSIENT|VOLATILE)\s+)?"
    rf"(TABLE|STAGE|STREAM)\s+(?:IF\s+NOT\s+EXISTS\s+)?{_QNAME}(?:\s+ON\s+TABLE\s+{_QNAME})?",
    re.I,
)
_OWNER_RE = re.compile(
    rf"^\s*(?:ALTER\s+TABLE|COMMENT\s+ON\s+TABLE|DROP\s+TABLE)\s+(?:IF\s+EXISTS\s+)?{_QNAME}", re.I
)
_TRUNCATE_RE = re.compile(rf"^\s*TRUNCATE\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?{_QNAME}", re.I)
_STAGE_REF_RE = re.compile(
    r"@(~|%?(?:\"(?:[^\"]|\"\")+\"|[^\s/'\".(]+)(?:\.(?:\"(?:[^\"]|\"\")+\"|[^\s/'\".(]+)){0,2})"
)
_PUT_RE = re.compile(r"^\s*PUT\s", re.I)
_LIST_RE = re.compile(r"^\s*(?:LIST|LS)\s", re.I)
_REMOVE_RE = re.compile(r"^\s*(?:REMOVE|RM)\s", re.I)
_COPY_RE = re.compile(rf"^\s*COPY\s+INTO\s+{_QNAME}", re.I)
_DML_RE = re.compile(r"^\s*\(?\s*(SELECT|WITH|INSERT|UPDATE|DELETE|MERGE)\b", re.I)

# The session's current database and schema, and its temporary tables.
_Context = tuple[str | None, str | None, set[str]]


@dataclass(frozen=True)
class Grant:
    """One privilege on one object; `name` is the object's parts, normalised."""

    privilege: str
    kind: str
    name: tuple[str, ...]


def _parts(raw: str) -> tuple[str, ...]:
    return tuple(normalise_name(p) for p in _PART_RE.findall(raw))


def _display(parts: tuple[str, ...]) -> str:
    """Snowflake's SHOW GRANTS spelling: plain parts bare, others double-quoted."""
    out = []
    for part in parts:
        plain = re.fullmatch(r"[A-Z_][A-Z0-9_$]*", part) is not None
        out.append(part if plain else '"' + part.replace('"', '""') + '"')
    return ".".join(out)


def parse_grants(statements: list[str]) -> set[Grant]:
    """`GRANT p1, p2 ON <kind> <name> TO ROLE r` statements → grants (ValueError if not one)."""
    grants: set[Grant] = set()
    for statement in statements:
        match = _GRANT_RE.match(statement)
        if match is None:
            raise ValueError(f"not a GRANT … ON WAREHOUSE|DATABASE|SCHEMA|TABLE|STAGE: {statement}")
        privileges, kind, name = match.groups()
        for privilege in privileges.split(","):
            words = " ".join(privilege.split()).upper()
            grants.add(Grant(words, kind.upper(), _parts(name)))
    return grants


def _refused(kind: str, parts: tuple[str, ...]) -> WarehouseError:
    label = kind.capitalize()
    return WarehouseError(
        "002003",
        f"SQL compilation error:\n{label} '{'.'.join(parts)}' does not exist or not authorized.",
        "02000",
    )


def _insufficient(kind: str, parts: tuple[str, ...]) -> WarehouseError:
    return WarehouseError(
        "003001",
        f"SQL access control error:\nInsufficient privileges to operate on {kind.lower()} "
        f"'{parts[-1]}'",
        "42501",
    )


class RoleGrants:
    """The restricted roles of one server: their grants, what they own, what they ran."""

    def __init__(
        self, owned: Callable[[str | None, str | None], list[tuple[str, tuple[str, ...]]]]
    ) -> None:
        # Objects of a database, for what an unrestricted role holds: it owns everything.
        self._owned = owned
        self._lock = threading.Lock()
        self.roles: dict[str, set[Grant]] = {}
        self.session_role: dict[str, str | None] = {}
        self.temp_tables: dict[str, set[str]] = {}
        self.statements: dict[str, collections.deque[str]] = {}

    def define(self, role: str, statements: list[str]) -> int:
        grants = parse_grants(statements)
        with self._lock:
            self.roles[normalise_name(role)] = grants
            self.statements[normalise_name(role)] = collections.deque(maxlen=20000)
        return len(grants)

    def drop(self, role: str) -> None:
        with self._lock:
            self.roles.pop(normalise_name(role), None)

    def log(self, role: str) -> list[str]:
        with self._lock:
            return list(self.statements.get(normalise_name(role), ()))

    def restricted(self, token: str) -> str | None:
        role = self.session_role.get(token)
        return role if role is not None and role in self.roles else None

    # Checks

    def _has(self, role: str, privilege: str, kind: str, parts: tuple[str, ...]) -> bool:
        grants = self.roles[role]
        return Grant(privilege, kind, parts) in grants or Grant("OWNERSHIP", kind, parts) in grants

    def _any(self, role: str, kind: str, parts: tuple[str, ...]) -> bool:
        return any(g.kind == kind and g.name == parts for g in self.roles[role])

    def _qualify(
        self, raw: str, database: str | None, schema: str | None, size: int = 3
    ) -> tuple[str, ...]:
        named = _parts(raw)
        context = [database or "", schema or ""][: size - 1]
        return (*context[: size - len(named)], *named)

    def _container(self, role: str, parts: tuple[str, ...]) -> None:
        """USAGE on the database and schema of an object, or it does not exist for the role."""
        if len(parts) >= 2 and not self._has(role, "USAGE", "DATABASE", parts[:1]):
            raise _refused("DATABASE", parts[:1])
        if len(parts) >= 3 and not self._has(role, "USAGE", "SCHEMA", parts[:2]):
            raise _refused("SCHEMA", parts[:2])

    def _need(self, role: str, privileges: list[str], kind: str, parts: tuple[str, ...]) -> None:
        self._container(role, parts)
        if all(self._has(role, p, kind, parts) for p in privileges):
            return
        if not self._any(role, kind, parts):
            raise _refused(kind, parts)
        raise _insufficient(kind, parts)

    def _own(self, role: str, kind: str, parts: tuple[str, ...]) -> None:
        with self._lock:
            self.roles[role].add(Grant("OWNERSHIP", kind, parts))

    def check(self, token: str, sql: str, database: str | None, schema: str | None) -> str | None:
        """Raise Snowflake's error if the session's restricted role may not run `sql`.

        Returns SQL to run instead (SHOW GRANTS) or None. A session may always use its own
        temporary tables.
        """
        role = self.restricted(token)
        if match := _SHOW_GRANTS_RE.match(sql):
            if role is not None:
                self.statements[role].append(sql)
            return self.show_grants_sql(normalise_name(match.group(1)), database, schema)
        if role is None:
            return None
        temp = self.temp_tables.setdefault(token, set())
        ctx: _Context = (database, schema, temp)
        self.statements[role].append(sql)
        if match := _USE_WH_RE.match(sql):
            name = _parts(match.group(1))
            if not self._has(role, "USAGE", "WAREHOUSE", name):
                raise WarehouseError(
                    "002043",
                    "SQL compilation error:\nObject does not exist, or operation cannot be "
                    "performed.",
                    "02000",
                )
            return None
        if match := _ALTER_WH_RE.match(sql):
            self._need(role, ["OPERATE"], "WAREHOUSE", _parts(match.group(1)))
            return None
        if _SHOW_WH_RE.match(sql):
            return None  # filtered by the warehouse layer (see `visible_warehouse`)
        if match := _CREATE_SCHEMA_RE.match(sql):
            parts = self._qualify(match.group(1), database, schema, 2)
            self._need(role, ["CREATE SCHEMA"], "DATABASE", parts[:1])
            self._own(role, "SCHEMA", parts)
            return None
        if match := _CREATE_RE.match(sql):
            _, modifier, kind, raw, on_table = match.groups()
            kind = kind.upper()
            parts = self._qualify(raw, database, schema)
            temporary = (modifier or "").upper() in ("TEMPORARY", "TEMP", "VOLATILE")
            self._container(role, parts)
            if not temporary and not self._has(role, f"CREATE {kind}", "SCHEMA", parts[:2]):
                raise _insufficient("SCHEMA", parts[:2])
            if kind == "STREAM" and on_table:
                self._table(role, ["SELECT"], on_table, ctx)
            if temporary:
                temp.add(parts[-1])
            self._own(role, kind, parts)
            return None
        if match := _OWNER_RE.match(sql):
            self._table(role, ["OWNERSHIP"], match.group(1), ctx)
            return None
        if match := _TRUNCATE_RE.match(sql):
            self._table(role, ["TRUNCATE"], match.group(1), ctx)
            return None
        if _PUT_RE.match(sql) or _REMOVE_RE.match(sql):
            self._stages(role, ["READ", "WRITE"], sql, ctx)
            return None
        if _LIST_RE.match(sql):
            self._stages(role, ["READ"], sql, ctx)
            return None
        if match := _COPY_RE.match(sql):
            self._table(role, ["INSERT"], match.group(1), ctx)
            self._stages(role, ["READ"], sql, ctx)
            return None
        if _DML_RE.match(sql):
            self._dml(role, sql, ctx)
        return None

    def _table(self, role: str, privileges: list[str], raw: str, ctx: _Context) -> None:
        database, schema, temp = ctx
        named = _parts(raw)
        if len(named) == 1 and named[0] in temp:
            return
        parts = self._qualify(raw, database, schema)
        if parts[-2].upper() == "INFORMATION_SCHEMA":
            self._container(role, parts[:2])
            return
        self._need(role, privileges, "TABLE", parts)

    def _stages(self, role: str, privileges: list[str], sql: str, ctx: _Context) -> None:
        database, schema, _ = ctx
        for ref in _STAGE_REF_RE.findall(sql):
            if ref == "~":
                continue  # the user's own stage: no grant exists or is needed
            if ref.startswith("%"):
                self._table(role, ["OWNERSHIP"], ref[1:], ctx)
                continue
            self._need(role, privileges, "STAGE", self._qualify(ref, database, schema))

    def _dml(self, role: str, sql: str, ctx: _Context) -> None:
        """SELECT on every table read; INSERT / UPDATE / DELETE on the table written."""
        import sqlglot
        from sqlglot import exp

        try:
            tree = sqlglot.parse_one(sql, read="snowflake")
        except Exception:
            return  # fakesnow answers what it cannot parse
        target: exp.Table | None = None
        needs: list[str] = []
        if isinstance(tree, exp.Insert):
            target, needs = tree.find(exp.Table), ["INSERT"]
        elif isinstance(tree, exp.Update):
            target, needs = tree.this, ["UPDATE"]
        elif isinstance(tree, exp.Delete):
            target, needs = tree.this, ["DELETE"]
        elif isinstance(tree, exp.Merge):
            target = tree.this
            text = sql.upper()
            needs = [
                p
                for p, word in (("INSERT", "THEN INSERT"), ("UPDATE", "THEN UPDATE"))
                if re.search(r"\s+".join(word.split()), text)
            ]
            if re.search(r"THEN\s+DELETE", text):
                needs.append("DELETE")
        ctes = {c.alias_or_name.upper() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name.upper() in ctes):
                continue
            raw = ".".join(
                p.sql(dialect="snowflake")
                for p in (table.args.get("catalog"), table.args.get("db"), table.this)
                if p is not None
            )
            is_target = target is not None and table is target
            if isinstance(target, exp.Table) and not is_target:
                is_target = table.sql() == target.sql() and table.alias == target.alias
            self._table(role, needs if is_target else ["SELECT"], raw, ctx)

    def visible_warehouse(self, token: str, name: str) -> bool:
        """SHOW WAREHOUSES lists only warehouses the role holds a privilege on."""
        role = self.restricted(token)
        return role is None or self._any(role, "WAREHOUSE", (name,))

    def show_grants_sql(self, role: str, database: str | None, schema: str | None) -> str:
        """SHOW GRANTS TO ROLE in Snowflake's column layout.

        A role nobody restricted may do anything here, so it shows as the owner of every
        warehouse, of the session's database and schema, and of the schema's tables and stages.
        """
        cols = (
            '\'2026-01-01 00:00:00.000 +0000\'::TIMESTAMP_TZ AS "created_on", {p} AS "privilege", '
            '{k} AS "granted_on", {n} AS "name", \'ROLE\' AS "granted_to", '
            '{r} AS "grantee_name", \'false\' AS "grant_option", \'SECURITYADMIN\' AS "granted_by"'
        )
        with self._lock:
            held = set(self.roles[role]) if role in self.roles else None
        if held is None:
            held = {
                Grant("OWNERSHIP", kind, parts) for kind, parts in self._owned(database, schema)
            }
        rows = sorted(held, key=lambda g: (g.kind, g.name, g.privilege))

        selects = [
            "SELECT "
            + cols.format(
                p=sql_str(g.privilege),
                k=sql_str(g.kind),
                n=sql_str(_display(g.name)),
                r=sql_str(role),
            )
            for g in rows
        ]
        if not selects:
            return "SELECT " + cols.format(p="''", k="''", n="''", r="''") + " WHERE 1 = 0"
        return " UNION ALL ".join(selects)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                role: sorted(f"{g.privilege} ON {g.kind} {_display(g.name)}" for g in grants)
                for role, grants in self.roles.items()
            }
