"""Records, requests and wall time of a tap-epicor-kinetic sync of the sandbox's default data.

Run: `uv run python benchmarks/tap_sync.py [--invoices 1000] [--page-size 100] [--page-cap 100]`.

Starts `finance-sandbox epicor` with the given size (default: the CLI default, 1000 invoices,
seed 42), then runs the real `tap-epicor-kinetic` CLI twice with Basic auth, output to a file:
1. a full first sync (no state), 2. an incremental sync from the state the first one saved
(nothing changed, so it should cost about one request per header stream). Reports records per
stream, HTTP requests by route from the emulator's counters, and wall time of each process (which
includes Python start-up, ~1 s). Numbers from a laptop-class 2-core machine are in the tap's README.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from finance_sandbox.testing.epicor import EpicorSandbox


def run_tap(config: dict[str, Any], workdir: Path, state: dict[str, Any] | None) -> dict[str, Any]:
    """One CLI run: records per stream, the last state, wall seconds."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    args = [str(Path(sys.executable).with_name("tap-epicor-kinetic")), "--config", str(config_path)]
    if state is not None:
        state_path = workdir / "state.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    out_path = workdir / "out.jsonl"
    started = time.perf_counter()
    with out_path.open("w") as out, (workdir / "tap.log").open("w") as log:
        subprocess.run(args, stdout=out, stderr=log, check=True)
    seconds = time.perf_counter() - started
    records: collections.Counter[str] = collections.Counter()
    last_state: dict[str, Any] = {}
    with out_path.open() as lines:
        for line in lines:
            message = json.loads(line)
            if message["type"] == "RECORD":
                records[message["stream"]] += 1
            elif message["type"] == "STATE":
                last_state = message["value"]
    return {"seconds": round(seconds, 2), "records": dict(records), "state": last_state}


def requests_by_route(counters: dict[str, Any]) -> dict[str, int]:
    return {route: sum(statuses.values()) for route, statuses in counters["by_route"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--page-cap", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sandbox = EpicorSandbox(workdir / "epicor", invoices=args.invoices, page_cap=args.page_cap)
        try:
            config = sandbox.tap_config(page_size=args.page_size)
            config.pop("start_date")
            report: dict[str, Any] = {"invoices": args.invoices, "page_size": args.page_size}
            for name, state in (("first_sync", None), ("incremental_sync", "previous")):
                sandbox.reset_counters()
                previous = report.get("first_sync", {}).get("state") if state else None
                result = run_tap(config, workdir, previous)
                routes = requests_by_route(sandbox.counters())
                result["requests"] = sum(routes.values())
                result["requests_by_route"] = routes
                result["total_records"] = sum(result["records"].values())
                report[name] = result
            for name in ("first_sync", "incremental_sync"):
                report[name].pop("state")
            print(json.dumps(report, indent=2))
        finally:
            sandbox.stop()


if __name__ == "__main__":
    main()
