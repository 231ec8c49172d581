"""Injection: hostile bookmarks and settings cannot widen an OData filter, and hostile stream,
field and table_mapping names cannot run SQL in Snowflake.

OData: a bookmark or company that tries to close the filter and add `or …` either fails with a
clear message or matches nothing it should not; it never reads rows it was not asked for.
SQL: a canary table in the same schema keeps its rows whatever the names, and an odd name lands
as exactly that identifier or is refused clearly.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import TAP, TARGET, clean_env, selected_catalog, write_json
from finance_sandbox.testing.epicor import EpicorSandbox
from finance_sandbox.testing.snowflake import SnowflakeSandbox


@pytest.fixture(scope="module")
def epicor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EpicorSandbox]:
    # The hostile bookmarks below are UpdatedOn bookmarks: serve UpdatedOn.
    sandbox = EpicorSandbox(
        tmp_path_factory.mktemp("injection-epicor"), invoices=20, updated_on=True
    )
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def vendors_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Bookmarks below are date-times: replicate vendors on UpdatedOn.
    catalog = selected_catalog({"vendors"}, {"vendors": "UpdatedOn"})
    return write_json(tmp_path_factory.mktemp("catalog") / "catalog.json", catalog)


def run_tap(
    config: dict[str, Any], tmp_path: Path, catalog: Path, state: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [TAP, "--config", str(write_json(tmp_path / "tap.json", config))]
    cmd += ["--catalog", str(catalog)]
    if state is not None:
        cmd += ["--state", str(write_json(tmp_path / "state.json", state))]
    return subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=300, env=clean_env()
    )


def record_count(stdout: str) -> int:
    return sum(
        1
        for line in stdout.splitlines()
        if line.startswith("{") and json.loads(line).get("type") == "RECORD"
    )


def vendors_state(value: Any, tiebreak: Any = 1) -> dict[str, Any]:
    return {
        "bookmarks": {
            "vendors": {
                "partitions": [
                    {
                        "context": {"Company": "EPIC06"},
                        "replication_key": "UpdatedOn",
                        "replication_key_value": value,
                        "replication_key_tiebreak": {"SysRevID": tiebreak},
                    }
                ]
            }
        }
    }


FUTURE = "2999-01-01T00:00:00.000-06:00"
HOSTILE_BOOKMARKS = {
    "value-closes-the-filter": vendors_state(f"{FUTURE} or UpdatedOn ne null"),
    "value-with-quote": vendors_state("2999-01-01T00:00:00Z') or (Name ne '"),
    "value-with-paren": vendors_state(f"{FUTURE}) or (VendorNum gt 0"),
    "tiebreak-not-a-number": vendors_state(FUTURE, tiebreak="0 or SysRevID gt 0"),
}


@pytest.mark.parametrize("case", list(HOSTILE_BOOKMARKS))
def test_a_hostile_bookmark_never_widens_the_filter(
    case: str, epicor: EpicorSandbox, tmp_path: Path, vendors_catalog: Path
) -> None:
    config = epicor.tap_config(max_retries=0, replication_keys={"vendors": "UpdatedOn"})
    done = run_tap(config, tmp_path, vendors_catalog, HOSTILE_BOOKMARKS[case])
    if done.returncode == 0:
        # Read as the literal instant in 2999 (or refused as such): nothing is newer.
        assert record_count(done.stdout) == 0, f"{case}: the injected 'or' was obeyed"
    else:
        tail = "\n".join(done.stderr.strip().splitlines()[-4:])
        assert "vendors" in tail.lower() or "bookmark" in tail.lower() or "state" in tail, tail
        assert record_count(done.stdout) == 0


def test_a_hostile_company_stays_one_path_segment(
    epicor: EpicorSandbox, tmp_path: Path, vendors_catalog: Path
) -> None:
    hostile = "EPIC06')/../../EPIC07/Erp.BO.VendorSvc/Vendors?$filter=(1 eq 1"
    done = run_tap(epicor.tap_config(company=hostile, max_retries=0), tmp_path, vendors_catalog)
    assert done.returncode != 0
    assert record_count(done.stdout) == 0
    assert "Access denied" in done.stderr, done.stderr[-2000:]


def test_a_quote_in_a_start_date_is_refused(
    epicor: EpicorSandbox, tmp_path: Path, vendors_catalog: Path
) -> None:
    config = epicor.tap_config(start_date="2999-01-01T00:00:00Z' or 'a' eq 'a", max_retries=0)
    done = run_tap(config, tmp_path, vendors_catalog)
    assert done.returncode != 0
    assert "start_date" in done.stderr
    assert record_count(done.stdout) == 0


# ----------------------------------------------------------------------------------------------
# SQL identifiers


def _schema_message(stream: str, props: dict[str, Any], keys: list[str]) -> str:
    return json.dumps(
        {
            "type": "SCHEMA",
            "stream": stream,
            "schema": {"type": "object", "properties": props},
            "key_properties": keys,
        }
    )


def _record(stream: str, record: dict[str, Any]) -> str:
    return json.dumps({"type": "RECORD", "stream": stream, "record": record})


@pytest.fixture
def warehouse(snowflake_sandbox: SnowflakeSandbox) -> tuple[SnowflakeSandbox, str]:
    """A fresh schema holding a canary table with three rows."""
    schema = snowflake_sandbox.unique_schema("INJ")
    snowflake_sandbox.query(f"CREATE SCHEMA IF NOT EXISTS SANDBOX_DB.{schema}")
    snowflake_sandbox.query(f"CREATE TABLE SANDBOX_DB.{schema}.CANARY (ID NUMBER(38,0))")
    snowflake_sandbox.query(f"INSERT INTO SANDBOX_DB.{schema}.CANARY VALUES (1), (2), (3)")
    return snowflake_sandbox, schema


def _canary(sf: SnowflakeSandbox, schema: str) -> int:
    return int(sf.query(f"SELECT COUNT(*) FROM SANDBOX_DB.{schema}.CANARY")[0][0])


DROP = "; DROP TABLE CANARY; --"
HOSTILE_NAMES: dict[str, dict[str, Any]] = {
    "stream-name": {"stream": f'x"{DROP}', "field": "ID", "mapping": None},
    "stream-name-single-quote": {"stream": f"x'{DROP}", "field": "ID", "mapping": None},
    "field-name": {"stream": "things", "field": f'ID" INT){DROP}', "mapping": None},
    "mapped-table": {
        "stream": "things",
        "field": "ID",
        "mapping": {"things": {"table": f'T"{DROP}'}},
    },
    "mapped-column": {
        "stream": "things",
        "field": "ID",
        "mapping": {"things": {"columns": {"VAL": f'V" VARCHAR){DROP}'}}},
    },
}


@pytest.mark.parametrize("case", list(HOSTILE_NAMES))
def test_hostile_identifiers_cannot_run_sql(
    case: str, warehouse: tuple[SnowflakeSandbox, str], tmp_path: Path
) -> None:
    sf, schema = warehouse
    spec = HOSTILE_NAMES[case]
    stream, field = spec["stream"], spec["field"]
    props = {field: {"type": "integer"}, "VAL": {"type": ["string", "null"]}}
    lines = [
        _schema_message(stream, props, [field]),
        _record(stream, {field: 1, "VAL": "one"}),
        _record(stream, {field: 2, "VAL": "two"}),
    ]
    config = sf.target_config(schema=schema)
    if spec["mapping"]:
        config["table_mapping"] = spec["mapping"]
    done = subprocess.run(
        [TARGET, "--config", str(write_json(tmp_path / "target.json", config))],
        input="".join(line + "\n" for line in lines),
        capture_output=True, text=True, check=False, timeout=300, env=clean_env(),
    )  # fmt: skip
    assert _canary(sf, schema) == 3, f"{case}: the canary table lost rows or vanished"
    tables = {
        row[0]
        for row in sf.query(
            "SELECT TABLE_NAME FROM SANDBOX_DB.INFORMATION_SCHEMA.TABLES "
            f"WHERE TABLE_SCHEMA = '{schema}'"
        )
    }
    if done.returncode == 0:
        # Landed under exactly the odd name: one more table besides the bookkeeping ones.
        loaded = tables - {"CANARY", "_SDC_LOAD_AUDIT", "_SDC_REJECTS"}
        assert len(loaded) == 1, tables
        name = next(iter(loaded)).replace('"', '""')
        rows = sf.query(f'SELECT COUNT(*) FROM SANDBOX_DB.{schema}."{name}"')
        assert rows[0][0] == 2
    else:
        tail = "\n".join(done.stderr.strip().splitlines()[-4:])
        assert "Traceback" not in tail, tail
        assert any(w in tail.lower() for w in ("name", "identifier", "stream", "column")), tail
