"""Direct record path: batches commit in read order, state after commit, bad lines fail as ever."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from target_snowflake_finance.target import TargetSnowflakeFinance

PROPS = {"Id": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}


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


def test_a_line_without_a_type_fails_naming_the_line(config, tmp_path, singer) -> None:
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
    assert "input line 2 is not a Singer message (a JSON object with a 'type')" in done.stderr
    assert "Traceback" not in done.stderr
