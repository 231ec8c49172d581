"""Tap records per second vs a minimal requests script on the same pages, and under latency.

Run: `uv run python benchmarks/tap_throughput.py [--invoices 10000] [--repeats 3]
[--latency-ms 100] [--latency-invoices 20000] [--max-concurrent-requests N]`.

An emulator subprocess (EPIC06; databases cached in .sandbox/epicor-bench) serves AP invoices
with lines and GL allocations (children through `$expand`, as the tap reads them).
1. Throughput vs the limit: the tap runs in this process (`sync_all`, Singer messages written to
   /dev/null) while every page URL it requests is recorded. The minimal script then fetches the
   very same URLs with one `requests.Session`, parses each body with `json` and writes every
   invoice, line and allocation as one JSON line to /dev/null. Runs alternate; the median of
   `--repeats` is kept; ratio = tap records/s / minimal records/s (goal >= 0.8). Each side's
   CPU time per record (this process, all threads) and the emulator's are reported too: on a
   busy box the wall-time ratio swings with other work, the CPU costs far less.
2. Under latency: the emulator (`--latency-invoices`) adds `--latency-ms` to every data request;
   the tap syncs the same streams with max_concurrent_requests 1, then 4.
   Ratio = records/s at 4 / records/s at 1 (goal >= 3.5).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import redirect_stdout
from typing import Any

import psutil
import requests
from bench_util import DATA_DIR, ap_catalog, machine
from finance_sandbox.testing.epicor import EpicorSandbox
from tap_epicor_kinetic.run_log import RUN
from tap_epicor_kinetic.tap import TapEpicorKinetic

CHILDREN = ("APInvDtls", "APInvExps")


def run_tap(
    config: dict[str, Any],
    catalog: dict[str, Any],
    urls: list[str] | None = None,
    cpu: list[float] | None = None,
) -> tuple[float, int]:
    """(seconds, records) of one in-process sync with output to /dev/null.

    The tap is built before the clock starts; `cpu` gets the sync's CPU seconds (all threads).
    """
    tap = TapEpicorKinetic(config=config, catalog=catalog, parse_env_config=False)
    if urls is not None:
        tap.http_session.hooks["response"].append(
            lambda r, *_, **__: (
                urls.append(r.url) if "%24expand=" in r.url or "$expand=" in r.url else None
            )
        )
    before = sum(RUN.records.values())
    # A real /dev/null file, as the minimal script writes to: the tap's RECORD lines go to its
    # binary buffer as they would to a pipe. The records are the tap's own count (run_log).
    with open("/dev/null", "w") as null, redirect_stdout(null):
        started, own = time.perf_counter(), time.process_time()
        tap.sync_all()
        seconds = time.perf_counter() - started
    if cpu is not None:
        cpu.append(time.process_time() - own)
    return seconds, sum(RUN.records.values()) - before


def run_minimal(urls: list[str], cpu: list[float] | None = None) -> tuple[float, int]:
    """(seconds, records): the same pages with requests + json, one JSON line per record."""
    session = requests.Session()
    session.auth = ("integration", "sandbox-password")
    session.headers.update({"x-api-key": "sandbox-api-key", "Accept": "application/json"})
    records = 0
    started, own = time.perf_counter(), time.process_time()
    with open("/dev/null", "w") as out:
        for url in urls:
            response = session.get(url, timeout=120)
            response.raise_for_status()
            for invoice in response.json()["value"]:
                lines = invoice.pop("APInvDtls", None) or []
                out.write(json.dumps(invoice) + "\n")
                records += 1
                for line in lines:
                    allocations = line.pop("APInvExps", None) or []
                    out.write(json.dumps(line) + "\n")
                    records += 1
                    for allocation in allocations:
                        out.write(json.dumps(allocation) + "\n")
                        records += 1
    seconds = time.perf_counter() - started
    if cpu is not None:
        cpu.append(time.process_time() - own)
    return seconds, records


def throughput(invoices: int, repeats: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Part 1: tap vs the minimal script, alternating runs, medians.

    Besides records/s (wall time), each run's CPU time per record is measured for the side
    running (this process, all threads) and for the emulator: on a busy box the wall-time ratio
    moves with other work, the CPU costs much less.
    """
    sandbox = EpicorSandbox(DATA_DIR, invoices=invoices)
    server = psutil.Process(sandbox.process.pid)
    try:
        config = {**sandbox.tap_config(), **settings}
        catalog = ap_catalog(config)
        rates: dict[str, list[float]] = {"tap": [], "minimal": []}
        cpu: dict[str, list[float]] = {"tap": [], "minimal": []}
        server_cpu: dict[str, list[float]] = {"tap": [], "minimal": []}
        records = {}
        for _ in range(repeats):
            urls: list[str] = []
            for side in ("tap", "minimal"):
                served, own = _cpu_seconds(server), list[float]()
                if side == "tap":
                    seconds, n = run_tap(config, catalog, urls, own)
                else:
                    seconds, n = run_minimal(urls, own)
                rates[side].append(n / seconds)
                cpu[side].append(own[0] / n * 1e6)
                server_cpu[side].append((_cpu_seconds(server) - served) / n * 1e6)
                records[side] = n
        tap_rate = statistics.median(rates["tap"])
        minimal_rate = statistics.median(rates["minimal"])
        tap_cpu, minimal_cpu = statistics.median(cpu["tap"]), statistics.median(cpu["minimal"])
        return {
            "invoices": invoices,
            "pages": len(urls),
            "records": records,
            "tap_settings": settings or "defaults",
            "tap_records_per_second": round(tap_rate),
            "minimal_records_per_second": round(minimal_rate),
            "ratio_tap_to_minimal": round(tap_rate / minimal_rate, 2),
            "runs": {side: [round(r) for r in runs] for side, runs in rates.items()},
            "cpu_us_per_record": {"tap": round(tap_cpu, 1), "minimal": round(minimal_cpu, 1)},
            "server_cpu_us_per_record": {
                side: round(statistics.median(runs), 1) for side, runs in server_cpu.items()
            },
            "ratio_minimal_cpu_to_tap_cpu": round(minimal_cpu / tap_cpu, 2),
        }
    finally:
        sandbox.stop()


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


SHAPES = {
    "invoices_only": {"ap_invoices"},
    "invoices_lines_allocations": {"ap_invoices", "ap_invoice_lines", "ap_invoice_gl_allocations"},
}


def latency(invoices: int, latency_ms: int, page_size: int = 100) -> dict[str, Any]:
    """Part 2: max_concurrent_requests 1 vs 4 with latency_ms added to every data request.

    Two shapes: invoice headers alone (100 records per page) and invoices with their lines and
    allocations (~630 records per page, where the tap's own CPU per page starts to count).
    """
    sandbox = EpicorSandbox(DATA_DIR, invoices=invoices)
    try:
        config = sandbox.tap_config(page_size=page_size)
        sandbox.faults(latency_ms=latency_ms)
        result: dict[str, Any] = {
            "invoices": invoices,
            "latency_ms": latency_ms,
            "page_size": page_size,
        }
        for shape, streams in SHAPES.items():
            catalog = ap_catalog(config, streams)
            runs: dict[str, Any] = {}
            for concurrency in (1, 4):
                sandbox.reset_counters()
                seconds, n = run_tap({**config, "max_concurrent_requests": concurrency}, catalog)
                route = sandbox.counters()["by_route"].get("Erp.BO.APInvoiceSvc/APInvoices", {})
                runs[f"concurrency_{concurrency}"] = {
                    "seconds": round(seconds, 2),
                    "records": n,
                    "records_per_second": round(n / seconds),
                    "requests": sum(route.values()),
                }
            one = runs["concurrency_1"]["records_per_second"]
            runs["ratio_4_to_1"] = round(runs["concurrency_4"]["records_per_second"] / one, 2)
            result[shape] = runs
        return result
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--latency-invoices", type=int, default=20_000)
    parser.add_argument("--latency-page-size", type=int, default=100)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--max-concurrent-requests", type=int, default=None)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    settings = {}
    if args.max_concurrent_requests:
        settings["max_concurrent_requests"] = args.max_concurrent_requests
    out: dict[str, Any] = {"machine": machine()}
    if not args.skip_throughput:
        out["throughput"] = throughput(args.invoices, args.repeats, settings)
        print(json.dumps(out["throughput"]), file=sys.stderr, flush=True)
    if not args.skip_latency:
        out["latency"] = latency(args.latency_invoices, args.latency_ms, args.latency_page_size)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
