"""Pages per second of the Epicor emulator: 100-invoice pages, lines and allocations expanded.

Run: `uv run python benchmarks/emulator_pages.py [--invoices N] [--pages P] [--data-dir DIR]`.
A plain `requests` loop over real HTTP against a subprocess emulator, paging with $top/$skip
ordered by the change column, as the tap does. Two shapes are timed: full rows (every column,
the worst case) and a tap-like `$select` of the finance columns.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import requests
from finance_sandbox.testing.epicor import EpicorSandbox

EXPAND_FULL = "APInvDtls($expand=APInvExps)"
SELECT = (
    "Company,VendorNum,InvoiceNum,InvoiceDate,DueDate,ApplyDate,InvoiceAmt,DocInvoiceAmt,"
    "InvoiceBal,DocInvoiceBal,CurrencyCode,ExchangeRate,Posted,OpenPayable,DebitMemo,TermsCode,"
    "GroupID,FiscalYear,FiscalPeriod,Description,VendorNumVendorID,VendorNumName,ChangeDate,"
    "SysRevID,UpdatedOn"
)
EXPAND_SELECT = (
    "APInvDtls($select=Company,VendorNum,InvoiceNum,InvoiceLine,LineType,PartNum,PONum,POLine,"
    "Description,VendorQty,DocUnitCost,UnitCost,ExtCost,DocExtCost,GLAccount,ChangeDate,SysRevID;"
    "$expand=APInvExps($select=Company,VendorNum,InvoiceNum,InvoiceLine,InvExpSeq,ExpAmt,"
    "DocExpAmt,GLAccount,GLAccountDesc,SysRevID))"
)


def run(sb: EpicorSandbox, pages: int, params: dict[str, str]) -> tuple[float, int, int]:
    """(pages per second, invoices read, bytes read) for `pages` consecutive pages."""
    url = sb.odata_url("Erp.BO.APInvoiceSvc", "APInvoices")
    session = requests.Session()
    session.auth = ("integration", "sandbox-password")
    session.headers.update({"x-api-key": "sandbox-api-key", "Accept": "application/json"})
    read = size = 0
    timings = []
    for _ in range(pages):
        started = time.perf_counter()
        resp = session.get(url, params={**params, "$top": "100", "$skip": str(read)}, timeout=120)
        resp.raise_for_status()
        rows = resp.json()["value"]
        timings.append(time.perf_counter() - started)
        if not rows:
            break
        read += len(rows)
        size += len(resp.content)
    return len(timings) / sum(timings), read, size // max(len(timings), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--data-dir", type=Path, default=Path(".sandbox/epicor-bench"))
    args = parser.parse_args()
    started = time.perf_counter()
    sb = EpicorSandbox(args.data_dir, invoices=args.invoices, updated_on=True)
    print(f"emulator up with {args.invoices} invoices in {time.perf_counter() - started:.1f}s")
    order = {"$orderby": "UpdatedOn,VendorNum,InvoiceNum"}
    try:
        for label, params in (
            ("full rows (every column)", {**order, "$expand": EXPAND_FULL}),
            ("tap-like $select", {**order, "$select": SELECT, "$expand": EXPAND_SELECT}),
        ):
            results = [run(sb, args.pages, params) for _ in range(3)]
            rate = statistics.median(r[0] for r in results)
            print(
                f"{label}: {rate:.1f} pages/s ({rate * 100:.0f} invoices/s with lines and "
                f"allocations), {results[0][2] / 1024:.0f} KiB per page, "
                f"{results[0][1]} invoices per run"
            )
    finally:
        sb.stop()


if __name__ == "__main__":
    main()
