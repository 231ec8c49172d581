"""Activity simulator: users entering invoices, POs and payments through the BO write methods."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from finance_sandbox.epicor.ap_invoices import APInvoices
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.generator import COMPANIES
from finance_sandbox.epicor.payments import Payments
from finance_sandbox.epicor.purchase_orders import PurchaseOrders

COUNT_KEYS = (
    "new_invoices",
    "changed_invoices",
    "posted_invoices",
    "new_pos",
    "changed_pos",
    "new_payments",
)


class Simulator:
    """Deterministic for the emulator's seed and the number of runs so far."""

    def __init__(
        self, seed: int, invoices: APInvoices, pos: PurchaseOrders, payments: Payments
    ) -> None:
        self.seed = seed
        self.invoices = invoices
        self.pos = pos
        self.payments = payments
        self.runs = 0

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        """One round of activity; returns the keys it touched."""
        company = str(body.get("company") or "EPIC06")
        if company not in COMPANIES:
            raise EpicorError(400, f"Unknown company '{company}' for the activity simulator.")
        counts = {k: int(body.get(k) or 0) for k in COUNT_KEYS}
        self.runs += 1
        rng = random.Random(f"{self.seed}:activity:{self.runs}")
        summary: dict[str, Any] = {"company": company, "run": self.runs}
        summary["new_invoices"] = [
            self._new_invoice(company, rng) for _ in range(counts["new_invoices"])
        ]
        summary["changed_invoices"] = self._change_invoices(
            company, rng, counts["changed_invoices"]
        )
        summary["posted_invoices"] = self._post_invoices(company, rng, counts["posted_invoices"])
        summary["new_pos"] = [self._new_po(company, rng) for _ in range(counts["new_pos"])]
        summary["changed_pos"] = self._change_pos(company, rng, counts["changed_pos"])
        summary["new_payments"] = self._new_payments(company, rng, counts["new_payments"])
        return summary

    def _pick(
        self,
        table: str,
        where: str,
        args: list[Any],
        rng: random.Random,
        n: int,
        *,
        columns: str,
        accept: str = "",
    ) -> list[Any]:
        """n distinct random rows: rowids come from an index (`where`), rows are read one by one
        and kept when `accept` (SQL) holds, so picking stays fast at 1M invoices."""
        conn = self.invoices.s.conn
        ids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} WHERE {where}", args)]
        ids.sort()
        picked: list[Any] = []
        tried: set[int] = set()
        check = f" AND {accept}" if accept else ""
        while len(picked) < n and len(tried) < len(ids):
            i = rng.randrange(len(ids))
            if i in tried:
                continue
            tried.add(i)
            row = conn.execute(
                f"SELECT {columns} FROM {table} WHERE rowid = ?{check}", [ids[i]]
            ).fetchone()
            if row is not None:
                picked.append(row)
        return picked

    def _vendor(self, company: str, rng: random.Random) -> int:
        return int(
            self._pick(
                "Vendor", "Company = ? AND Inactive = 0", [company], rng, 1, columns="VendorNum"
            )[0][0]
        )

    def _new_invoice(self, company: str, rng: random.Random) -> list[Any]:
        vendor = self._vendor(company, rng)
        group = "SIMAP"
        ds = self.invoices.get_new_header(company, {"cGroupID": group, "ds": {}})["parameters"][
            "ds"
        ]
        head = ds["APInvHed"][-1]
        invoice_num = f"SIM-{self.runs}-{rng.randrange(10**6, 10**7)}"
        head.update(
            VendorNum=vendor,
            InvoiceNum=invoice_num,
            InvoiceDate=self.invoices.s.today()[:10],
            Description="Simulated invoice",
            ScrDocInvoiceVendorAmt=Decimal(0),
        )
        self.invoices.update(company, {"ds": ds, "cGroupID": group}, master=False)
        for _ in range(rng.randrange(1, 4)):
            line_ds = self.invoices.get_new_misc_line(
                company, {"cInvoiceNum": invoice_num, "iVendorNum": vendor, "ds": {}}
            )["parameters"]["ds"]
            line = line_ds["APInvDtl"][-1]
            line.update(
                DocUnitCost=Decimal(rng.randrange(1000, 500_000)) / 100,
                ScrVendorQty=Decimal(rng.randrange(1, 10)),
                Description="Simulated line",
            )
            self.invoices.update(
                company,
                {"ds": line_ds, "cGroupID": group, "cTableName": "APInvDtl"},
                master=True,
            )
        return [vendor, invoice_num]

    def _change_invoices(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """A line change on an unposted invoice (its header is rewritten by UpdateMaster)."""
        if n <= 0:
            return []
        picked = self._pick(
            "APInvHed",
            "Company = ? AND Posted = 0",
            [company],
            rng,
            n,
            columns="VendorNum, InvoiceNum",
            accept="EXISTS (SELECT 1 FROM APInvDtl d WHERE d.Company = APInvHed.Company "
            "AND d.VendorNum = APInvHed.VendorNum AND d.InvoiceNum = APInvHed.InvoiceNum)",
        )
        changed = []
        for vendor, invoice_num in picked:
            ds = self.invoices.get_by_id(company, {"vendorNum": vendor, "invoiceNum": invoice_num})[
                "returnObj"
            ]
            line = ds["APInvDtl"][rng.randrange(len(ds["APInvDtl"]))]
            line["VendorQty"] = Decimal(line["VendorQty"]) + 1
            line["ScrVendorQty"] = line["VendorQty"]
            line["RowMod"] = "U"
            self.invoices.update(
                company,
                {"ds": {"APInvDtl": [line]}, "cGroupID": line["GroupID"], "cTableName": "APInvDtl"},
                master=True,
            )
            changed.append([vendor, invoice_num])
        return changed

    def _post_invoices(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """Post unposted invoices (what `Erp.PROC.APInvoicePostSvc` does): they become payable."""
        if n <= 0:
            return []
        picked = self._pick(
            "APInvHed",
            "Company = ? AND Posted = 0",
            [company],
            rng,
            n,
            columns="VendorNum, InvoiceNum",
            accept="InvoiceAmt <> 0",
        )
        posted = []
        for vendor, invoice_num in picked:
            with self.invoices.s.transaction():
                self.invoices.post(company, vendor, invoice_num)
            posted.append([vendor, invoice_num])
        return posted

    def _new_po(self, company: str, rng: random.Random) -> int:
        vendor = self._vendor(company, rng)
        ds = self.pos.get_new_header(company)
        ds["POHeader"][0].update(VendorNum=vendor, CommentText="Simulated PO")
        po_num = self.pos.update(company, ds)[0]
        for _ in range(rng.randrange(1, 4)):
            part = self._pick("Part", "Company = ?", [company], rng, 1, columns="PartNum")[0][0]
            line_ds = self.pos.get_new_detail(company, po_num)
            line_ds["PODetail"][0].update(
                PartNum=part,
                XOrderQty=Decimal(rng.randrange(1, 100)),
                DocUnitCost=Decimal(rng.randrange(100, 100_000)) / 100,
            )
            self.pos.update(company, line_ds)
        return po_num

    def _change_pos(self, company: str, rng: random.Random, n: int) -> list[int]:
        if n <= 0:
            return []
        picked = self._pick(
            "PODetail",
            "Company = ? AND OpenLine = 1",
            [company],
            rng,
            n,
            columns="PONUM, POLine, OrderQty",
        )
        changed = []
        for po_num, line, qty in picked:
            ds = {
                "POHeader": [],
                "PODetail": [
                    {
                        "Company": company,
                        "PONUM": po_num,
                        "POLine": line,
                        "XOrderQty": Decimal(qty) / 10**8 + 1,
                        "RowMod": "U",
                    }
                ],
            }
            self.pos.update(company, ds)
            changed.append(po_num)
        return changed

    def _new_payments(self, company: str, rng: random.Random, n: int) -> list[int]:
        if n <= 0:
            return []
        picked = self._pick(
            "APInvHed",
            "Company = ? AND Posted = 1 AND OpenPayable = 1",
            [company],
            rng,
            n,
            columns="VendorNum",
            accept="DebitMemo = 0 AND InvoiceBal > 0",
        )
        heads = []
        for vendor in dict.fromkeys(v for (v,) in picked):
            open_invoices = self.invoices.s.conn.execute(
                "SELECT InvoiceNum FROM APInvHed WHERE Company = ? AND VendorNum = ? "
                "AND Posted = 1 "
                "AND DebitMemo = 0 AND InvoiceBal > 0 ORDER BY InvoiceNum LIMIT 2",
                [company, vendor],
            ).fetchall()
            ds = self.payments.get_new(company, vendor)
            ds["APTran"] = [{"InvoiceNum": inv, "RowMod": "A"} for (inv,) in open_invoices]
            heads.append(self.payments.update(company, ds))
        return heads
