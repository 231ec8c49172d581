"""Issue 15: the next batches are read, converted and staged while earlier ones load.

A statement the local Snowflake holds stands in for a slow MERGE on a real warehouse; the
evidence is the order of what happened (statements sent, audit rows), never a duration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

PROPS = {"Id": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}


@pytest.fixture(autouse=True)
def _no_fault_left(snowflake_sandbox: Any) -> Iterator[None]:
    yield
    snowflake_sandbox.clear_faults()


def records(singer: Any, stream: str, ids: range) -> list[dict[str, Any]]:
    return [singer.record(stream, {"Id": n, "Amount": Decimal(f"{n}.25")}) for n in ids]


def test_the_next_batch_is_staged_while_the_previous_one_merges(
    config, singer, run_target, snowflake_sandbox, schema_name, sql_sent, table_rows
) -> None:
    config["batch_size_rows"] = 2
    snowflake_sandbox.fail_next(
        rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"', times=1, code="hold", delay_s=3
    )
    messages = [singer.schema("payments", PROPS, ["Id"]), *records(singer, "payments", range(6))]
    run_target(config, messages)

    sent = sql_sent()
    puts = [i for i, sql in enumerate(sent) if sql.startswith("PUT ")]
    commits = [i for i, sql in enumerate(sent) if sql == "COMMIT"]
    assert (len(puts), len(commits)) == (3, 3)
    # Waiting for each batch's COMMIT before reading on would send the second PUT after it.
    assert puts[1] < commits[0], sent
    assert table_rows("PAYMENTS", "Id, CAST(Amount AS VARCHAR)") == [
        (n, f"{n}.25") for n in range(6)
    ]


def test_streams_load_in_parallel(
    config, singer, run_target, snowflake_sandbox, schema_name, table_rows
) -> None:
    config["batch_size_rows"] = 2
    snowflake_sandbox.fail_next(
        rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"\."SLOW"', times=1, code="hold", delay_s=4
    )
    messages = [
        singer.schema("slow", PROPS, ["Id"]),
        singer.schema("quick", PROPS, ["Id"]),
        *records(singer, "slow", range(2)),  # a full batch, read first: its MERGE is held
        *records(singer, "quick", range(2)),
    ]
    run_target(config, messages)

    audit = table_rows("_SDC_LOAD_AUDIT", "STREAM, STATUS", "FINISHED_AT")
    # One stream after the other would commit `slow` first: it was read first.
    assert audit == [("quick", "committed"), ("slow", "committed")]
    assert len(table_rows("SLOW")) == len(table_rows("QUICK")) == 2


def test_a_failed_background_load_stops_its_stream_exits_1_and_writes_no_state(
    config, singer, target_cli, snowflake_sandbox, schema_name, table_rows, tmp_path
) -> None:
    config.update(batch_size_rows=2, max_retries=0, dead_letter_dir=str(tmp_path / "dead"))
    snowflake_sandbox.fail_next(
        rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"\."BAD"', times=1, code="000608"
    )
    messages = [
        singer.schema("bad", PROPS, ["Id"]),
        singer.schema("good", PROPS, ["Id"]),
        *records(singer, "bad", range(4)),  # two batches: the first fails, the second waits
    ]
    for n in range(0, 20, 2):  # the reader goes on with another stream meanwhile
        messages += records(singer, "good", range(n, n + 2))
        messages.append(singer.state({"bookmarks": {"good": {"Id": n + 1}}}))
    done = target_cli(config, singer.lines(messages))

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "stream 'bad'" in last, last
    assert "replay" in last, last
    assert [json.loads(line) for line in done.stdout.splitlines() if line.strip()] == []
    # The batch read after the failed one is not loaded: a stream commits in read order.
    assert table_rows("BAD") == []
    assert len(list((tmp_path / "dead").glob("*.json"))) == 1
