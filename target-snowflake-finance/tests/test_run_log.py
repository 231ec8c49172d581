"""What a user reads from a run: one connection line, and a closing summary with the totals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def test_one_connection_line_and_a_closing_summary(
    config: dict[str, Any], singer: Any, tmp_path: Path
) -> None:
    messages = []
    for stream in ("vendors", "parts", "gl_accounts"):
        messages.append(singer.schema(stream, {"id": {"type": "integer"}}, ["id"]))
        messages += [singer.record(stream, {"id": i}) for i in range(5)]
    messages.append(singer.state({"bookmarks": {}}))
    (tmp_path / "config.json").write_text(json.dumps({**config, "batch_size_rows": 3}))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("target-snowflake-finance")), "--config",
         str(tmp_path / "config.json")],
        input=singer.lines(messages),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stderr
    assert log.count("Connecting to GLOBAL Snowflake domain") == 0, log
    assert log.count("Connected to Snowflake") == 1, log
    summary = [line for line in log.splitlines() if "finished in" in line]
    assert len(summary) == 1, log
    assert "15 rows loaded in 6 batches, 0 rejected" in summary[0], summary[0]
    assert "GL_ACCOUNTS 5, PARTS 5, VENDORS 5" in summary[0], summary[0]
