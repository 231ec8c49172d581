"""What a user reads from a tap run: each stream's start and end once, and a closing summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def test_each_stream_starts_once_and_the_run_ends_with_totals(
    tmp_path: Path, epicor_sandbox: Any, tap_runner: Any
) -> None:
    run = tap_runner.run_cli(tmp_path, epicor_sandbox.tap_config())
    assert run.returncode == 0, run.stderr[-3000:]
    starts = re.findall(r"Beginning sync of '(\w+)'", run.stderr)
    assert len(starts) == len(set(starts)), sorted(starts)
    assert "ap_invoice_lines" in starts
    counts = tap_runner.SyncResult.parse(run.stdout).counts()
    ends = re.findall(r"Stream '(\w+)' ended: (\d+) records", run.stderr)
    ended = {name: int(n) for name, n in ends}
    assert len(ended) == len(ends), ends  # one end line per stream
    assert set(starts) <= set(ended), (starts, ends)
    assert ended == {name: counts.get(name, 0) for name in ended}
    last = run.stderr.strip().splitlines()[-1]
    total = sum(counts.values())
    assert f"Extracted {total} records with " in last, last
    assert f"ap_invoice_lines {counts['ap_invoice_lines']}" in last, last
    requests = int(re.search(r"with (\d+) requests", last).group(1))  # type: ignore[union-attr]
    assert requests >= len(starts)
