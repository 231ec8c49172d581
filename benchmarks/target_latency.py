"""The target under the Snowflake latency model: wall time vs. its CPU time vs. its waits.

Run: `uv run python benchmarks/target_latency.py [--rows 200000]
[--batch-sizes 10000,50000,100000] [--latency default|FILE.json]`.

One `finance-sandbox snowflake --latency …` subprocess; the same invoice-line messages as
target_throughput.py, written once. In one script run, alternating with nothing else:
- minimal: benchmarks/minimal_loader.py (one Parquet file, PUT, COPY, MERGE), the baseline;
- target: `target-snowflake-finance` at its defaults, once per `--batch-sizes` value.
For each: wall seconds of the process, its CPU seconds (user + system, from the OS), and the
latency the server charged while it ran (`GET /_sandbox/latency`, by statement kind), and the
local server's own work on those statements (DuckDB; a real warehouse's work is in the charge).
A loader that
waits for each statement before doing anything else has wall ≈ CPU + charged; one that overlaps
its work with the server's approaches max(CPU, critical), where `critical` is the charges on its
critical path (issue 15's goal: wall <= 1.2 x that max). The server's ledger tells connections
apart; the first connection charged (the target's start-up checks, or the minimal loader's only
one) runs before the data moves, the others (the target's loader and stager per stream) overlap,
so critical = logins + the first connection + the busiest other one, plus the uploads when there
is at most one other (a loader whose uploads wait in line with its statements).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from bench_util import machine
from finance_sandbox.testing.snowflake import SnowflakeSandbox
from target_throughput import _check, minimal_command, target_command, write_messages


def _measured(sandbox: SnowflakeSandbox, args: list[str], messages: Path) -> dict[str, Any]:
    """Run one loader process on the messages: wall, CPU and the server's charges."""
    ledger = f"http://127.0.0.1:{sandbox.port}/_sandbox/latency"
    requests.delete(ledger, timeout=10).raise_for_status()
    load_before = os.getloadavg()[0]
    with messages.open("rb") as stdin, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.DEVNULL, stderr=stderr)
        # wait4: this process's own CPU time and peak RSS (ru_maxrss, KiB on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{args[1:3]} failed ({proc.returncode}): {tail}")
    cpu = usage.ru_utime + usage.ru_stime
    charged = requests.get(ledger, timeout=10).json()
    waits, work = charged["seconds"], charged["work_seconds"]
    critical = _critical_path(charged)
    return {
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "charged_seconds": round(waits, 1),
        "server_work_seconds": round(work, 1),
        "wall_over_cpu_plus_charged": round(wall / (cpu + waits), 2),
        "wall_over_cpu_plus_charged_plus_work": round(wall / (cpu + waits + work), 2),
        "wall_over_max_cpu_charged": round(wall / max(cpu, waits), 2),
        "critical_path_charged_seconds": round(critical, 1),
        "wall_over_max_cpu_critical": round(wall / max(cpu, critical), 2),
        "charged_by_connection": [round(v, 1) for v in charged.get("by_session", {}).values()],
        "charged_by_kind": {
            kind: {
                "count": int(e["count"]),
                "seconds": round(e["seconds"], 1),
                "work_seconds": round(e["work_seconds"], 1),
            }
            for kind, e in sorted(charged["by_kind"].items())
        },
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def _critical_path(charged: dict[str, Any]) -> float:
    """The charges a run had to wait for one after the other (see the module docstring)."""
    sessions = list(charged.get("by_session", {}).values())
    kinds = charged["by_kind"]
    logins = kinds.get("login", {}).get("seconds", 0.0)
    uploads = kinds.get("upload", {}).get("seconds", 0.0)
    if not sessions:
        return float(charged["seconds"])
    first, rest = sessions[0], sessions[1:]
    return logins + first + max(rest, default=0.0) + (uploads if len(rest) <= 1 else 0.0)


def run_target(
    sandbox: SnowflakeSandbox, messages: Path, rows: int, batch: int | None
) -> dict[str, Any]:
    schema = sandbox.unique_schema("LAT")
    settings = {"batch_size_rows": batch} if batch else {}
    config = sandbox.target_config(schema=schema, **settings)
    with tempfile.TemporaryDirectory() as tmp:
        result = _measured(sandbox, target_command(config, Path(tmp)), messages)
    return {"batch_size_rows": batch or "default", **_check(sandbox, schema, rows), **result}


def run_minimal(sandbox: SnowflakeSandbox, messages: Path, rows: int) -> dict[str, Any]:
    schema = sandbox.unique_schema("LATMIN")
    with tempfile.TemporaryDirectory() as tmp:
        result = _measured(sandbox, minimal_command(sandbox, schema, Path(tmp)), messages)
    return {**_check(sandbox, schema, rows), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-sizes", default="10000,50000,100000")
    parser.add_argument("--latency", default="default")
    parser.add_argument("--skip-minimal", action="store_true", help="no minimal loader run")
    args = parser.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    command = " ".join(["benchmarks/target_latency.py", *sys.argv[1:]])
    print(command, file=sys.stderr, flush=True)
    out: dict[str, Any] = {
        "command": command,
        "machine": machine(),
        "rows": args.rows,
        "latency": args.latency,
    }
    sandbox = SnowflakeSandbox(latency=args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            messages = Path(tmp) / "messages.jsonl"
            write_messages(messages, args.rows)
            if not args.skip_minimal:
                out["minimal_loader"] = run_minimal(sandbox, messages, args.rows)
                print(json.dumps(out["minimal_loader"]), file=sys.stderr, flush=True)
            out["target"] = []
            for batch in batches:
                out["target"].append(run_target(sandbox, messages, args.rows, batch))
                print(json.dumps(out["target"][-1]), file=sys.stderr, flush=True)
        print(json.dumps(out, indent=2))
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
