"""Rows per second into the local Snowflake: the target's bulk path vs a naive executemany INSERT.

Run: `uv run python benchmarks/target_throughput.py [--rows 1000000] [--batch-size-rows 100000]
[--naive-rows 10000] [--validate-records]`.

Both measurements run in one script against one `finance-sandbox snowflake` subprocess (fakesnow
on DuckDB, so absolute numbers say little about a real warehouse; the ratio is the point).
- target: `target-snowflake-finance` as a subprocess (the real CLI), fed invoice-line-sized
  Singer RECORDs (30 columns: decimals as x-singer.decimal strings and as numbers with
  multipleOf, strings, integers, a date, two date-times) through a pipe by a generator thread;
  timed from the first byte to the process exit (all batches committed, state emitted).
- naive: the same rows through `cursor.executemany("INSERT … VALUES (%s, …)")` (pyformat, the
  connector's default) into a table with the same column types, one statement per 1,000 rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import threading
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


def run_target(sandbox: SnowflakeSandbox, rows: int, batch: int, validate: bool) -> dict[str, Any]:
    schema = sandbox.unique_schema("BENCH")
    config = sandbox.target_config(schema=schema, batch_size_rows=batch, validate_records=validate)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config))
        proc = subprocess.Popen(
            [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1 << 20,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None

        def feed() -> None:
            assert proc.stdin is not None
            proc.stdin.write(
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
                    proc.stdin.write("".join(chunk))
                    chunk = []
            chunk.append(json.dumps({"type": "STATE", "value": {"done": rows}}) + "\n")
            proc.stdin.write("".join(chunk))
            proc.stdin.close()

        start = time.perf_counter()
        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        out = proc.stdout.read()
        code = proc.wait()
        elapsed = time.perf_counter() - start
        writer.join()
    if code != 0:
        raise SystemExit(f"target failed with exit code {code}")
    ref = f'"SANDBOX_DB"."{schema}"."{STREAM.upper()}"'
    [(count,)] = sandbox.query(f"SELECT COUNT(*) FROM {ref}")
    # Row-level text, summed here: fakesnow returns SUM(NUMBER) as a float (reference §6.3).
    sample = min(rows, 1000)
    expected = sum(Decimal(make_record(n)["ExtCost"]) for n in range(sample))
    landed = sandbox.query(
        f"SELECT CAST(EXTCOST AS VARCHAR) FROM {ref} WHERE SYSREVID < {10_000_000 + sample}"
    )
    head = sum(Decimal(v) for (v,) in landed)
    return {
        "rows": rows,
        "loaded": count,
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed),
        "batch_size_rows": batch,
        "validate_records": validate,
        "state": out.strip().splitlines()[-1] if out.strip() else None,
        "sample_extcost_exact": head == expected and len(landed) == sample,
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
    args = parser.parse_args()
    sandbox = SnowflakeSandbox()
    try:
        naive = run_naive(sandbox, args.naive_rows) if args.naive_rows else None
        print(json.dumps({"naive_executemany_insert": naive}), flush=True)
        target = run_target(sandbox, args.rows, args.batch_size_rows, args.validate_records)
        print(json.dumps({"target_bulk_path": target}), flush=True)
        if naive is None:
            return
        ratio = target["rows_per_second"] / naive["rows_per_second"]
        print(
            f"target: {target['rows_per_second']:,} rows/s ({target['rows']:,} rows in "
            f"{target['seconds']} s); naive executemany INSERT: {naive['rows_per_second']:,} "
            f"rows/s ({naive['rows']:,} rows); ratio {ratio:.1f}x"
        )
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
