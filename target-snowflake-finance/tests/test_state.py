"""Issue point 5: a STATE message is emitted only once every record before it is committed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

PROPS = {"Id": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}
TOTAL = 5_000
STATE_EVERY = 100


def messages(singer: Any, first: int) -> list[dict[str, Any]]:
    out = [singer.schema("payments", PROPS, ["Id"], "Id")]
    for n in range(first, TOTAL + 1):
        out.append(singer.record("payments", {"Id": n, "Amount": Decimal(f"{n}.01")}))
        if n % STATE_EVERY == 0:
            out.append(singer.state({"bookmarks": {"payments": {"Id": n}}}))
    return out


def test_killed_mid_load_the_last_state_is_covered_by_committed_rows(
    config, singer, snowflake_sandbox, schema_name, tmp_path: Path, run_target
) -> None:
    config["batch_size_rows"] = 250
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    payload = singer.lines(messages(singer, 1))

    def feed() -> None:
        try:
            proc.stdin.write(payload)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    states = []
    for line in proc.stdout:
        states.append(json.loads(line))
        if len(states) == 2:
            proc.kill()  # SIGKILL: no drain, no goodbye
            break
    proc.wait(30)
    writer.join(10)
    last = states[-1]["bookmarks"]["payments"]["Id"]
    assert last < TOTAL  # killed mid-load

    ref = f'"SANDBOX_DB"."{schema_name}"."PAYMENTS"'
    [(covered,)] = snowflake_sandbox.query(f"SELECT COUNT(*) FROM {ref} WHERE ID <= {last}")
    assert covered == last  # every record before the emitted state is committed

    # Snowflake aborts a dead client's transaction; the sandbox does it on request.
    snowflake_sandbox.abort_idle_transactions()
    # A rerun from the saved state re-reads the rest; nothing is lost or doubled.
    run_target(config, messages(singer, last + 1))
    [(count, distinct, low, high)] = snowflake_sandbox.query(
        f"SELECT COUNT(*), COUNT(DISTINCT ID), MIN(ID), MAX(ID) FROM {ref}"
    )
    assert (count, distinct, low, high) == (TOTAL, TOTAL, 1, TOTAL)
    [(amount,)] = snowflake_sandbox.query(
        f"SELECT CAST(AMOUNT AS VARCHAR) FROM {ref} WHERE ID = 777"
    )
    assert amount == "777.01"


def test_state_is_emitted_after_each_committed_batch_not_only_at_the_end(
    config, singer, run_target
) -> None:
    config["batch_size_rows"] = 250
    states = run_target(config, messages(singer, TOTAL - 999))
    ids = [s["bookmarks"]["payments"]["Id"] for s in states]
    assert ids[-1] == TOTAL
    assert len(ids) >= 4, ids
    assert ids == sorted(ids)
