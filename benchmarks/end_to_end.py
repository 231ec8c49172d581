"""End to end: tap | target for N AP invoices with lines and allocations; wall time, peak RSS.

Run: `uv run python benchmarks/end_to_end.py --invoices 100000` (and `--invoices 1000000`).

Starts the Epicor emulator with `--invoices N` (database generated once into
.sandbox/epicor-bench, ~30 s for 100,000, 4-6 min for 1,000,000) and a local Snowflake, then pipes
the real tap CLI into the real target CLI, exactly as `meltano run` does (Meltano adds only its
own process around them), for EPIC06's AP invoices with their lines and GL allocations, with
both plugins' default settings. Peak resident memory of each process is sampled every 0.25 s
with psutil. Rows landed are counted in Snowflake and compared with the emulator's row counts.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_util import DATA_DIR, PeakRss, ap_catalog, machine
from finance_sandbox.testing.epicor import EpicorSandbox
from finance_sandbox.testing.snowflake import SnowflakeSandbox

TABLES = {
    "ap_invoices": "APInvHed",
    "ap_invoice_lines": "APInvDtl",
    "ap_invoice_gl_allocations": "APInvExp",
}


def run(
    invoices: int, workdir: Path, extra_tap: dict[str, Any], extra_target: dict[str, Any]
) -> dict[str, Any]:
    """Start both systems, run the pipe once, check the counts."""
    started = time.perf_counter()
    epicor = EpicorSandbox(DATA_DIR, invoices=invoices)
    snowflake = SnowflakeSandbox()
    setup_s = time.perf_counter() - started
    try:
        tap_config = {**epicor.tap_config(), **extra_tap}
        schema = snowflake.unique_schema("E2E")
        target_config = snowflake.target_config(schema=schema, **extra_target)
        (workdir / "tap.json").write_text(json.dumps(tap_config))
        (workdir / "target.json").write_text(json.dumps(target_config))
        (workdir / "catalog.json").write_text(json.dumps(ap_catalog(tap_config)))
        bin_dir = Path(sys.executable).parent
        tap_args = [str(bin_dir / "tap-epicor-kinetic"), "--config", str(workdir / "tap.json")]
        tap_args += ["--catalog", str(workdir / "catalog.json")]
        target_args = [str(bin_dir / "target-snowflake-finance")]
        target_args += ["--config", str(workdir / "target.json")]
        with (
            (workdir / "tap.log").open("wb") as tap_log,
            (workdir / "target.log").open("wb") as target_log,
            (workdir / "state.jsonl").open("wb") as state_out,
        ):
            t0 = time.perf_counter()
            tap = subprocess.Popen(tap_args, stdout=subprocess.PIPE, stderr=tap_log)
            target = subprocess.Popen(
                target_args, stdin=tap.stdout, stdout=state_out, stderr=target_log
            )
            assert tap.stdout is not None
            tap.stdout.close()  # the target owns the read end now
            rss = PeakRss({"tap": tap.pid, "target": target.pid})
            tap_code = tap.wait()
            tap_s = time.perf_counter() - t0
            target_code = target.wait()
            wall_s = time.perf_counter() - t0
            peaks = rss.stop()
        if tap_code or target_code:
            raise SystemExit(
                f"pipeline failed: tap exit {tap_code}, target exit {target_code}; "
                f"logs in {workdir}"
            )
        truth = epicor.health()["rows"]["EPIC06"]
        landed = {}
        for stream, table in TABLES.items():
            [(count,)] = snowflake.query(
                f'SELECT COUNT(*) FROM "SANDBOX_DB"."{schema}"."{stream.upper()}"'
            )
            landed[stream] = {"landed": count, "epicor": truth.get(table)}
        records = sum(v["landed"] for v in landed.values())
        return {
            "invoices": invoices,
            "wall_seconds": round(wall_s, 1),
            "tap_seconds": round(tap_s, 1),
            "records_per_second": round(records / wall_s),
            "peak_rss_mb": peaks,
            "rows": landed,
            "all_rows_landed": all(v["landed"] == v["epicor"] for v in landed.values()),
            "setup_seconds": round(setup_s, 1),
            "tap_settings": extra_tap or "defaults",
            "target_settings": extra_target or "defaults",
        }
    finally:
        epicor.stop()
        snowflake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--max-concurrent-requests", type=int, default=None)
    parser.add_argument(
        "--target-setting",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a target setting, e.g. validate_records=false or batch_size_rows=50000",
    )
    args = parser.parse_args()
    extra = {}
    if args.max_concurrent_requests:
        extra["max_concurrent_requests"] = args.max_concurrent_requests
    target = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.target_setting)}
    with tempfile.TemporaryDirectory(prefix="e2e-") as tmp:
        result = run(args.invoices, Path(tmp), extra, target)
    print(json.dumps({"machine": machine(), "end_to_end": result}, indent=2))


if __name__ == "__main__":
    main()
