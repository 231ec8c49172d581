"""Rows per second into the local Snowflake: the target vs a minimal loader and a naive INSERT.

Run: `uv run python benchmarks/target_throughput.py [--rows 1000000] [--batch-size-rows 100000]
[--naive-rows 10000] [--validate-records] [--repeats 3] [--peer]`.

All three measurements run in one script run against one `finance-sandbox snowflake` subprocess
(fakesnow on DuckDB, so absolute numbers say little about a real warehouse; the ratios are the
point), fed the same Singer messages: invoice-line-sized RECORDs (30 columns: decimals as
x-singer.decimal strings and as numbers with multipleOf, strings, integers, a date, two
date-times), written once to a file before anything is timed.
- target: `target-snowflake-finance` (the real CLI) as a subprocess reading the file on stdin,
  timed from start to exit (all batches committed, state emitted), `load_method: upsert`.
- minimal: benchmarks/minimal_loader.py as a subprocess reading the same file: json.loads, one
  Parquet file, PUT, COPY, MERGE; the least any loader must do (goal: target >= 0.7 of it).
- naive: the same rows through `cursor.executemany("INSERT ... VALUES (%s, ...)")` (pyformat, the
  connector's default) into a table with the same column types, one statement per 1,000 rows
  (goal: target >= 20x).
- peer (`--peer`): MeltanoLabs target-snowflake (peer_target.PEER) as a subprocess in a venv of
  its own, reading the same file with the same batch size, load method and `validate_records`,
  its statements' execution stubbed (peer_stub.py: it cannot load into the local Snowflake), so
  it is timed without any server work while ours is timed with all of it.
Each loader's table is checked: every row landed, and ExtCost (decimal text) and TaxAmt (a JSON
number) of the first 1,000 rows equal the source exactly. With `--repeats N` the minimal loader
and the target (and the peer) run alternately N times (the box's load drifts) and the median
ratio is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from finance_sandbox.testing.snowflake import SnowflakeSandbox

STREAM = "ap_invoice_lines"


def money(scale: int, precision: int = 18) -> dict[str, Any]:
    return {
        "type": ["string", "null"],
        "format": "x-singer.decimal",
        "precision": precision,
        "scale": scale,
    }


def multiple(step: str) -> dict[str, Any]:
    return {"type": ["number", "null"], "multipleOf": float(step)}


STRING = {"type": ["string", "null"]}
INTEGER = {"type": ["integer", "null"]}
PROPERTIES: dict[str, Any] = {
    "Company": {"type": "string"},
    "VendorNum": {"type": "integer"},
    "InvoiceNum": {"type": "string"},
    "InvoiceLine": {"type": "integer"},
    "LineType": STRING,
    "Description": STRING,
    "PartNum": STRING,
    "PONum": INTEGER,
    "POLine": INTEGER,
    "VendorQty": money(8, 22),
    "OurQty": money(8, 22),
    "UnitCost": money(5, 17),
    "DocUnitCost": money(5, 17),
    "ExtCost": money(3),
    "DocExtCost": money(3),
    "TaxAmt": multiple("0.001"),
    "DocTaxAmt": multiple("0.001"),
    "ExchangeRate": money(10, 16),
    "GLAccount": STRING,
    "CurrencyCode": STRING,
    "IUM": STRING,
    "PUM": STRING,
    "Posted": {"type": ["boolean", "null"]},
    "InvoiceDate": {"type": ["string", "null"], "format": "date"},
    "ChangeDate": {"type": ["string", "null"], "format": "date-time"},
    "ChangedBy": STRING,
    "SysRevID": INTEGER,
    "SysRowID": STRING,
    "CommentText": STRING,
    "UpdatedOn": {"type": ["string", "null"], "format": "date-time"},
}
KEYS = ["Company", "VendorNum", "InvoiceNum", "InvoiceLine"]


def make_record(n: int) -> dict[str, Any]:
    invoice, line = divmod(n, 4)
    qty = Decimal(n % 97 + 1) / 4
    unit = Decimal(n % 10007) / 1000 + Decimal("0.00123")
    ext = (qty * unit).quantize(Decimal("0.001"))
    day = dt.date(2024, 1, 1) + dt.timedelta(days=n % 365)
    stamp = f"{day.isoformat()}T{n % 24:02d}:{n % 60:02d}:{n % 59:02d}.{n % 1000:03d}+00:00"
    return {
        "Company": "EPIC06",
        "VendorNum": 1000 + n % 500,
        "InvoiceNum": f"INV-{invoice:08d}",
        "InvoiceLine": line + 1,
        "LineType": "PUR",
        "Description": f"Machined bracket, steel, lot {n % 9973}",
        "PartNum": f"P-{n % 20011:06d}",
        "PONum": 50000 + invoice % 100000,
        "POLine": line + 1,
        "VendorQty": f"{qty:.8f}",
        "OurQty": f"{qty:.8f}",
        "UnitCost": f"{unit:.5f}",
        "DocUnitCost": f"{unit:.5f}",
        "ExtCost": f"{ext:.3f}",
        "DocExtCost": f"{ext:.3f}",
        "TaxAmt": f"{ext / 10:.3f}",
        "DocTaxAmt": f"{ext / 10:.3f}",
        "ExchangeRate": "1.0000000000",
        "GLAccount": f"{5000 + n % 40}-{n % 7:02d}-00",
        "CurrencyCode": "USD",
        "IUM": "EA",
        "PUM": "EA",
        "Posted": n % 3 == 0,
        "InvoiceDate": day.isoformat(),
        "ChangeDate": stamp,
        "ChangedBy": "integration",
        "SysRevID": 10_000_000 + n,
        "SysRowID": f"{n:08x}-0000-4000-8000-{n:012x}",
        "CommentText": "",
        "UpdatedOn": stamp,
    }


def singer_line(n: int) -> str:
    # TaxAmt/DocTaxAmt are JSON numbers (multipleOf), the others strings: both shapes taps send.
    rec = make_record(n)
    body = json.dumps(rec)
    for field in ("TaxAmt", "DocTaxAmt"):
        body = body.replace(f'"{field}": "{rec[field]}"', f'"{field}": {rec[field]}')
    return f'{{"type": "RECORD", "stream": "{STREAM}", "record": {body}}}\n'


def write_messages(path: Path, rows: int) -> None:
    """SCHEMA, `rows` RECORDs and one STATE, as a tap would send them."""
    with path.open("w") as out:
        out.write(
            json.dumps(
                {"type": "SCHEMA", "stream": STREAM, "key_properties": KEYS,
                 "bookmark_properties": ["UpdatedOn"],
                 "schema": {"type": "object", "properties": PROPERTIES}}
            ) + "\n"
        )  # fmt: skip
        chunk: list[str] = []
        for n in range(rows):
            chunk.append(singer_line(n))
            if len(chunk) == 5000:
                out.write("".join(chunk))
                chunk = []
        chunk.append(json.dumps({"type": "STATE", "value": {"done": rows}}) + "\n")
        out.write("".join(chunk))


def _timed(args: list[str], messages: Path, cwd: Path | None = None) -> tuple[float, str, str]:
    """Run a loader subprocess on the messages file: (seconds, stdout, stderr)."""
    with messages.open("rb") as stdin:
        start = time.perf_counter()
        proc = subprocess.run(
            args, stdin=stdin, capture_output=True, text=True, check=False, cwd=cwd
        )
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args[1:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc.stdout, proc.stderr


def target_command(config: dict[str, Any], tmp: Path) -> list[str]:
    """The target CLI with `config` written to a file in `tmp`."""
    config_path = tmp / "config.json"
    config_path.write_text(json.dumps(config))
    return [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(config_path)]


def minimal_command(sandbox: SnowflakeSandbox, schema: str, tmp: Path) -> list[str]:
    """benchmarks/minimal_loader.py loading into `schema` (created here), its spec in `tmp`."""
    from target_snowflake_finance.types import column_type

    sandbox.query(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema}"')
    spec = {
        "connect": sandbox.connect_kwargs(schema=schema),
        "column_types": {name: column_type(prop).sql for name, prop in PROPERTIES.items()},
    }
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec))
    return [sys.executable, str(Path(__file__).with_name("minimal_loader.py")), str(spec_path)]


def _check(sandbox: SnowflakeSandbox, schema: str, rows: int) -> dict[str, Any]:
    ref = f'"SANDBOX_DB"."{schema}"."{STREAM.upper()}"'
    [(count,)] = sandbox.query(f"SELECT COUNT(*) FROM {ref}")
    # Row by row as text (fakesnow returns SUM(NUMBER) as a float, reference §6.3): a decimal
    # string column (ExtCost) and a JSON-number column (TaxAmt), where a float would show.
    sample = min(rows, 1000)
    expected = {
        10_000_000 + n: (Decimal(r["ExtCost"]), Decimal(r["TaxAmt"]))
        for n in range(sample)
        for r in [make_record(n)]
    }
    landed = {
        int(rev): (Decimal(ext), Decimal(tax))
        for rev, ext, tax in sandbox.query(
            f"SELECT SYSREVID, CAST(EXTCOST AS VARCHAR), CAST(TAXAMT AS VARCHAR) FROM {ref} "
            f"WHERE SYSREVID < {10_000_000 + sample}"
        )
    }
    return {"loaded": count, "sample_values_exact": landed == expected}


def run_target(
    sandbox: SnowflakeSandbox, messages: Path, rows: int, batch: int, validate: bool
) -> dict[str, Any]:
    schema = sandbox.unique_schema("BENCH")
    config = sandbox.target_config(schema=schema, batch_size_rows=batch, validate_records=validate)
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, out, _ = _timed(target_command(config, Path(tmp)), messages)
    return {
        "rows": rows,
        **_check(sandbox, schema, rows),
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed),
        "batch_size_rows": batch,
        "validate_records": validate,
        "state": out.strip().splitlines()[-1] if out.strip() else None,
    }


def run_minimal(sandbox: SnowflakeSandbox, messages: Path, rows: int) -> dict[str, Any]:
    schema = sandbox.unique_schema("MINIMAL")
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, out, _ = _timed(minimal_command(sandbox, schema, Path(tmp)), messages)
    return {
        "rows": rows,
        **_check(sandbox, schema, rows),
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed),
        "state": out.strip().splitlines()[-1] if out.strip() else None,
    }


def run_peer(python: Path, messages: Path, rows: int, batch: int, validate: bool) -> dict[str, Any]:
    import peer_target

    with tempfile.TemporaryDirectory() as tmp:
        command = peer_target.command(python, Path(tmp), batch_size_rows=batch, validate=validate)
        elapsed, out, err = _timed(command, messages, cwd=Path(tmp))
    return {
        "rows": rows,
        # What it would have sent (peer_stub.py counts them): one PUT and MERGE per batch.
        "statements": json.loads(err.strip().splitlines()[-1])["peer_statements"],
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed),
        "state": out.strip().splitlines()[-1] if out.strip() else None,
    }


def run_naive(sandbox: SnowflakeSandbox, rows: int) -> dict[str, Any]:
    from target_snowflake_finance.types import column_type

    schema = sandbox.unique_schema("NAIVE")
    columns = list(PROPERTIES)
    types = [column_type(PROPERTIES[c]).sql for c in columns]
    table = f'"SANDBOX_DB"."{schema}"."{STREAM.upper()}"'
    with sandbox.connect(schema=schema, paramstyle="pyformat") as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "SANDBOX_DB"."{schema}"')
        cols = ", ".join(f'"{c.upper()}" {t}' for c, t in zip(columns, types, strict=True))
        cur.execute(f"CREATE TABLE {table} ({cols})")
        names = ", ".join(f'"{c.upper()}"' for c in columns)
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        data = [tuple(make_record(n)[c] for c in columns) for n in range(rows)]
        start = time.perf_counter()
        for i in range(0, rows, 1000):
            cur.executemany(sql, data[i : i + 1000])
        elapsed = time.perf_counter() - start
        [(count,)] = cur.execute(f"SELECT COUNT(*) FROM {table}").fetchall()
    return {
        "rows": rows,
        "loaded": count,
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size-rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=10_000)
    parser.add_argument("--validate-records", action="store_true")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run minimal and target alternately this many times; report the median ratio",
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="also run MeltanoLabs target-snowflake (server work stubbed) in each round",
    )
    args = parser.parse_args()
    from bench_util import machine

    peer_python = None
    results: dict[str, Any] = {"machine": machine()}
    if args.peer:
        import peer_target

        peer_python = peer_target.ensure_env()
        results["peer_versions"] = peer_target.version(peer_python)
    sandbox = SnowflakeSandbox()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            messages = Path(tmp) / "messages.jsonl"
            write_messages(messages, args.rows)
            naive = run_naive(sandbox, args.naive_rows) if args.naive_rows else None
            results["naive_executemany_insert"] = naive
            print(json.dumps({"naive_executemany_insert": naive}), file=sys.stderr, flush=True)
            # Alternate the loaders: on a shared box the load changes within minutes, and
            # each pair of neighbouring runs sees about the same machine.
            minimals, targets, peers = [], [], []
            for _ in range(max(args.repeats, 1)):
                minimals.append(run_minimal(sandbox, messages, args.rows))
                print(json.dumps({"minimal_loader": minimals[-1]}), file=sys.stderr, flush=True)
                targets.append(
                    run_target(
                        sandbox, messages, args.rows, args.batch_size_rows, args.validate_records
                    )
                )
                print(json.dumps({"target": targets[-1]}), file=sys.stderr, flush=True)
                if peer_python is not None:
                    peers.append(
                        run_peer(
                            peer_python,
                            messages,
                            args.rows,
                            args.batch_size_rows,
                            args.validate_records,
                        )
                    )
                    print(json.dumps({"peer": peers[-1]}), file=sys.stderr, flush=True)
        ratios = [
            round(t["rows_per_second"] / m["rows_per_second"], 2)
            for m, t in zip(minimals, targets, strict=True)
        ]
        minimal = minimals[ratios.index(statistics.median_low(ratios))]
        target = targets[ratios.index(statistics.median_low(ratios))]
        results["minimal_loader"] = minimal
        results["target"] = target
        if len(ratios) > 1:
            results["runs"] = [
                {"minimal_rows_per_second": m["rows_per_second"],
                 "target_rows_per_second": t["rows_per_second"], "ratio": r}
                for m, t, r in zip(minimals, targets, ratios, strict=True)
            ]  # fmt: skip
        results["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
        results["ratio_target_to_minimal"] = statistics.median_low(ratios)
        if peers:
            # Ours / theirs in rows per second (how many times faster ours is), per round.
            speedups = [
                round(t["rows_per_second"] / p["rows_per_second"], 2)
                for t, p in zip(targets, peers, strict=True)
            ]
            results["peer"] = peers[speedups.index(statistics.median_low(speedups))]
            results["peer_runs"] = [
                {"target_seconds": t["seconds"], "peer_seconds": p["seconds"], "ratio": r}
                for t, p, r in zip(targets, peers, speedups, strict=True)
            ]
            results["ratio_target_to_peer"] = statistics.median_low(speedups)
        if naive is not None:
            results["ratio_target_to_naive"] = round(
                target["rows_per_second"] / naive["rows_per_second"], 1
            )
        print(json.dumps(results, indent=2))
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
