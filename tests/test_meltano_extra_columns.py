"""Through Meltano: `meltano select --list --all` shows every column Epicor serves, the curated ones
selected, and a column added to the tap's select list lands in Snowflake with Epicor's values."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

from e2e_helpers import Meltano, Sandbox, default_select
from finance_sandbox.demo import truth_rows, warehouse_rows

INVOICES = 20

ROOT = Path(__file__).resolve().parent.parent
CASE = "extracols"
STREAMS = ("ap_invoices", "ap_invoice_lines")
# Two header columns outside the curated set (a string and a decimal(18,3) UD field) and one
# child column, read through $expand.
EXTRAS = (
    "ap_invoices.TermsCodeDescription",
    "ap_invoices.ApprovedAmt_c",
    "ap_invoice_lines.PartNumPartDescription",
)


def test_select_list_all_shows_every_column_and_selects_the_curated_ones(
    meltano: Meltano,
) -> None:
    done = subprocess.run(
        meltano.command("select", "tap-epicor-kinetic", "--list", "--all"),
        cwd=ROOT,
        env=meltano.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = {}
    for line in done.stdout.splitlines():
        state, _, pattern = line.strip().partition("] ")
        if pattern:
            listed[pattern] = state.strip("[ ")
    assert listed["ap_invoices.InvoiceAmt"] == "selected"
    assert listed["ap_invoices.InvoiceNum"] == "automatic"
    for column in ("Character01", "ShortChar01", "TermsCodeDescription", "ApprovedAmt_c"):
        assert listed[f"ap_invoices.{column}"] == "excluded", column
    assert listed["ap_invoice_lines.PartNumPartDescription"] == "excluded"
    assert sum(1 for p in listed if p.startswith("ap_invoices.")) > 500


def test_a_selected_extra_column_lands_with_epicors_values(
    meltano: Meltano, sandbox: Sandbox
) -> None:
    # What `meltano select tap-epicor-kinetic ap_invoices ApprovedAmt_c` (and the others) append
    # to meltano.yml, given here through Meltano's variable for the `select` extra.
    curated = [p for p in default_select() if p.split(".", 1)[0] in STREAMS]
    settings = {
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": "EXTRACOLS",
        "TAP_EPICOR_KINETIC_START_DATE": "2000-01-01T00:00:00Z",
        "TAP_EPICOR_KINETIC__SELECT": json.dumps([*curated, *EXTRAS]),
    }
    done = meltano.run(CASE, "run.log", settings)
    assert done.returncode == 0, done.stderr[-4000:]

    conn = sandbox.connect("EXTRACOLS")
    try:
        invoices = warehouse_rows(conn, "ap_invoices")
        lines = warehouse_rows(conn, "ap_invoice_lines")
        cursor = conn.cursor()
        cursor.execute(
            "SELECT NUMERIC_PRECISION, NUMERIC_SCALE FROM INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_NAME = 'AP_INVOICES' AND COLUMN_NAME = 'APPROVEDAMT_C'"
        )
        assert cursor.fetchall() == [(18, 3)]
    finally:
        conn.close()
    # Unselected columns are neither requested nor created.
    assert "VENDORNUMCITY" not in invoices[0]
    assert "CHARACTER01" not in invoices[0]

    source = {
        (r["VENDORNUM"], r["INVOICENUM"]): r
        for r in truth_rows(sandbox.url, "ap_invoices", sandbox.company)
    }
    assert len(invoices) == len(source)
    for row in invoices:
        src = source[(row["VENDORNUM"], row["INVOICENUM"])]
        assert row["TERMSCODEDESCRIPTION"] == src["TERMSCODEDESCRIPTION"]
        assert Decimal(row["APPROVEDAMT_C"]) == Decimal(str(src["APPROVEDAMT_C"]))
    assert any(Decimal(r["APPROVEDAMT_C"]) for r in invoices)
    line_source = {
        (r["VENDORNUM"], r["INVOICENUM"], r["INVOICELINE"]): r
        for r in truth_rows(sandbox.url, "ap_invoice_lines", sandbox.company)
    }
    assert len(lines) == len(line_source)
    for row in lines:
        src = line_source[(row["VENDORNUM"], row["INVOICENUM"], row["INVOICELINE"])]
        assert row["PARTNUMPARTDESCRIPTION"] == src["PARTNUMPARTDESCRIPTION"]
    assert any(r["PARTNUMPARTDESCRIPTION"] for r in lines)
