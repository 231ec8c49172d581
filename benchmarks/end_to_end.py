"""End to end: `meltano run` for N AP invoices with lines and allocations; wall time, peak RSS.

Run: `uv run python benchmarks/end_to_end.py --invoices 100000 --meltano` (and
`--invoices 1000000`); without `--meltano` the tap CLI is piped into the target CLI directly.

Starts the Epicor emulator with `--invoices N` (database generated once into
.sandbox/epicor-bench, ~30 s for 100,000, 4-6 min for 1,000,000) and a local Snowflake, then runs
`meltano run tap-epicor-kinetic target-snowflake-finance` from this project (plugins installed
with `meltano install`, settings from environment variables, a private state id) for EPIC06's
AP invoices with their lines and GL allocations, with both plugins' default settings. Peak
resident memory of the tap and of the target is sampled every 0.25 s with psutil. Rows landed
are counted in Snowflake and compared with the emulator's row counts. Prints one JSON object.
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

from bench_util import DATA_DIR, PeakRss, ap_catalog, machine
from finance_sandbox.testing.epicor import EpicorSandbox
from finance_sandbox.testing.snowflake import SnowflakeSandbox

TABLES = {
    "ap_invoices": "APInvHed",
    "ap_invoice_lines": "APInvDtl",
    "ap_invoice_gl_allocations": "APInvExp",
}


def run(
    invoices: int,
    workdir: Path,
    extra_tap: dict[str, Any],
    extra_target: dict[str, Any],
    *,
    meltano: bool = False,
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
        (workdir / "catalog.json").write_text(json.dumps(ap_catalog(dict(tap_config))))
        bin_dir = Path(sys.executable).parent
        tap_args = [str(bin_dir / "tap-epicor-kinetic"), "--config", str(workdir / "tap.json")]
        tap_args += ["--catalog", str(workdir / "catalog.json")]
        target_args = [str(bin_dir / "target-snowflake-finance")]
        target_args += ["--config", str(workdir / "target.json")]
        if meltano:
            return _meltano_run(
                invoices, workdir, tap_config, target_config, epicor, snowflake, schema, setup_s
            ) | {
                "tap_settings": extra_tap or "defaults",
                "target_settings": extra_target or "defaults",
            }
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
        landed = _landed(epicor, snowflake, schema)
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


def _landed(epicor: EpicorSandbox, snowflake: SnowflakeSandbox, schema: str) -> dict[str, Any]:
    """Rows per table in Snowflake next to the emulator's count."""
    truth = epicor.health()["rows"]["EPIC06"]
    landed = {}
    for stream, table in TABLES.items():
        [(count,)] = snowflake.query(
            f'SELECT COUNT(*) FROM "SANDBOX_DB"."{schema}"."{stream.upper()}"'
        )
        landed[stream] = {"landed": count, "epicor": truth.get(table)}
    return landed


def _plugin_env(prefix: str, config: dict[str, Any]) -> dict[str, str]:
    """Settings as Meltano reads them from the environment: PREFIX_SETTING=value."""
    return {
        f"{prefix}_{key.upper()}": value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    }


def _meltano_run(  # noqa: PLR0917 - one call site, in run()
    invoices: int,
    workdir: Path,
    tap_config: dict[str, Any],
    target_config: dict[str, Any],
    epicor: EpicorSandbox,
    snowflake: SnowflakeSandbox,
    schema: str,
    setup_s: float,
) -> dict[str, Any]:
    """`meltano run` from the repository's project, settings and selection from the environment."""
    root = Path(__file__).resolve().parent.parent
    meltano = str(Path(sys.executable).parent / "meltano")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    env |= _plugin_env("TAP_EPICOR_KINETIC", tap_config)
    env |= _plugin_env("TARGET_SNOWFLAKE_FINANCE", target_config)
    env["TAP_EPICOR_KINETIC__SELECT"] = json.dumps([f"{s}.*" for s in TABLES])
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    log = workdir / "meltano.log"
    with log.open("wb") as out:
        installed = subprocess.run(
            [meltano, "install"], check=False, cwd=root, env=env, stdout=out, stderr=out
        )
        if installed.returncode:
            raise SystemExit(f"meltano install failed; log in {log}")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [
                meltano,
                "run",
                "--state-id-suffix",
                f"bench-{os.getpid()}-{int(time.time())}",
                "tap-epicor-kinetic",
                "target-snowflake-finance",
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=out,
        )
        rss = PeakRss(
            root=proc.pid, names={"tap": "tap-epicor-kinetic", "target": "target-snowflake-finance"}
        )
        code = proc.wait()
        wall_s = time.perf_counter() - t0
        peaks = rss.stop()
    if code:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"meltano run failed (exit {code}):\n{tail}")
    landed = _landed(epicor, snowflake, schema)
    records = sum(v["landed"] for v in landed.values())
    return {
        "invoices": invoices,
        "runner": "meltano run",
        "wall_seconds": round(wall_s, 1),
        "records_per_second": round(records / wall_s),
        "peak_rss_mb": peaks,
        "rows": landed,
        "all_rows_landed": all(v["landed"] == v["epicor"] for v in landed.values()),
        "setup_seconds": round(setup_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--max-concurrent-requests", type=int, default=None)
    parser.add_argument(
        "--meltano", action="store_true", help="run through `meltano run` (else tap | target)"
    )
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
        result = run(args.invoices, Path(tmp), extra, target, meltano=args.meltano)
    print(json.dumps({"machine": machine(), "end_to_end": result}, indent=2))


if __name__ == "__main__":
    main()
