"""Our tap with `batch_config` into the target through `meltano run` (issue 12 point 1).

The tap writes its records to batch files and sends BATCH messages; Meltano passes them to the
target, which loads the files. Every table must then match Epicor row for row, as the RECORD
path does, the state must move with the batches, and a rerun from it must still match.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from e2e_helpers import (
    FAULT_STREAMS,
    Meltano,
    Sandbox,
    audit_rows,
    compare,
    curated_select,
    discovered_schemas,
)

INVOICES = 30
SELECT = curated_select(FAULT_STREAMS)
# The SDK's reader summary, logged by the target at the end of its input.
READ_SUMMARY = re.compile(r"(\d+) records, (\d+) batch manifests")


# Parquet through Meltano (it needs the tap's `singer-sdk[parquet]` extra, which a Meltano venv
# must get from the pip_url); both encodings, jsonl+gzip included, load through the target with
# the real tap in target-snowflake-finance/tests/test_batch_pipeline.py.
@pytest.mark.parametrize(("fmt", "compression"), [("parquet", "none")])
def test_batch_messages_through_meltano_run_match_epicor(
    meltano: Meltano, sandbox: Sandbox, tmp_path: Path, fmt: str, compression: str
) -> None:
    case = f"batch-{fmt}"
    schema = f"S_BATCH_{fmt.upper()}"
    batches = tmp_path / "batches"
    batches.mkdir()
    dead_letter = tmp_path / "dead_letter"
    batch_config = {
        "encoding": {"format": fmt, "compression": compression},
        "storage": {"root": batches.as_uri(), "prefix": "epicor-"},
        "batch_size": 100,  # several files for the larger streams; each file costs a batch
    }
    settings = {
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": schema,
        "TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR": str(dead_letter),
        "TAP_EPICOR_KINETIC_START_DATE": "2000-01-01T00:00:00Z",
        "TAP_EPICOR_KINETIC_BATCH_CONFIG": json.dumps(batch_config),
        "TAP_EPICOR_KINETIC__CATALOG": str(meltano.catalog(SELECT)),
    }
    done = meltano.run(case, f"{case}.log", settings)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    # The records travelled as batch files, not as RECORD messages.
    [summary] = READ_SUMMARY.findall(log)
    records, manifests = (int(n) for n in summary)
    assert records == 0, summary
    assert manifests > 0, summary
    assert any(batches.iterdir()), "the tap wrote no batch files"
    result = compare(sandbox, schema, discovered_schemas(), FAULT_STREAMS)
    assert not result.problems, result.report()
    assert result.total_rows > INVOICES, result.rows
    assert all(row["STATUS"] == "committed" for row in audit_rows(sandbox, schema))
    assert not dead_letter.exists() or not any(dead_letter.iterdir())

    # The state moved with the batches: a second run starts from it and still matches.
    state = json.dumps(meltano.state(case))
    assert '"ap_invoices"' in state, state[:2000]
    assert "replication_key_value" in state, state[:2000]
    again = meltano.run(case, f"{case}-again.log", settings)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    result = compare(sandbox, schema, discovered_schemas(), FAULT_STREAMS)
    assert not result.problems, result.report()
