"""`make demo`: start the sandbox, run the pipeline twice, reconcile Snowflake against Epicor."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from finance_sandbox.services import read_env_file

# DESIGN.md §3: streams in sync order, with their primary keys as the tap emits them.
STREAM_KEYS: dict[str, list[str]] = {
    "gl_account_categories": ["Company", "COACode", "CategoryID"],
    "coa_segment_values": ["Company", "COACode", "SegmentNbr", "SegmentCode"],
    "gl_accounts": ["Company", "COACode", "GLAccount"],
    "vendors": ["Company", "VendorNum"],
    "parts": ["Company", "PartNum"],
    "purchase_orders": ["Company", "PONum"],
    "purchase_order_lines": ["Company", "PONum", "POLine"],
    "ap_invoices": ["Company", "VendorNum", "InvoiceNum"],
    "ap_invoice_lines": ["Company", "VendorNum", "InvoiceNum", "InvoiceLine"],
    "ap_invoice_gl_allocations": ["Company", "VendorNum", "InvoiceNum", "InvoiceLine", "InvExpSeq"],
    "ap_invoice_taxes": [
        "Company",
        "VendorNum",
        "InvoiceNum",
        "TaxCode",
        "RateCode",
        "ECAcquisitionSeq",
    ],
    "ap_invoice_misc_charges": ["Company", "VendorNum", "InvoiceNum", "InvoiceLine", "MscNum"],
    "ap_invoice_header_allocations": [
        "Company",
        "VendorNum",
        "InvoiceNum",
        "InvoiceLine",
        "InvExpSeq",
    ],
    "ap_payments": ["Company", "HeadNum"],
    "ap_payment_lines": ["Company", "HeadNum", "APTranNo", "InvoiceNum", "Voided"],
}
# OData names the tap renames (DESIGN §3): the emulator's truth uses Epicor's spelling.
SOURCE_RENAMES = {"GLAccount1": "GLAccount", "PONUM": "PONum"}
LOAD_ID = "_SDC_LOAD_ID"
CENT = Decimal("0.001")
ACTIVITY = {
    "new_invoices": 6,
    "changed_invoices": 4,
    "line_edits": 2,
    "allocation_recodes": 2,
    "new_pos": 3,
    "changed_pos": 2,
    "po_receipts": 1,
    "new_payments": 3,
    "posted_payments": 1,
    "deleted_invoice_lines": 1,
}
#: The demo's two runs are about a minute apart. With the default late-commit lookback (15
#: minutes) the second run would start from the beginning once (no bookmark is old enough yet),
#: hiding what an incremental run reads; the emulator commits every write at once, so the demo
#: runs with no lookback unless the user sets one.
LOOKBACK_SETTING = "TAP_EPICOR_KINETIC_LATE_COMMIT_LOOKBACK_MINUTES"


def table_name(stream: str) -> str:
    """Table names default to the stream name upper-cased (DESIGN §4)."""
    return stream.upper()


def upper_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A source row keyed the way the warehouse names columns (`column_case: upper`)."""
    return {SOURCE_RENAMES.get(k, k).upper(): v for k, v in row.items()}


# -- Epicor (the emulator's ground truth) ------------------------------------------------------


def truth_rows(sandbox_url: str, stream: str, company: str) -> list[dict[str, Any]]:
    """Current source rows of a stream, numbers parsed as Decimal so nothing is rounded."""
    response = requests.get(
        f"{sandbox_url}/_sandbox/truth/{stream}", params={"company": company}, timeout=120
    )
    response.raise_for_status()
    return [
        upper_row(json.loads(line, parse_float=Decimal))
        for line in response.text.splitlines()
        if line.strip()
    ]


def run_activity(sandbox_url: str, company: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """Let the emulator's activity simulator create and change documents through Epicor's API."""
    response = requests.post(
        f"{sandbox_url}/_sandbox/activity", json={**counts, "company": company}, timeout=120
    )
    response.raise_for_status()
    result = response.json()
    return result if isinstance(result, dict) else {"result": result}


# -- Snowflake ---------------------------------------------------------------------------------


def snowflake_connect(env: Mapping[str, str]) -> Any:
    """A connector session from the TARGET_SNOWFLAKE_FINANCE_* values `finance-sandbox up` wrote."""
    import snowflake.connector
    from cryptography.hazmat.primitives import serialization

    passphrase = env.get("TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PASSPHRASE") or None
    key = serialization.load_pem_private_key(
        Path(env["TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PATH"]).read_bytes(),
        password=passphrase.encode() if passphrase else None,
    )
    return snowflake.connector.connect(
        account=env["TARGET_SNOWFLAKE_FINANCE_ACCOUNT"],
        user=env["TARGET_SNOWFLAKE_FINANCE_USER"],
        private_key=key,
        host=env["TARGET_SNOWFLAKE_FINANCE_HOST"],
        port=int(env["TARGET_SNOWFLAKE_FINANCE_PORT"]),
        protocol=env["TARGET_SNOWFLAKE_FINANCE_PROTOCOL"],
        database=env["TARGET_SNOWFLAKE_FINANCE_DATABASE"],
        schema=env["TARGET_SNOWFLAKE_FINANCE_SCHEMA"],
        warehouse=env["TARGET_SNOWFLAKE_FINANCE_WAREHOUSE"],
        role=env.get("TARGET_SNOWFLAKE_FINANCE_ROLE") or None,
    )


def warehouse_rows(conn: Any, stream: str, columns: Iterable[str] | None = None) -> list[dict]:
    """Live rows of a stream's table as dicts keyed by upper-case column name.

    Rows deleted in Epicor stay in the table marked in `_SDC_DELETED_AT` (the tap's tombstones)
    and are left out.
    """
    select = "*" if columns is None else ", ".join(f'"{c}"' for c in columns)
    cursor = conn.cursor()
    try:
        cursor.execute(f"SELECT * FROM {table_name(stream)} LIMIT 0")
        marked = "_SDC_DELETED_AT" in {d[0].upper() for d in cursor.description}
        live = " WHERE _SDC_DELETED_AT IS NULL" if marked else ""
        cursor.execute(f"SELECT {select} FROM {table_name(stream)}{live}")
        names = [d[0].upper() for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def reset_schema(conn: Any, env: Mapping[str, str]) -> None:
    """Drop and recreate the sandbox schema so leftovers of an earlier demo cannot skew counts."""
    database = env["TARGET_SNOWFLAKE_FINANCE_DATABASE"]
    schema = env["TARGET_SNOWFLAKE_FINANCE_SCHEMA"]
    cursor = conn.cursor()
    try:
        cursor.execute(f"DROP SCHEMA IF EXISTS {database}.{schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}")
        cursor.execute(f"USE SCHEMA {database}.{schema}")
    finally:
        cursor.close()


# -- Reconciliation ----------------------------------------------------------------------------


def money(value: Any) -> Decimal:
    """An amount as an exact Decimal (connector Decimals, JSON Decimals, or text)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, float):
        raise TypeError(f"amount {value!r} arrived as a float: exactness is lost")
    return Decimal(str(value))


def is_true(value: Any) -> bool:
    return value is True or str(value).lower() in {"1", "true"}


@dataclass
class VendorTotals:
    """One vendor's AP figures: three views of the same invoices, and what is still open."""

    name: str = ""
    invoices: Decimal = field(default_factory=Decimal)
    lines: Decimal = field(default_factory=Decimal)  # lines + misc charges + taxes
    allocations: Decimal = field(default_factory=Decimal)  # line-level + header-level
    paid: Decimal = field(default_factory=Decimal)
    balance: Decimal = field(default_factory=Decimal)

    @property
    def open_ap(self) -> Decimal:
        return self.invoices - self.paid

    @property
    def consistent(self) -> bool:
        """Invoice = lines + misc + tax = all allocations; open AP = invoices - posted payments."""
        return self.invoices == self.lines == self.allocations and self.open_ap == self.balance

    def figures(self) -> tuple[Decimal, ...]:
        return (self.invoices, self.lines, self.allocations, self.paid, self.open_ap)


def vendor_totals(  # noqa: PLR0917
    invoices: Iterable[Mapping[str, Any]],
    lines: Iterable[Mapping[str, Any]],
    allocations: Iterable[Mapping[str, Any]],
    taxes: Iterable[Mapping[str, Any]],
    misc_charges: Iterable[Mapping[str, Any]],
    header_allocations: Iterable[Mapping[str, Any]],
    payment_lines: Iterable[Mapping[str, Any]],
) -> dict[int, VendorTotals]:
    """Per-vendor sums in Decimal from row-level values (upper-case column names)."""
    totals: dict[int, VendorTotals] = defaultdict(VendorTotals)
    for row in invoices:
        vendor = totals[int(row["VENDORNUM"])]
        vendor.name = str(row.get("VENDORNUMNAME") or vendor.name)
        vendor.invoices += money(row["INVOICEAMT"])
        vendor.balance += money(row["INVOICEBAL"])
    for row in lines:
        totals[int(row["VENDORNUM"])].lines += money(row["EXTCOST"])
    for row in taxes:
        totals[int(row["VENDORNUM"])].lines += money(row["TAXAMT"])
    for row in misc_charges:
        totals[int(row["VENDORNUM"])].lines += money(row["MISCAMT"])
    for rows in (allocations, header_allocations):
        for row in rows:
            totals[int(row["VENDORNUM"])].allocations += money(row["EXPAMT"])
    for row in payment_lines:
        # A check still in entry pays nothing yet: Epicor's balances count posted payments.
        if is_true(row.get("POSTED")) and not is_true(row.get("VOIDED")):
            totals[int(row["VENDORNUM"])].paid += money(row["TRANAMT"])
    return dict(totals)


RECON_COLUMNS = {
    "ap_invoices": ["VENDORNUM", "VENDORNUMNAME", "INVOICEAMT", "INVOICEBAL"],
    "ap_invoice_lines": ["VENDORNUM", "EXTCOST"],
    "ap_invoice_gl_allocations": ["VENDORNUM", "EXPAMT"],
    "ap_invoice_taxes": ["VENDORNUM", "TAXAMT"],
    "ap_invoice_misc_charges": ["VENDORNUM", "MISCAMT"],
    "ap_invoice_header_allocations": ["VENDORNUM", "EXPAMT"],
    "ap_payment_lines": ["VENDORNUM", "POSTED", "VOIDED", "TRANAMT"],
}


def warehouse_vendor_totals(conn: Any) -> dict[int, VendorTotals]:
    data = {s: warehouse_rows(conn, s, cols) for s, cols in RECON_COLUMNS.items()}
    return vendor_totals(*(data[s] for s in RECON_COLUMNS))


def source_vendor_totals(
    sandbox_url: str, company: str, snapshot: Mapping[str, list[dict[str, Any]]] | None = None
) -> dict[int, VendorTotals]:
    """Per-vendor totals from Epicor's rows (fetched, or taken from a snapshot of every stream)."""
    data = snapshot or {s: truth_rows(sandbox_url, s, company) for s in RECON_COLUMNS}
    return vendor_totals(*(data[s] for s in RECON_COLUMNS))


def source_snapshot(sandbox_url: str, company: str) -> dict[str, list[dict[str, Any]]]:
    """Every stream's current rows in Epicor, read once for counts and the reconciliation."""
    say("    reading Epicor's current rows and the warehouse back for the report ...")
    return {s: truth_rows(sandbox_url, s, company) for s in STREAM_KEYS}


def fmt(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):,}"


def reconciliation_report(
    warehouse: dict[int, VendorTotals], source: dict[int, VendorTotals], top: int = 8
) -> tuple[list[str], bool]:
    """Report lines and whether Snowflake agrees with Epicor for every vendor, to the last digit."""
    header = ("vendor", "invoices", "lines+misc+tax", "GL alloc.", "paid", "open AP", "")
    rows: list[tuple[str, ...]] = []
    biggest = sorted(warehouse, key=lambda v: warehouse[v].invoices, reverse=True)[:top]
    for num in biggest:
        t = warehouse[num]
        mark = "ok" if t.consistent and source.get(num) == t else "MISMATCH"
        label = f"{num} {t.name}"[:34]
        rows.append((label, *(fmt(x) for x in t.figures()), mark))
    all_wh = VendorTotals(name="all vendors")
    for t in warehouse.values():
        for attr in ("invoices", "lines", "allocations", "paid", "balance"):
            setattr(all_wh, attr, getattr(all_wh, attr) + getattr(t, attr))
    rows.append((f"all {len(warehouse)} vendors", *(fmt(x) for x in all_wh.figures()), ""))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  "
        + "  ".join(
            cell.ljust(widths[i]) if i in (0, 6) else cell.rjust(widths[i])
            for i, cell in enumerate(r)
        )
        for r in [header, *rows]
    ]
    internal = all(t.consistent for t in warehouse.values())
    agrees = warehouse == source
    lines.append(
        f"  every vendor: invoice totals = lines + misc charges + taxes = all GL allocations "
        f"(line and header level), "
        f"open AP = invoices - posted payments: {'yes' if internal else 'NO'}"
    )
    differing = sorted(set(warehouse) ^ set(source)) + sorted(
        v for v in set(warehouse) & set(source) if warehouse[v] != source[v]
    )
    lines.append(
        "  Snowflake = Epicor for all "
        f"{len(source)} vendors, to the last decimal: "
        + ("yes" if agrees else f"NO (vendors {differing[:10]})")
    )
    return lines, internal and agrees


# -- Meltano ------------------------------------------------------------------------------------

# Meltano's console rendering of the SDK's metrics and sync log lines (the tap's stderr).
_RECORD_COUNT = re.compile(r"metric_name=record_count metric_value=(\d+)")
_SYNC_START = re.compile(r"Beginning sync of '([A-Za-z0-9_]+)'")
_BATCH_LOADED = re.compile(r"Batch \d+ of [A-Za-z0-9_]+: (\d+) rows into")


def run_logged(  # noqa: PLR0917
    command: list[str],
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_line: Callable[[str], None] | None = None,
    heartbeat: Callable[[float], str] | None = None,
) -> int:
    """Run a command with its output in a log file; print a progress line every few seconds."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        done = threading.Event()

        def beat() -> None:
            while not done.wait(5):
                elapsed = time.monotonic() - started
                note = heartbeat(elapsed) if heartbeat else ""
                print(f"    ... {elapsed:.0f}s {note}", flush=True)  # noqa: T201

        ticker = threading.Thread(target=beat, daemon=True)
        ticker.start()
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if on_line:
                on_line(line)
        code = process.wait()
        done.set()
    return code


def meltano_run(
    root: Path, env: Mapping[str, str], env_file: Path, log_path: Path, *flags: str
) -> tuple[int, int]:
    """One `meltano run tap-epicor-kinetic target-snowflake-finance`: (extracted, loaded)."""
    records = [0, 0]  # extracted by the tap, loaded by the target
    current = [""]

    def on_line(line: str) -> None:
        if match := _SYNC_START.search(line):
            current[0] = match.group(1)
        elif "tap-epicor-kinetic" in line and (match := _RECORD_COUNT.search(line)):
            records[0] += int(match.group(1))
        elif "target-snowflake-finance" in line and (match := _BATCH_LOADED.search(line)):
            records[1] += int(match.group(1))

    def heartbeat(_elapsed: float) -> str:
        now = f" (tap now at {current[0]})" if current[0] else ""
        return f"{records[0]:,} records extracted, {records[1]:,} loaded{now}"

    command = [
        meltano_executable(),
        "--env-file",
        str(env_file),
        "run",
        *flags,
        "tap-epicor-kinetic",
        "target-snowflake-finance",
    ]
    code = run_logged(command, root, env, log_path, on_line, heartbeat)
    if code != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise DemoError(f"meltano run failed (exit {code}); full log: {log_path}\n{tail}")
    return records[0], records[1]


def meltano_executable() -> str:
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else "meltano"


class DemoError(Exception):
    """A step of the demo failed; the message says which and where its log is."""


# -- The demo ----------------------------------------------------------------------------------


def find_root() -> Path:
    """The Meltano project: the current directory or a parent holding meltano.yml."""
    for candidate in [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]]:
        if (candidate / "meltano.yml").exists():
            return candidate
    raise DemoError("no meltano.yml here or above: run `make demo` from the repository root")


def step(title: str) -> float:
    print(f"\n==> {title}", flush=True)  # noqa: T201
    return time.monotonic()


def say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201


def load_ids(conn: Any) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for stream in STREAM_KEYS:
        cursor = conn.cursor()
        try:
            cursor.execute(f"SELECT DISTINCT {LOAD_ID} FROM {table_name(stream)}")
            ids[stream] = {str(r[0]) for r in cursor.fetchall()}
        finally:
            cursor.close()
    return ids


def table_counts(conn: Any) -> dict[str, int]:
    counts = {}
    for stream in STREAM_KEYS:
        cursor = conn.cursor()
        try:
            cursor.execute(f"SELECT COUNT(*) FROM {table_name(stream)}")
            counts[stream] = int(cursor.fetchone()[0])
        finally:
            cursor.close()
    return counts


def moved_rows(conn: Any, before: dict[str, set[str]]) -> dict[str, int]:
    """Rows per table written by loads that did not exist before (their _SDC_LOAD_ID is new)."""
    moved = {}
    for stream in STREAM_KEYS:
        cursor = conn.cursor()
        try:
            cursor.execute(f"SELECT {LOAD_ID}, COUNT(*) FROM {table_name(stream)} GROUP BY 1")
            moved[stream] = sum(
                int(n) for lid, n in cursor.fetchall() if str(lid) not in before[stream]
            )
        finally:
            cursor.close()
    return moved


AUDIT_TABLE = "_SDC_LOAD_AUDIT"  # the target's default `audit_table`


def audit_batches(conn: Any) -> list[dict[str, Any]]:
    """The target's audit trail: one row per loaded batch."""
    cursor = conn.cursor()
    try:
        cursor.execute(f"SELECT * FROM {AUDIT_TABLE}")
        names = [d[0].upper() for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def audited_rows(batches: Iterable[Mapping[str, Any]], skip: set[str]) -> dict[str, int]:
    """Rows loaded per stream according to the audit table, leaving out batches in `skip`."""
    rows: dict[str, int] = defaultdict(int)
    for batch in batches:
        if str(batch["BATCH_ID"]) not in skip and batch["STATUS"] != "failed":
            rows[str(batch["STREAM"])] += int(batch["ROWS_LOADED"] or 0)
    return dict(rows)


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        say(
            "  "
            + "  ".join(
                c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)
            )
        )


def _show_install_line(line: str) -> None:
    if "Installing" in line or "Installed" in line or "rror" in line:
        say("    " + line.rstrip())


@dataclass
class Context:
    """Where the demo runs and how it reaches the sandbox."""

    root: Path
    env_file: Path
    logs: Path
    base_env: dict[str, str]
    sandbox_url: str = ""
    company: str = ""


def install(ctx: Context) -> None:
    t = step("1/6  Installing both plugins into .meltano/ (meltano install, uv backend)")
    command = [meltano_executable(), "install"]
    log = ctx.logs / "install.log"
    if run_logged(command, ctx.root, ctx.base_env, log, on_line=_show_install_line) != 0:
        raise DemoError(f"meltano install failed; see {log}")
    say(f"    done in {time.monotonic() - t:.0f}s")


def start_sandbox(ctx: Context, invoices: int) -> dict[str, str]:
    step(f"2/6  Starting the sandbox: Epicor emulator ({invoices:,} AP invoices) + local Snowflake")
    command = [sys.executable, "-m", "finance_sandbox.cli", "up", "--invoices", str(invoices)]
    if subprocess.run(command, cwd=ctx.root, check=False).returncode != 0:
        raise DemoError("finance-sandbox up failed (see the message above)")
    env = read_env_file(ctx.env_file)
    ctx.sandbox_url, ctx.company = env["EPICOR_SANDBOX_URL"], env["TAP_EPICOR_KINETIC_COMPANY"]
    return env


def first_run(ctx: Context, conn: Any) -> tuple[bool, float]:
    t = step("3/6  First run: meltano run tap-epicor-kinetic target-snowflake-finance (full load)")
    sent = meltano_run(
        ctx.root, ctx.base_env, ctx.env_file, ctx.logs / "run-1.log", "--full-refresh"
    )
    say(f"    {sent[0]:,} records extracted, {sent[1]:,} rows loaded")
    seconds = time.monotonic() - t
    counts = table_counts(conn)
    say(f"    done in {seconds:.0f}s; log {ctx.logs / 'run-1.log'}")
    snapshot = source_snapshot(ctx.sandbox_url, ctx.company)
    source = {s: len(rows) for s, rows in snapshot.items()}
    say("")
    print_table(
        ("table", "rows in Snowflake", "rows in Epicor"),
        [(table_name(s), f"{counts[s]:,}", f"{source[s]:,}") for s in STREAM_KEYS],
    )
    step(f"4/6  Reconciliation read back from Snowflake (company {ctx.company}), per vendor")
    lines, agrees = reconciliation_report(
        warehouse_vendor_totals(conn), source_vendor_totals(ctx.sandbox_url, ctx.company, snapshot)
    )
    for line in lines:
        say(line)
    return counts == source and agrees, seconds


def second_run(ctx: Context, conn: Any, first_seconds: float) -> bool:
    step("5/6  Activity in Epicor, then an incremental run")
    before = load_ids(conn)
    audited_before = {str(b["BATCH_ID"]) for b in audit_batches(conn)}
    summary = run_activity(ctx.sandbox_url, ctx.company, ACTIVITY)
    (ctx.logs / "activity.json").write_text(json.dumps(summary, indent=1))
    touched = ", ".join(
        f"{key.replace('_', ' ')}: {len(value)}"
        for key, value in summary.items()
        if isinstance(value, list)
    )
    say(f"    the activity simulator changed Epicor through its API: {touched}")
    say(f"    (the keys it touched: {ctx.logs / 'activity.json'})")
    say(
        f"    late_commit_lookback_minutes = {ctx.base_env[LOOKBACK_SETTING]} for the demo: its "
        "runs are a minute apart (a schedule keeps the default 15; see README, late commits)"
    )
    t = time.monotonic()
    sent = meltano_run(ctx.root, ctx.base_env, ctx.env_file, ctx.logs / "run-2.log")
    say(
        f"    done in {time.monotonic() - t:.0f}s (first run: {first_seconds:.0f}s); "
        f"log {ctx.logs / 'run-2.log'}\n"
    )
    moved = moved_rows(conn, before)
    counts = table_counts(conn)
    snapshot = source_snapshot(ctx.sandbox_url, ctx.company)
    source = {s: len(rows) for s, rows in snapshot.items()}
    batches = audit_batches(conn)
    audited = audited_rows(batches, audited_before)
    print_table(
        ("table", "rows now", "rows in Epicor", "rows loaded by run 2", "per audit table"),
        [
            (table_name(s), f"{counts[s]:,}", f"{source[s]:,}", f"{moved[s]:,}",
             f"{audited.get(s, 0):,}")
            for s in STREAM_KEYS
        ],
    )  # fmt: skip
    new_batches = [b for b in batches if str(b["BATCH_ID"]) not in audited_before]
    say(f"\n    {AUDIT_TABLE}: {len(batches)} batches in all, {len(new_batches)} from run 2 "
        f"({sum(1 for b in new_batches if b['STATUS'] == 'failed')} failed)")  # fmt: skip
    total_moved, total_rows = sum(moved.values()), sum(counts.values())
    say(
        f"    run 2 moved {total_moved:,} of {total_rows:,} rows "
        f"({sent[0]:,} records extracted): the changed documents and those still in entry"
    )
    lines, agrees = reconciliation_report(
        warehouse_vendor_totals(conn), source_vendor_totals(ctx.sandbox_url, ctx.company, snapshot)
    )
    for line in lines[-2:]:
        say(line)
    audit_agrees = all(audited.get(s, 0) == moved[s] for s in STREAM_KEYS)
    if not audit_agrees:
        say("    the audit table's row counts differ from the rows that carry run 2's load ids")
    return agrees and audit_agrees and counts == source and 0 < total_moved < total_rows


def stop_sandbox(ctx: Context, keep: bool) -> None:
    step("6/6  Sandbox")
    if keep:
        say(f"    still running (KEEP_SANDBOX=1); settings in {ctx.env_file}")
        say("    stop it with `make sandbox-down`")
        return
    subprocess.run([sys.executable, "-m", "finance_sandbox.cli", "down"], cwd=ctx.root, check=False)


def demo(invoices: int, keep: bool) -> int:
    """Every step in order; the sandbox is stopped at the end, also after a failure, unless kept."""
    started = time.monotonic()
    root = find_root()
    ctx = Context(
        root=root,
        env_file=root / ".sandbox" / "sandbox.env",
        logs=root / ".sandbox" / "demo-logs",
        base_env={
            LOOKBACK_SETTING: os.environ.get(LOOKBACK_SETTING, "0"),
            **{k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))},
        },
    )
    install(ctx)
    ok = False
    try:
        env = start_sandbox(ctx, invoices)
        conn = snowflake_connect(env)
        try:
            reset_schema(conn, env)
            database, schema = (
                env[f"TARGET_SNOWFLAKE_FINANCE_{k}"] for k in ("DATABASE", "SCHEMA")
            )
            say(f"    emptied Snowflake schema {database}.{schema} (sandbox only): a fresh start")
            ok, first_seconds = first_run(ctx, conn)
            ok = second_run(ctx, conn, first_seconds) and ok
        finally:
            conn.close()
    finally:
        stop_sandbox(ctx, keep)
    verdict = "source and warehouse agree." if ok else "MISMATCH between Epicor and Snowflake."
    say(f"\nDemo finished in {time.monotonic() - started:.0f}s: {verdict}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The end-to-end demo behind `make demo`.")
    parser.add_argument(
        "--invoices", type=int, default=int(os.environ.get("DEMO_INVOICES", "1000")),
        help="AP invoices the emulator generates (env DEMO_INVOICES, default 1000)",
    )  # fmt: skip
    parser.add_argument(
        "--keep", action="store_true", default=os.environ.get("KEEP_SANDBOX", "") not in ("", "0"),
        help="leave the sandbox running (env KEEP_SANDBOX=1)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # Meltano writes each plugin's config (secrets included) under .meltano/run/ during a run:
    # owner-only, however the demo was started.
    os.umask(0o077)
    try:
        return demo(args.invoices, args.keep)
    except DemoError as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main())
