"""Issue 12 point 2: least privilege, proved under restricted roles of the local Snowflake.

The roles hold exactly the README's GRANT statements. The local Snowflake refuses anything else
with Snowflake's own errors and logs what each role sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from target_snowflake_finance.errors import TargetConfigError
from target_snowflake_finance.naming import qualified

PROPS = {
    "Id": {"type": "integer"},
    "Amount": {"type": ["number", "null"], "multipleOf": 0.01},
    "Memo": {"type": ["string", "null"], "maxLength": 5},
}
STAGE = "TARGET_SNOWFLAKE_FINANCE_STAGE"


def readme_grants(role: str, schema: str, manage_tables: bool, load_method: str) -> list[str]:
    """The README's GRANT statements for one mode (the README says the same, per mode)."""
    db_schema = f"SANDBOX_DB.{schema}"
    grants = [
        f"GRANT USAGE ON WAREHOUSE SANDBOX_WH TO ROLE {role}",
        f"GRANT USAGE ON DATABASE SANDBOX_DB TO ROLE {role}",
        f"GRANT USAGE ON SCHEMA {db_schema} TO ROLE {role}",
    ]
    if manage_tables:
        return [*grants, f"GRANT CREATE TABLE, CREATE STAGE ON SCHEMA {db_schema} TO ROLE {role}"]
    table = "INSERT" if load_method == "append-only" else "INSERT, SELECT, UPDATE"
    return [
        *grants,
        f"GRANT READ, WRITE ON STAGE {db_schema}.{STAGE} TO ROLE {role}",
        f"GRANT INSERT, SELECT ON TABLE {db_schema}._SDC_LOAD_AUDIT TO ROLE {role}",
        f"GRANT INSERT ON TABLE {db_schema}._SDC_REJECTS TO ROLE {role}",
        f"GRANT {table} ON TABLE {db_schema}.PAYMENTS TO ROLE {role}",
    ]


def one_privilege_less(grants: list[str]) -> list[tuple[list[str], str]]:
    """Every grant set with one privilege removed, and the GRANT the target must then name."""
    cases = []
    for i, statement in enumerate(grants):
        head, _, tail = statement.partition(" ON ")
        privileges = [p.strip() for p in head.removeprefix("GRANT ").split(",")]
        on, _, role = tail.partition(" TO ROLE ")
        kind, name = on.split(" ", 1)
        for privilege in privileges:
            kept = [p for p in privileges if p != privilege]
            rest = grants[:i] + grants[i + 1 :]
            if kept:
                rest.append(f"GRANT {', '.join(kept)} ON {tail}")
            expected = (
                f'GRANT {privilege} ON {kind} {qualified(*name.split("."))} TO ROLE "{role}";'
            )
            cases.append((rest, expected))
    return cases


def messages(singer: Any) -> list[dict[str, Any]]:
    return [
        singer.schema("payments", PROPS, ["Id"]),
        singer.record("payments", {"Id": 1, "Amount": Decimal("1.10"), "Memo": "a"}),
        singer.record("payments", {"Id": 2, "Amount": Decimal("2.20"), "Memo": "b"}),
        singer.record("payments", {"Id": 1, "Amount": Decimal("1.15"), "Memo": "c"}),
        singer.record("payments", {"Id": 3, "Amount": Decimal("3.30"), "Memo": "too long"}),
        singer.state({"bookmarks": {"payments": {"Id": 3}}}),
    ]


def new_role() -> str:
    return f"LOADER_{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture
def precreated(config, run_target, singer, loader_objects) -> None:
    """What a DBA prepares for manage_tables false: the README's DDL and the stream's table."""
    loader_objects()
    run_target(config, [singer.schema("payments", PROPS, ["Id"])])  # the owner creates it


def run_as(config: dict[str, Any], role: str, **settings: Any) -> dict[str, Any]:
    return {**config, "role": role, "on_invalid_record": "quarantine", **settings}


@pytest.mark.parametrize("load_method", ["upsert", "append-only"])
def test_manage_tables_false_loads_with_only_the_readme_grants_and_creates_nothing(
    config, run_target, singer, snowflake_sandbox, schema_name, table_rows, precreated, load_method
) -> None:
    role = new_role()
    snowflake_sandbox.define_role(role, readme_grants(role, schema_name, False, load_method))
    states = run_target(
        run_as(config, role, manage_tables=False, load_method=load_method), messages(singer)
    )
    assert states == [{"bookmarks": {"payments": {"Id": 3}}}]
    rows = table_rows("PAYMENTS", 'ID, CAST(AMOUNT AS VARCHAR), "MEMO"', "1, 3")
    if load_method == "upsert":
        assert rows == [(1, "1.15", "c"), (2, "2.20", "b")]
    else:
        assert rows == [(1, "1.10", "a"), (1, "1.15", "c"), (2, "2.20", "b")]
    assert table_rows("_SDC_REJECTS", '"RECORD_KEY"') == [("Id=3",)]
    assert table_rows("_SDC_LOAD_AUDIT", '"STATUS", "ROWS_LOADED"') == [("committed", 3)]
    sent = snowflake_sandbox.role_statements(role)
    creates = [s for s in sent if s.lstrip().upper().startswith("CREATE")]
    # The only CREATE is the session's own TEMPORARY staging table, which needs no grant.
    assert creates
    assert all(s.upper().startswith("CREATE TEMPORARY TABLE") for s in creates), creates
    assert not [s for s in sent if s.lstrip().upper().startswith(("ALTER TABLE", "COMMENT"))]


def test_manage_tables_true_needs_create_table_and_stage_on_the_schema_only(
    config, run_target, singer, snowflake_sandbox, schema_name, table_rows
) -> None:
    snowflake_sandbox.query(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema_name}"')
    role = new_role()
    snowflake_sandbox.define_role(role, readme_grants(role, schema_name, True, "upsert"))
    run_target(run_as(config, role), messages(singer))
    run_target(run_as(config, role), messages(singer))  # a second run: everything exists
    assert table_rows("PAYMENTS", "ID, CAST(AMOUNT AS VARCHAR)") == [(1, "1.15"), (2, "2.20")]
    sent = snowflake_sandbox.role_statements(role)
    assert not [s for s in sent if "CREATE SCHEMA" in s.upper()]
    assert len([s for s in sent if s.upper().startswith("CREATE STAGE")]) == 1


@pytest.mark.parametrize(
    ("manage_tables", "load_method"), [(False, "upsert"), (False, "append-only"), (True, "upsert")]
)
def test_without_any_one_readme_grant_the_run_fails_naming_that_grant(
    config,
    run_target,
    singer,
    snowflake_sandbox,
    schema_name,
    precreated,
    manage_tables,
    load_method,
) -> None:
    role = new_role()
    grants = readme_grants(role, schema_name, manage_tables, load_method)
    settings = {"manage_tables": manage_tables, "load_method": load_method}
    if manage_tables:  # a fresh schema: the run must create its table, stage and audit tables
        fresh = snowflake_sandbox.unique_schema()
        snowflake_sandbox.query(f'CREATE SCHEMA "SANDBOX_DB"."{fresh}"')
        grants = readme_grants(role, fresh, manage_tables, load_method)
        settings["schema"] = fresh
    for held, expected in one_privilege_less(grants):
        snowflake_sandbox.define_role(role, held)
        with pytest.raises(TargetConfigError) as refused:
            run_target(run_as(config, role, **settings), messages(singer))
        assert expected in str(refused.value), (held, str(refused.value))
        assert not [s for s in snowflake_sandbox.role_statements(role) if s.startswith("PUT")]


def cli(tmp_path: Path, config: dict[str, Any], *command: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "target_snowflake_finance.target", *command, "--config", str(path)],
        input="",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_missing_grant_fails_a_run_with_no_input_in_one_line(
    config, snowflake_sandbox, schema_name, precreated, tmp_path
) -> None:
    role = new_role()
    grants = readme_grants(role, schema_name, False, "upsert")
    snowflake_sandbox.define_role(role, [g for g in grants if "_SDC_REJECTS" not in g])
    done = cli(tmp_path, run_as(config, role, manage_tables=False))
    assert done.returncode == 1
    [line] = [x for x in done.stderr.splitlines() if "ERROR" in x or "Traceback" in x]
    assert (
        f'GRANT INSERT ON TABLE "SANDBOX_DB"."{schema_name}"."_SDC_REJECTS" TO ROLE "{role}";'
        in line
    )


def test_check_lists_every_missing_grant_at_once_then_says_ok(
    config, snowflake_sandbox, schema_name, precreated, tmp_path
) -> None:
    role = new_role()
    grants = readme_grants(role, schema_name, False, "upsert")
    settings = {"manage_tables": False, "table_mapping": {"payments": {}}}
    snowflake_sandbox.define_role(role, grants[:2])  # warehouse and database only
    done = cli(tmp_path, run_as(config, role, **settings), "check")
    assert done.returncode == 1, done.stdout + done.stderr
    listed = [line for line in done.stdout.splitlines() if line.startswith("GRANT ")]
    ref = f'"SANDBOX_DB"."{schema_name}"'
    assert listed == [
        f'GRANT USAGE ON SCHEMA {ref} TO ROLE "{role}";',
        f'GRANT READ, WRITE ON STAGE {ref}."{STAGE}" TO ROLE "{role}";',
        f'GRANT INSERT, SELECT ON TABLE {ref}."_SDC_LOAD_AUDIT" TO ROLE "{role}";',
        f'GRANT INSERT ON TABLE {ref}."_SDC_REJECTS" TO ROLE "{role}";',
        f'GRANT INSERT, SELECT, UPDATE ON TABLE {ref}."PAYMENTS" TO ROLE "{role}";',
    ]
    snowflake_sandbox.define_role(role, grants)
    done = cli(tmp_path, run_as(config, role, **settings), "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: role {role} can load into SANDBOX_DB.{schema_name}")
    assert not [
        s for s in snowflake_sandbox.role_statements(role) if s.upper().startswith("CREATE")
    ]


def test_check_names_missing_objects_and_their_ddl(
    config, schema_name, tmp_path, snowflake_sandbox
) -> None:
    snowflake_sandbox.query(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema_name}"')
    done = cli(tmp_path, {**config, "manage_tables": False}, "check")
    assert done.returncode == 1
    assert f'CREATE STAGE "SANDBOX_DB"."{schema_name}"."{STAGE}"' in done.stdout
    assert f'CREATE TABLE "SANDBOX_DB"."{schema_name}"."_SDC_LOAD_AUDIT" ("LOAD_ID" VARCHAR' in (
        done.stdout
    )


def test_check_says_ok_for_a_role_that_owns_everything(config, tmp_path) -> None:
    # The sandbox's default role is unrestricted: it shows as the owner of every object.
    done = cli(tmp_path, config, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: role LOADER_ROLE can load into SANDBOX_DB.")
    assert "grants could not be read" not in done.stdout
    assert "Could not read the grants" not in done.stderr


def test_a_new_column_in_a_table_the_role_does_not_own_names_the_fix(
    config, run_target, singer, snowflake_sandbox, schema_name, loader_objects
) -> None:
    loader_objects()
    narrow = {k: v for k, v in PROPS.items() if k != "Memo"}
    run_target(config, [singer.schema("payments", narrow, ["Id"])])  # the owner's table
    role = new_role()
    ref = f"SANDBOX_DB.{schema_name}"
    snowflake_sandbox.define_role(
        role,
        [
            *readme_grants(role, schema_name, True, "upsert"),
            f"GRANT READ, WRITE ON STAGE {ref}.{STAGE} TO ROLE {role}",
            f"GRANT INSERT, SELECT ON TABLE {ref}._SDC_LOAD_AUDIT TO ROLE {role}",
            f"GRANT INSERT ON TABLE {ref}._SDC_REJECTS TO ROLE {role}",
            f"GRANT INSERT, SELECT, UPDATE ON TABLE {ref}.PAYMENTS TO ROLE {role}",
        ],
    )
    with pytest.raises(TargetConfigError) as refused:
        run_target(run_as(config, role), messages(singer))
    message = str(refused.value)
    assert "OWNERSHIP" in message
    assert (
        f'ALTER TABLE "SANDBOX_DB"."{schema_name}"."PAYMENTS" ADD COLUMN "MEMO" VARCHAR' in message
    )
    assert not [s for s in snowflake_sandbox.role_statements(role) if s.startswith("ALTER")]
