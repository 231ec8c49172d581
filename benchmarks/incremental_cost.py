"""What a scheduled run costs after a day of activity: requests and wall time per tap run.

Run: `uv run python benchmarks/incremental_cost.py [--invoices 100000] [--activity 0.01]
[--latency default|FILE.json] [--latency-scale 0.1] [--max-concurrent-requests 1,2,4]`.

Starts `finance-sandbox epicor` (stock Kinetic, seed 42) with `--invoices` AP invoices, then runs
the real `tap-epicor-kinetic` CLI (all twelve streams, Basic auth, output to a file):

1. the first run (no state: reads everything);
2. the second run, which also reads from the beginning: no bookmark is yet older than
   `late_commit_lookback_minutes` before the previous run started (a one-time cost);
3. after `--activity` times `--invoices` documents touched through the emulator's simulator
   (every kind: new, changed, posted, deleted invoices and lines, G/L re-codes, PO changes and
   receipts, payments entered and posted), a steady-state run: rows above the bookmark saved
   before the previous run, plus every document still in entry with its children, plus keyed
   lookups of the open documents that left.

The lookback is shrunk to 3 s and the script waits 4 s between runs, so that run 3 sees what an
8-hourly schedule sees with the default 15 minutes. With `--latency` the emulator charges each
request what a Kinetic server would (finance_sandbox/latency.py) and each run also reports the
seconds charged; with `--max-concurrent-requests 1,2,4` the three runs are repeated per value,
each on a fresh copy of the same data. Reports records, requests (the emulator's
counters) and wall time of each process (including Python start-up, ~1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from finance_sandbox.testing.epicor import EpicorSandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_util import machine
from tap_sync import requests_by_route, run_tap

LOOKBACK_MINUTES = 0.05
#: Share of the day's touched documents per activity kind (sums to 1).
MIX = {
    "new_invoices": 0.25,
    "changed_invoices": 0.08,
    "header_edits": 0.06,
    "line_edits": 0.06,
    "allocation_recodes": 0.06,
    "posted_invoices": 0.15,
    "new_pos": 0.08,
    "changed_pos": 0.05,
    "po_receipts": 0.05,
    "new_payments": 0.05,
    "new_unposted_payments": 0.02,
    "posted_payments": 0.01,
    "deleted_invoices": 0.02,
    "deleted_invoice_lines": 0.03,
    "deleted_po_lines": 0.02,
    "deleted_payments": 0.01,
}


def _latency_model(spec: str | None, scale: float | None, workdir: Path) -> str | None:
    """The `--latency` model for the emulator, scaled by `--latency-scale` if given."""
    if spec is None or scale is None:
        return spec
    path = workdir / "latency.json"
    model = {} if spec == "default" else json.loads(Path(spec).read_text())
    path.write_text(json.dumps({**model, "scale": scale}))
    return str(path)


def _charged(sandbox: EpicorSandbox) -> dict[str, Any] | None:
    """What the latency model charged since the last call (None without a model)."""
    response = sandbox.http.delete(f"{sandbox.control_url}/latency", timeout=10)
    if response.status_code != 200:
        return None
    request = response.json()["by_kind"].get("request", {})
    return {
        "seconds": round(request.get("seconds", 0.0), 1),
        "emulator_work_seconds": round(request.get("work_seconds", 0.0), 1),
        "rows": request.get("rows", 0),
    }


def measure(
    workdir: Path, args: argparse.Namespace, counts: dict[str, int], concurrency: int | None
) -> dict[str, Any]:
    """A first run, a run with nothing changed, and one after a day's activity."""
    latency = _latency_model(args.latency, args.latency_scale, workdir)
    sandbox = EpicorSandbox(workdir / "epicor", invoices=args.invoices, latency=latency)
    try:
        config = sandbox.tap_config(
            page_size=args.page_size, late_commit_lookback_minutes=LOOKBACK_MINUTES
        )
        config.pop("start_date")
        if concurrency is not None:
            config["max_concurrent_requests"] = concurrency
        report: dict[str, Any] = {}
        state = None
        for name in ("first_run", "second_run", "after_activity"):
            if name == "after_activity":
                started = time.perf_counter()
                summary = sandbox.activity(**counts)
                report["activity_seconds"] = round(time.perf_counter() - started, 1)
                report["documents_touched"] = sum(
                    len(v) for v in summary.values() if isinstance(v, list)
                )
            time.sleep(LOOKBACK_MINUTES * 60 + 1)
            sandbox.reset_counters()
            _charged(sandbox)
            result = run_tap(config, workdir, state)
            state = result.pop("state")
            routes = requests_by_route(sandbox.counters())
            result["requests"] = sum(routes.values())
            result["requests_by_route"] = routes
            result["total_records"] = sum(result["records"].values())
            if (charged := _charged(sandbox)) is not None:
                result["latency_charged"] = charged
            result["load_avg_1m"] = round(os.getloadavg()[0], 2)
            report[name] = result
        return report
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--activity", type=float, default=0.01)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument(
        "--latency", help="the emulator's latency model: default or a JSON file (default: off)"
    )
    parser.add_argument("--latency-scale", type=float, help="scale the model's figures by this")
    parser.add_argument(
        "--max-concurrent-requests",
        help="comma-separated values: the whole measurement once per value, each on fresh data",
    )
    args = parser.parse_args()
    touched = max(len(MIX), round(args.invoices * args.activity))
    counts = {kind: max(1, round(touched * share)) for kind, share in MIX.items()}
    report: dict[str, Any] = {
        "machine": machine(),
        "invoices": args.invoices,
        "activity": counts,
        "latency": args.latency,
        "latency_scale": args.latency_scale,
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.max_concurrent_requests:
            report.update(measure(workdir, args, counts, None))
        else:
            for value in args.max_concurrent_requests.split(","):
                concurrency = int(value)
                result = measure(workdir, args, counts, concurrency)
                report[f"max_concurrent_requests_{concurrency}"] = result
                print(json.dumps({concurrency: result}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
