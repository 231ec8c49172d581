"""Our tap with `batch_config` into the target: the same tables as the RECORD path, row by row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
STREAMS = ("vendors", "ap_invoices", "ap_invoice_lines")


def selected_catalog(tap_config: Path) -> dict[str, Any]:
    found = subprocess.run(
        [str(BIN / "tap-epicor-kinetic"), "--config", str(tap_config), "--discover"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    catalog = json.loads(found.stdout)
    for entry in catalog["streams"]:
        for meta in entry.get("metadata", []):
            if meta.get("breadcrumb") == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    return catalog


def pipe(tap_config: Path, catalog: Path, target_config: Path) -> None:
    tap = subprocess.Popen(
        [str(BIN / "tap-epicor-kinetic"), "--config", str(tap_config), "--catalog", str(catalog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tap.stdout is not None
    target = subprocess.run(
        [str(BIN / "target-snowflake-finance"), "--config", str(target_config)],
        stdin=tap.stdout,
        capture_output=True,
        timeout=600,
        check=False,
    )
    tap.stdout.close()
    _, tap_err = tap.communicate(timeout=600)
    assert tap.returncode == 0, tap_err.decode()[-3000:]
    assert target.returncode == 0, target.stderr.decode()[-3000:]


def data_rows(snowflake_sandbox: Any, schema: str, table: str) -> list[tuple]:
    """Every data column of every row, as text, in one order."""
    columns = [
        r[0]
        for r in snowflake_sandbox.query(
            "SELECT column_name FROM SANDBOX_DB.information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY column_name"
        )
        if not r[0].startswith("_SDC_")
    ]
    select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
    rows = snowflake_sandbox.query(f'SELECT {select} FROM SANDBOX_DB."{schema}"."{table}"')
    return sorted(rows, key=lambda row: tuple("" if v is None else v for v in row))


@pytest.mark.parametrize("encoding", [("jsonl", "gzip"), ("parquet", "none")])
def test_the_tap_in_batch_mode_loads_the_same_tables_as_in_record_mode(
    encoding, epicor_sandbox, snowflake_sandbox, tmp_path
) -> None:
    fmt, compression = encoding
    plain = epicor_sandbox.tap_config()
    batched = {
        **plain,
        "batch_config": {
            "encoding": {"format": fmt, "compression": compression},
            "storage": {"root": (tmp_path / "batches").as_uri(), "prefix": "epicor-"},
            "batch_size": 50,
        },
    }
    (tmp_path / "batches").mkdir()
    for name, value in {"plain.json": plain, "batched.json": batched}.items():
        (tmp_path / name).write_text(json.dumps(value))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(selected_catalog(tmp_path / "plain.json")))
    schemas = {}
    for run in ("plain", "batched"):
        schemas[run] = snowflake_sandbox.unique_schema(run.upper())
        target = tmp_path / f"target-{run}.json"
        target.write_text(json.dumps(snowflake_sandbox.target_config(schema=schemas[run])))
        pipe(tmp_path / f"{run}.json", catalog, target)
    assert list((tmp_path / "batches").iterdir()), "the tap wrote no batch files"
    for stream in STREAMS:
        expected = data_rows(snowflake_sandbox, schemas["plain"], stream.upper())
        assert expected, stream
        assert data_rows(snowflake_sandbox, schemas["batched"], stream.upper()) == expected, stream
