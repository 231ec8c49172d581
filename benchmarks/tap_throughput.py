"""Tap records per second vs a minimal requests script on the same pages, and under latency.

Run: `uv run python benchmarks/tap_throughput.py [--invoices 10000] [--repeats 3]
[--latency-ms 100] [--latency-invoices 20000] [--max-concurrent-requests N]`.

An emulator subprocess (EPIC06; databases cached in .sandbox/epicor-bench) serves AP invoices
with lines and GL allocations (children through `$expand`, as the tap reads them).
1. Throughput vs the limit: the tap runs in this process (`sync_all`, Singer messages written to
   /dev/null) while every page URL it requests is recorded. The minimal script then fetches the
   very same URLs with one `requests.Session`, parses each body with `json` and writes every
   invoice, line and allocation as one JSON line to /dev/null. Runs alternate; the median of
   `--repeats` is kept; ratio = tap records/s / minimal records/s (goal >= 0.8).
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

import requests
from bench_util import DATA_DIR, ap_catalog, machine
from finance_sandbox.testing.epicor import EpicorSandbox
from tap_epicor_kinetic.run_log import RUN
from tap_epicor_kinetic.tap import TapEpicorKinetic

CHILDREN = ("APInvDtls", "APInvExps")


def run_tap(
    config: dict[str, Any], catalog: dict[str, Any], urls: list[str] | None = None
) -> tuple[float, int]:
    """(seconds, records) of one in-process sync with output to /dev/null."""
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
        started = time.perf_counter()
        tap.sync_all()
        seconds = time.perf_counter() - started
    return seconds, sum(RUN.records.values()) - before


def run_minimal(urls: list[str]) -> tuple[float, int]:
    """(seconds, records): the same pages with requests + json, one JSON line per record."""
    session = requests.Session()
    session.auth = ("integration", "sandbox-password")
    session.headers.update({"x-api-key": "sandbox-api-key", "Accept": "application/json"})
    records = 0
    started = time.perf_counter()
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
    return time.perf_counter() - started, records


def throughput(invoices: int, repeats: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Part 1: tap vs the minimal script, alternating runs, medians."""
    sandbox = EpicorSandbox(DATA_DIR, invoices=invoices)
    try:
        config = {**sandbox.tap_config(), **settings}
        catalog = ap_catalog(config)
        tap_rates, minimal_rates = [], []
        records = {}
        for _ in range(repeats):
            urls: list[str] = []
            seconds, n = run_tap(config, catalog, urls)
            tap_rates.append(n / seconds)
            records["tap"] = n
            seconds, n = run_minimal(urls)
            minimal_rates.append(n / seconds)
            records["minimal"] = n
        tap_rate = statistics.median(tap_rates)
        minimal_rate = statistics.median(minimal_rates)
        return {
            "invoices": invoices,
            "pages": len(urls),
            "records": records,
            "tap_settings": settings or "defaults",
            "tap_records_per_second": round(tap_rate),
            "minimal_records_per_second": round(minimal_rate),
            "ratio_tap_to_minimal": round(tap_rate / minimal_rate, 2),
            "runs": {
                "tap": [round(r) for r in tap_rates],
                "minimal": [round(r) for r in minimal_rates],
            },
        }
    finally:
        sandbox.stop()


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
