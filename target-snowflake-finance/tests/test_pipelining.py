"""Issue 7 item 4: the next batch is read while one loads; order, state and errors still hold."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from target_snowflake_finance.target import TargetSnowflakeFinance

PROPS = {"Id": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}


def lines(
    singer: Any, messages: list[dict[str, Any]], on_read: Callable[[int], None]
) -> Iterator[str]:
    """The input, one line at a time, calling `on_read(i)` as the target asks for line i."""
    for i, line in enumerate(singer.lines(messages).splitlines(keepends=True)):
        on_read(i)
        yield line


class StateWriter(io.StringIO):
    """stdout that runs `check` on each state line as the target writes it."""

    def __init__(self, check: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.check = check

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.check(json.loads(line))
        return super().write(text)


def test_the_next_batch_is_read_while_one_loads(config, singer, sql_sent, table_rows) -> None:
    config["batch_size_rows"] = 2
    messages = [singer.schema("payments", PROPS, ["Id"])] + [
        singer.record("payments", {"Id": n, "Amount": Decimal(f"{n}.01")}) for n in range(1, 7)
    ]
    commits_when_read: dict[int, int] = {}

    def on_read(i: int) -> None:
        commits_when_read[i] = sum(1 for s in sql_sent() if s == "COMMIT")

    target = TargetSnowflakeFinance(config=config, validate_config=True)
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(lines(singer, messages, on_read))  # type: ignore[arg-type]
    # Lines 1-2 are batch 1, lines 3-4 batch 2. Batch 2 went to loading once line 4 filled it;
    # line 5 was asked for while it loaded. Synchronous loads commit batch 2 before reading on.
    assert commits_when_read[5] < 2
    assert sum(1 for s in sql_sent() if s == "COMMIT") == 3
    assert len(table_rows("PAYMENTS", "Id")) == 6


def test_batches_of_a_table_commit_in_the_order_they_were_read(
    config, run_target, singer, table_rows
) -> None:
    config["batch_size_rows"] = 1
    messages = [singer.schema("payments", PROPS, ["Id"])] + [
        singer.record("payments", {"Id": 1, "Amount": Decimal(f"{n}.00")}) for n in range(1, 9)
    ]
    run_target(config, messages)
    assert table_rows("PAYMENTS", "Id, CAST(Amount AS VARCHAR)") == [(1, "8.00")]
    audit = table_rows("_SDC_LOAD_AUDIT", "STATUS, ROWS_LOADED", "FINISHED_AT")
    assert audit == [("committed", 1)] * 8


def test_each_state_is_written_only_once_its_records_are_committed(
    config, singer, snowflake_sandbox, schema_name
) -> None:
    config["batch_size_rows"] = 3
    messages: list[dict[str, Any]] = [singer.schema("payments", PROPS, ["Id"])]
    for n in range(1, 31):
        messages.append(singer.record("payments", {"Id": n, "Amount": Decimal(f"{n}.01")}))
        if n % 4 == 0:
            messages.append(singer.state({"bookmarks": {"payments": {"Id": n}}}))
    seen: list[tuple[int, int]] = []

    def check(state: dict[str, Any]) -> None:
        [(count,)] = snowflake_sandbox.query(
            f'SELECT COUNT(*) FROM "SANDBOX_DB"."{schema_name}"."PAYMENTS"'
        )
        seen.append((state["bookmarks"]["payments"]["Id"], count))

    target = TargetSnowflakeFinance(config=config, validate_config=True)
    with contextlib.redirect_stdout(StateWriter(check)):
        target.listen(io.StringIO(singer.lines(messages)))
    assert seen, "no state was written"
    assert seen[-1][0] == 28
    assert all(committed >= bookmark for bookmark, committed in seen), seen
    assert [b for b, _ in seen] == sorted(b for b, _ in seen)


def test_a_line_without_a_type_fails_with_the_sdks_message(config, tmp_path, singer) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(path)],
        input=singer.lines([singer.schema("payments", PROPS, ["Id"])]) + '{"stream": "payments"}\n',
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Line is missing required type key(s)" in done.stderr
