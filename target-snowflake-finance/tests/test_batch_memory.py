"""Issue 15 item 3: a batch waiting to load keeps its records on disk, not in memory.

Its records are needed again only should every attempt fail, for the dead-letter file
(spill.py); what a user sees of that is the dead letter, which must hold the records exactly as
they were sent, however the batch failed in the background.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.contrib.msgspec import decoder
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
        "Note": 'Zürich \u2013 東京 \u2028 "quoted" \\ end',
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


def test_interleaved_streams_hold_no_more_rows_together_than_one_batch(
    config, singer, run_target, table_rows
) -> None:
    """Memory is the rows waiting in the batches being read (~2.8 KB each as Python objects):
    three streams read together (a tap's invoices, lines and allocations) must not hold three
    batches' worth."""
    config["batch_size_rows"] = 1000
    props = {"Id": {"type": "integer"}}
    streams = ["heads", "lines", "splits"]
    messages = [singer.schema(s, props, ["Id"]) for s in streams]
    for n in range(3000):
        messages += [singer.record(s, {"Id": n}) for s in streams]
    messages.append(singer.state({"done": 3000}))

    states = run_target(config, messages)
    assert states
    assert all(state == {"done": 3000} for state in states)
    for s in streams:
        assert table_rows(s.upper(), "COUNT(*), MAX(Id)") == [(3000, 2999)]
    batches = table_rows("_SDC_LOAD_AUDIT", "STREAM, ROWS_RECEIVED", "STARTED_AT")
    assert sum(rows for _, rows in batches) == 9000
    # Each stream alone would fill batches of 1,000: three of them held 3,000 rows at once.
    assert max(rows for _, rows in batches) < 1000, batches


def test_wide_records_end_their_batches_at_the_memory_budget(
    config, singer, run_target, table_rows
) -> None:
    """Memory is fields, not rows: with Meltano's `*` selection a Kinetic invoice has ~540
    fields (~48 KB as Python objects), so a row bound that suits 40 fields holds gigabytes.
    Batches being read end, the fullest first, once they hold `batch_memory_mb` together."""
    config.update(batch_size_rows=100_000, batch_memory_mb=1)
    props = {"Id": {"type": "integer"}} | {
        f"F{i}": {"type": ["string", "null"]} for i in range(200)
    }
    messages = [singer.schema(s, props, ["Id"]) for s in ("heads", "lines")]
    for n in range(200):
        row = {"Id": n} | {f"F{i}": f"value {n}.{i}" for i in range(200)}
        messages += [singer.record(s, row) for s in ("heads", "lines")]
    messages.append(singer.state({"done": 200}))

    states = run_target(config, messages)
    assert states
    assert all(state == {"done": 200} for state in states)
    for s in ("HEADS", "LINES"):
        assert table_rows(s, "COUNT(*), MAX(Id)") == [(200, 199)]
    batches = table_rows("_SDC_LOAD_AUDIT", "STREAM, ROWS_RECEIVED", "STARTED_AT")
    assert sum(rows for _, rows in batches) == 400
    # What one such record takes in memory, decoded as the target decodes its input.
    held = held_bytes(singer.lines(messages[2:3]).encode())
    assert 15_000 < held < 25_000
    # Two streams' batches share the budget: no batch holds more than it (10% leeway for the
    # estimate), where the row bound alone would have held both streams' 200 rows.
    assert max(rows for _, rows in batches) * held <= 1.1 * 1_000_000, (held, batches)
    assert len(batches) >= 8, batches


def held_bytes(line: bytes, copies: int = 200) -> float:
    """Memory of one decoded message (the target's reader's decoder), by tracemalloc."""
    tracemalloc.start()
    try:
        decoded = [decoder.decode(line) for _ in range(copies)]
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(decoded) == copies
    return size / copies


def test_a_memory_budget_below_one_mb_is_refused_naming_the_setting(
    config, singer, target_cli
) -> None:
    config["batch_memory_mb"] = 0
    messages = [singer.schema("notes", PROPS, ["Id"]), singer.record("notes", record(1))]
    done = target_cli(config, singer.lines(messages))
    assert done.returncode != 0
    assert "config['batch_memory_mb']" in done.stderr
    assert "less than the minimum of 1" in done.stderr
