"""SIGTERM / SIGINT to the tap: a prompt non-zero exit after a complete STATE, never exit 0.

An orchestrator that stops the tap must not see success for a partial extract: `meltano run`
would report the run as done with a fraction of the rows loaded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_tap_promptly_with_a_non_zero_exit(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path, signum: int, code: int
) -> None:
    config = epicor_sandbox.tap_config(page_size=2)
    catalog = tap_runner.select_only(config, {"ap_invoices", "ap_invoice_lines"})
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    script = Path(sys.executable).with_name("tap-epicor-kinetic")
    epicor_sandbox.faults(latency_ms=200)  # 300 invoices, 2 a page: a minute of paging
    try:
        proc = subprocess.Popen(
            [str(script), "--config", str(tmp_path / "config.json"),
             "--catalog", str(tmp_path / "catalog.json")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        lines: list[str] = []
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.extend(proc.stderr or []), daemon=True)
        reader.start()
        states = 0
        for line in proc.stdout:
            lines.append(line)
            if line.startswith('{"type":"STATE"') and '"ap_invoices"' in line:
                states += 1
                if states == 2:  # mid-extract, a bookmark already saved
                    break
        signalled = time.monotonic()
        proc.send_signal(signum)
        lines.extend(proc.stdout)
        returncode = proc.wait(timeout=60)
        elapsed = time.monotonic() - signalled
        reader.join(timeout=10)
    finally:
        epicor_sandbox.clear_faults()
    assert returncode == code, "".join(err)[-3000:]
    assert elapsed < 30
    messages = [json.loads(line) for line in lines if line.strip()]  # every line complete
    invoices = [
        m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "ap_invoices"
    ]
    assert 0 < len(invoices) < len(epicor_sandbox.truth("ap_invoices"))
    last_state = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    partitions = last_state["bookmarks"]["ap_invoices"]["partitions"]
    # The last state vouches only for invoices that were emitted before it.
    key = partitions[0]["replication_key"]
    assert max(p["replication_key_value"] for p in partitions) <= max(r[key] for r in invoices)
    stderr = "".join(err)
    assert f"Stopped by {signal.Signals(signum).name}" in stderr
    assert "Traceback" not in stderr
    assert "Gracefully" not in stderr
