"""Issue 15 item 3: a batch waiting to load keeps its records on disk, not in memory.

Its records are needed again only should every attempt fail, for the dead-letter file
(spill.py); what a user sees of that is the dead letter, which must hold the records exactly as
they were sent, however the batch failed in the background.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from target_snowflake_finance.audit import read_dead_letter

PROPS = {
    "Id": {"type": "integer"},
    "Amount": {"type": ["number", "null"]},
    "Code": {"type": ["string", "null"]},
    "Note": {"type": ["string", "null"]},
    "Posted": {"type": ["boolean", "null"]},
    "Extra": {"type": ["object", "null"]},
}


@pytest.fixture(autouse=True)
def _no_fault_left(snowflake_sandbox: Any) -> Iterator[None]:
    yield
    snowflake_sandbox.clear_faults()


def record(n: int) -> dict[str, Any]:
    return {
        "Id": n,
        "Amount": Decimal(f"12345678901234567890.12345678{n}") if n % 2 else None,
        "Code": "1.0000000000",  # a decimal in a string stays a string
        "Note": "Zürich – 東京 \u2028 \"quoted\" \\ end",
        "Posted": n % 3 == 0,
        "Extra": {"lines": [1, Decimal("2.50"), None], "by": {"name": "ü"}},
    }


def test_a_batch_that_fails_in_the_background_is_dead_lettered_exactly(
    config, singer, target_cli, snowflake_sandbox, schema_name, table_rows, tmp_path
) -> None:
    config.update(batch_size_rows=3, max_retries=0, dead_letter_dir=str(tmp_path / "dead"))
    # The second batch fails while the third waits behind it: both were converted and written
    # out by the reading thread long before.
    snowflake_sandbox.fail_next(
        rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"\."NOTES"', times=1, code="hold", delay_s=2
    )
    snowflake_sandbox.fail_next(
        rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"\."NOTES"', times=1, code="000608"
    )
    sent = [record(n) for n in range(9)]
    messages = [singer.schema("notes", PROPS, ["Id"]), *(singer.record("notes", r) for r in sent)]
    done = target_cli(config, singer.lines(messages))

    assert done.returncode == 1, done.stderr
    assert table_rows("NOTES", "Id") == [(0,), (1,), (2,)]
    [dead] = list(Path(config["dead_letter_dir"]).glob("*.json"))
    letter = read_dead_letter(dead)
    kept = [{k: v for k, v in r.items() if not k.startswith("_sdc_")} for r in letter["records"]]
    assert kept == sent[3:6]
