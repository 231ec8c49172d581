"""The start-up checks `start` and `check` share: objects, columns and grants, all at once.

Nothing here creates anything: it finds what exists, what a run would have to create (only
with `manage_tables: true`) and which GRANT statements the role lacks, so that a run fails
before any data moves and names every fix in one message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snowflake.connector.errors import Error as SnowflakeError

from target_snowflake_finance.audit import AUDIT_COLUMNS, REJECT_COLUMNS, create_table_sql
from target_snowflake_finance.errors import TargetConfigError, classify
from target_snowflake_finance.naming import config_identifier, qualified, quote, table_name
from target_snowflake_finance.privileges import Need, RoleGrants, table_privileges

if TYPE_CHECKING:
    from target_snowflake_finance.connector import Session
    from target_snowflake_finance.target import TargetSnowflakeFinance

#: The target's own tables: the setting naming each, its columns, the privileges a load needs.
HOUSE_TABLES: tuple[tuple[str, dict[str, str], tuple[str, ...]], ...] = (
    ("audit_table", AUDIT_COLUMNS, ("INSERT", "SELECT")),
    ("rejects_table", REJECT_COLUMNS, ("INSERT",)),
)


@dataclass
class Findings:
    """What the checks found; `problems` and `grants` empty means a run may start."""

    role: str
    location: str
    problems: list[str] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    schema_exists: bool = False
    stage_exists: bool = False
    create_tables: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    role_grants: RoleGrants | None = None
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.grants

    def message(self) -> str:
        """One message naming every problem and every missing GRANT."""
        parts = [f"role {self.role} cannot load into {self.location}:"]
        parts += [p.rstrip(".") + "." for p in self.problems]
        if self.grants:
            parts.append(
                "Missing grants (run them as the objects' owner or SECURITYADMIN): "
                + " ".join(self.grants)
            )
        parts.append("`target-snowflake-finance check --config FILE` checks again without loading")
        return " ".join(parts)


def _exists(session: Session, sql: str, params: dict[str, Any]) -> bool:
    rows = session.execute(sql, params)
    return bool(rows and int(rows[0][0] or 0))


def _stage_exists(session: Session, database: str, schema: str, stage: str) -> bool:
    pattern = stage.replace("\\", "\\\\").replace("'", "''")
    rows = session.execute(f"SHOW STAGES LIKE '{pattern}' IN SCHEMA {qualified(database, schema)}")
    columns = [d[0].lower() for d in (session.last_description or [])]
    index = columns.index("name") if "name" in columns else 1
    return any(str(r[index]) == stage for r in rows)


def inspect(target: TargetSnowflakeFinance, session: Session) -> Findings:
    """Check warehouse, database, schema, stage, audit, rejects and mapped tables, and grants."""
    config = target.config
    manage = bool(config["manage_tables"])
    database, schema = target.database, target.schema_name
    warehouse = config_identifier(str(config.get("warehouse") or ""))
    session.connection()  # a login failure is its own one-line error (ConnectError)
    configured = config_identifier(str(config["role"])) if config.get("role") else None
    role = configured or "(the user's default role)"
    found = Findings(role=role, location=f"{database}.{schema}")
    needs = [Need(("USAGE",), "WAREHOUSE", (warehouse,)), Need(("USAGE",), "DATABASE", (database,))]
    try:
        session.check_warehouse(resume=bool(config["resume_warehouse"]))
        found.checked.append(f"warehouse {warehouse}")
    except TargetConfigError as e:
        found.problems.append(str(e))
    except SnowflakeError as e:
        found.problems.append(f"warehouse {warehouse} cannot be used ({classify(e).reason})")

    def finish() -> Findings:
        # Read last: an object another run of this role created meanwhile is then either
        # among the grants (it owns it) or was seen missing (this run creates it).
        found.role_grants = RoleGrants.load(session, configured)
        if found.role_grants is not None:
            found.role = found.role_grants.role
            found.grants = found.role_grants.missing(needs)
        return found

    try:
        found.schema_exists = _exists(
            session,
            f"SELECT COUNT(*) FROM {quote(database)}.information_schema.schemata "
            "WHERE schema_name = %(schema)s",
            {"schema": schema},
        )
    except SnowflakeError as e:
        found.problems.append(
            f"database {database} does not exist or the role cannot use it ({classify(e).reason})"
        )
        return finish()
    schema_parts = (database, schema)
    schema_ref = qualified(database, schema)
    if found.schema_exists:
        needs.append(Need(("USAGE",), "SCHEMA", schema_parts))
    elif manage:
        needs.append(Need(("CREATE SCHEMA",), "DATABASE", (database,)))
    else:
        found.problems.append(
            f"schema {schema_ref} does not exist (or role {role} has no USAGE on it) and "
            f"manage_tables is false: create it, or GRANT USAGE ON SCHEMA {schema_ref}"
        )
    if manage:
        # New tables and the per-stream staging tables.
        needs.append(Need(("CREATE TABLE",), "SCHEMA", schema_parts))
    if config.get("create_streams"):
        needs.append(Need(("CREATE STREAM",), "SCHEMA", schema_parts))
    if found.schema_exists:
        _inspect_objects(target, session, found, needs, manage)
    elif manage:
        # The run creates the schema, so it owns it and everything it creates in it.
        found.create_tables = [
            (target.table_name(setting), columns) for setting, columns, _ in HOUSE_TABLES
        ]
    return finish()


def _inspect_objects(
    target: TargetSnowflakeFinance,
    session: Session,
    found: Findings,
    needs: list[Need],
    manage: bool,
) -> None:
    """Stage, audit and rejects tables, and the tables of table_mapping."""
    database, schema = target.database, target.schema_name
    stage = target.stage_name
    stage_ref = qualified(database, schema, stage)
    found.stage_exists = _stage_exists(session, database, schema, stage)
    if found.stage_exists:
        needs.append(Need(("READ", "WRITE"), "STAGE", (database, schema, stage)))
        found.checked.append(f"stage {stage_ref}")
    elif manage:
        needs.append(Need(("CREATE STAGE",), "SCHEMA", (database, schema)))
    else:
        found.problems.append(
            f"stage {stage_ref} does not exist and manage_tables is false: create it "
            f"(CREATE STAGE {stage_ref};) or set `stage` to a stage the role may READ and WRITE"
        )
    for setting, columns, privileges in HOUSE_TABLES:
        name = target.table_name(setting)
        ref = qualified(database, schema, name)
        existing = session.existing_columns(name)
        if existing is None:
            if manage:
                found.create_tables.append((name, columns))
            else:
                found.problems.append(
                    f"{setting} {ref} does not exist and manage_tables is false: create it "
                    f"({create_table_sql(ref, columns).replace(' IF NOT EXISTS', '')};)"
                )
            continue
        have = {c.upper() for c in existing}
        # No columns at all: another run is creating it right now (a table has at least one).
        lacking = [c for c in columns if c not in have] if have else []
        if lacking:
            found.problems.append(
                f"{setting} {ref} lacks columns {', '.join(lacking)}: add them "
                f"(see the README's DDL) or point `{setting}` at another table"
            )
        needs.append(Need(privileges, "TABLE", (database, schema, name)))
        found.checked.append(f"{setting} {ref}")
    load_method = str(target.config["load_method"])
    for stream, mapping in (target.config.get("table_mapping") or {}).items():
        table = table_name(stream, mapping, str(target.config["column_case"]))
        ref = qualified(database, schema, table)
        existing = session.existing_columns(table)
        if existing is None:
            if not manage:
                found.problems.append(
                    f"table {ref} (stream {stream!r}) does not exist and manage_tables is false"
                )
            continue
        wanted = [config_identifier(c) for c in ((mapping or {}).get("columns") or {}).values()]
        folded = {c.upper() for c in existing}
        missing = [c for c in wanted if c.upper() not in folded]
        if missing and not manage:
            found.problems.append(f"table {ref} (stream {stream!r}) lacks columns {missing}")
        needs.append(Need(table_privileges(load_method, True), "TABLE", (database, schema, table)))
        found.checked.append(f"table {ref}")
