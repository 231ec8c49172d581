"""Activity simulator: users entering invoices, POs and payments through the BO write methods."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from finance_sandbox.epicor import ap_charges
from finance_sandbox.epicor.ap_invoices import APInvoices
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.generator import COMPANIES
from finance_sandbox.epicor.payments import Payments
from finance_sandbox.epicor.purchase_orders import PurchaseOrders

# Kinds of activity, each a count per round (sandbox/README.md, "Activity simulator").
COUNT_KEYS = (
    "new_invoices",
    "changed_invoices",
    "header_edits",
    "line_edits",
    "allocation_recodes",
    "misc_charges",
    "posted_invoices",
    "new_pos",
    "changed_pos",
    "po_receipts",
    "new_payments",
    "new_unposted_payments",
    "posted_payments",
    "deleted_invoices",
    "deleted_invoice_lines",
    "deleted_po_lines",
    "deleted_payments",
    "late_invoices",
)
UNPOSTED_WITH_LINES = (
    "EXISTS (SELECT 1 FROM APInvDtl d WHERE d.Company = APInvHed.Company "
    "AND d.VendorNum = APInvHed.VendorNum AND d.InvoiceNum = APInvHed.InvoiceNum)"
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
        summary["header_edits"] = self._header_edits(company, rng, counts["header_edits"])
        summary["line_edits"] = self._line_edits(company, rng, counts["line_edits"])
        summary["allocation_recodes"] = self._recodes(company, rng, counts["allocation_recodes"])
        summary["misc_charges"] = self._misc_charges(company, rng, counts["misc_charges"])
        summary["po_receipts"] = self._receipts(company, rng, counts["po_receipts"])
        summary["new_unposted_payments"] = self._new_payments(
            company, rng, counts["new_unposted_payments"], posted=False
        )
        summary["posted_payments"] = self._post_payments(company, rng, counts["posted_payments"])
        summary["deleted_invoices"] = self._delete_invoices(
            company, rng, counts["deleted_invoices"]
        )
        summary["deleted_invoice_lines"] = self._delete_invoice_lines(
            company, rng, counts["deleted_invoice_lines"]
        )
        summary["deleted_po_lines"] = self._delete_po_lines(
            company, rng, counts["deleted_po_lines"]
        )
        summary["deleted_payments"] = self._delete_payments(
            company, rng, counts["deleted_payments"]
        )
        late_s = body.get("late_seconds", 90)
        summary["late_invoices"] = []
        for _ in range(counts["late_invoices"]):
            with self.invoices.s.held(None if late_s is None else float(late_s)):
                summary["late_invoices"].append(self._new_invoice(company, rng))
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
            accept=UNPOSTED_WITH_LINES,
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
        """Header and lines in one Update, as PO Entry saves a new order."""
        vendor = self._vendor(company, rng)
        ds = self.pos.get_new_header(company)
        ds["POHeader"][0].update(VendorNum=vendor, CommentText="Simulated PO")
        for line_no in range(1, rng.randrange(2, 5)):
            part = self._pick("Part", "Company = ?", [company], rng, 1, columns="PartNum")[0][0]
            line = self.pos.get_new_detail(company, 0)["PODetail"][0]
            line.update(
                PONUM=0,
                POLine=line_no,
                PartNum=part,
                XOrderQty=Decimal(rng.randrange(1, 100)),
                DocUnitCost=Decimal(rng.randrange(100, 100_000)) / 100,
            )
            ds["PODetail"].append(line)
        return self.pos.update(company, ds)[0]

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

    def _new_payments(
        self, company: str, rng: random.Random, n: int, *, posted: bool = True
    ) -> list[int]:
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
            heads.append(self.payments.update(company, ds, posted=posted))
        return heads

    # -- writes below the header and deletions ------------------------------------------------

    def _unposted(self, company: str, rng: random.Random, n: int) -> list[Any]:
        if n <= 0:
            return []
        return self._pick(
            "APInvHed",
            "Company = ? AND Posted = 0",
            [company],
            rng,
            n,
            columns="VendorNum, InvoiceNum",
            accept=UNPOSTED_WITH_LINES,
        )

    def _header_edits(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """A header-only change (description): only APInvHed is written."""
        done = []
        for vendor, number in self._unposted(company, rng, n):
            row = {
                "VendorNum": vendor,
                "InvoiceNum": number,
                "Description": f"Edited {self.runs}-{rng.randrange(10**6)}",
                "RowMod": "U",
            }
            self.invoices.update(company, {"ds": {"APInvHed": [row]}}, master=False)
            done.append([vendor, number])
        return done

    def _line_edits(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """A line change that leaves amounts alone (description): only APInvDtl is written."""
        done = []
        for vendor, number in self._unposted(company, rng, n):
            lines = self.invoices.s.select(
                "APInvDtl", {"Company": company, "VendorNum": vendor, "InvoiceNum": number}
            )
            line = lines[rng.randrange(len(lines))]
            row = {
                "VendorNum": vendor,
                "InvoiceNum": number,
                "InvoiceLine": line["InvoiceLine"],
                "Description": f"Line edited {self.runs}-{rng.randrange(10**6)}",
                "RowMod": "U",
            }
            self.invoices.update(
                company, {"ds": {"APInvDtl": [row]}, "cTableName": "APInvDtl"}, master=True
            )
            done.append([vendor, number, line["InvoiceLine"]])
        return done

    def _recodes(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """A G/L re-code of one allocation of an unposted invoice: only APInvExp is written."""
        done = []
        accounts = [
            a
            for (a,) in self.invoices.s.conn.execute(
                "SELECT DISTINCT e.GLAccount FROM APInvExp e JOIN GLAccount g "
                "ON g.Company = e.Company AND g.GLAccount1 = e.GLAccount AND g.Active = 1 "
                "WHERE e.Company = ? ORDER BY 1",
                [company],
            )
        ]
        for vendor, number in self._unposted(company, rng, n):
            exps = self.invoices.s.select(
                "APInvExp", {"Company": company, "VendorNum": vendor, "InvoiceNum": number}
            )
            if not exps:
                continue
            exp = exps[rng.randrange(len(exps))]
            choices = [a for a in accounts if a != exp["GLAccount"]]
            row = {
                "VendorNum": vendor,
                "InvoiceNum": number,
                "InvoiceLine": exp["InvoiceLine"],
                "InvExpSeq": exp["InvExpSeq"],
                "GLAccount": choices[rng.randrange(len(choices))],
                "RowMod": "U",
            }
            self.invoices.update(company, {"ds": {"APInvExp": [row]}}, master=False)
            done.append([vendor, number, exp["InvoiceLine"], exp["InvExpSeq"]])
        return done

    def _misc_charges(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """A freight charge added to unposted invoices (GetNewHdrCharge -> UpdateMaster): the
        charge, its header-level distribution and the header (total) are written."""
        done = []
        for vendor, number in self._unposted(company, rng, n):
            ds = ap_charges.get_new(
                self.invoices, company, {"cInvoiceNum": number, "iVendorNum": vendor, "ds": {}}
            )["parameters"]["ds"]
            charge = ds[ap_charges.TABLE][-1]
            charge["ScrDocMiscAmt"] = Decimal(rng.randrange(2_500, 250_000)) / 1000
            self.invoices.update(company, {"ds": ds, "cTableName": ap_charges.TABLE}, master=True)
            done.append([vendor, number, charge["MscNum"]])
        return done

    def _receipts(self, company: str, rng: random.Random, n: int) -> list[list[int]]:
        """Receipt of whole open PO lines: only PODetail is written."""
        if n <= 0:
            return []
        picked = self._pick(
            "PODetail", "Company = ? AND OpenLine = 1", [company], rng, n, columns="PONUM, POLine"
        )
        for po_num, line in picked:
            self.pos.receive(company, po_num, line)
        return [[po, line] for po, line in picked]

    def _delete_invoices(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """Delete unposted invoices (Update with the header's RowMod "D")."""
        done = []
        for vendor, number in self._unposted(company, rng, n):
            row = {"VendorNum": vendor, "InvoiceNum": number, "RowMod": "D"}
            self.invoices.update(company, {"ds": {"APInvHed": [row]}}, master=False)
            done.append([vendor, number])
        return done

    def _delete_invoice_lines(self, company: str, rng: random.Random, n: int) -> list[list[Any]]:
        """Delete one line (with its allocations) of unposted invoices."""
        done = []
        for vendor, number in self._unposted(company, rng, n):
            lines = self.invoices.s.select(
                "APInvDtl", {"Company": company, "VendorNum": vendor, "InvoiceNum": number}
            )
            line = lines[rng.randrange(len(lines))]["InvoiceLine"]
            row = {"VendorNum": vendor, "InvoiceNum": number, "InvoiceLine": line, "RowMod": "D"}
            self.invoices.update(company, {"ds": {"APInvDtl": [row]}}, master=False)
            done.append([vendor, number, line])
        return done

    def _delete_po_lines(self, company: str, rng: random.Random, n: int) -> list[list[int]]:
        """Delete PO lines nothing was received on yet."""
        if n <= 0:
            return []
        picked = self._pick(
            "PODetail", "Company = ? AND OpenLine = 1", [company], rng, n, columns="PONUM, POLine"
        )
        for po_num, line in picked:
            row = {"Company": company, "PONUM": po_num, "POLine": line, "RowMod": "D"}
            self.pos.update(company, {"POHeader": [], "PODetail": [row]})
        return [[po, line] for po, line in picked]

    def _post_payments(self, company: str, rng: random.Random, n: int) -> list[int]:
        """Post checks still in entry (the group posting process)."""
        if n <= 0:
            return []
        picked = self._pick(
            "CheckHed", "Company = ? AND Posted = 0", [company], rng, n, columns="HeadNum"
        )
        heads = [head for (head,) in picked]
        if heads:
            self.payments.post(company, heads)
        return heads

    def _delete_payments(self, company: str, rng: random.Random, n: int) -> list[int]:
        """Delete payments still in entry (unposted) with their lines."""
        if n <= 0:
            return []
        picked = self._pick(
            "CheckHed", "Company = ? AND Posted = 0", [company], rng, n, columns="HeadNum"
        )
        for (head,) in picked:
            self.payments.update(company, {"CheckHed": [{"HeadNum": head, "RowMod": "D"}]})
        return [head for (head,) in picked]
