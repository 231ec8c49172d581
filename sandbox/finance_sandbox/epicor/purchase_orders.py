"""`Erp.BO.POSvc` writes as the simulator makes them: GetNewPOHeader, GetNewPODetail, Update."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from finance_sandbox.epicor.generator import CURRENCIES, TERMS, round_div
from finance_sandbox.epicor.store import Store, scaled
from finance_sandbox.epicor.writes import RATE_ONE, bo_error, ds_rows, duplicate


class PurchaseOrders:
    """`Erp.BO.POSvc`: GetNewPOHeader / GetNewPODetail / Update, as the simulator uses them."""

    def __init__(self, store: Store) -> None:
        self.s = store

    def get_new_header(self, company: str) -> dict[str, Any]:
        row = self.s.ds_row("POHeader", None, "A")
        row.update(Company=company, OrderDate=self.s.today(), OpenOrder=True, POType="STD")
        return {"POHeader": [row], "PODetail": []}

    def get_new_detail(self, company: str, po_num: int) -> dict[str, Any]:
        line = self.s.conn.execute(
            "SELECT COALESCE(MAX(POLine), 0) + 1 FROM PODetail WHERE Company = ? AND PONUM = ?",
            [company, po_num],
        ).fetchone()[0]
        row = self.s.ds_row("PODetail", None, "A")
        row.update(Company=company, PONUM=po_num, POLine=line, OpenLine=True, CostPerCode="E")
        return {"POHeader": [], "PODetail": [row]}

    def update(self, company: str, ds: dict[str, Any]) -> list[int]:
        """Apply RowMod A/U/D rows. Line writes leave POHeader alone (its totals are set when
        the header itself is written) unless the `rewrite_headers` option is on; lines added
        together with a new header (PONUM 0) belong to it."""
        touched: list[int] = []
        added: list[int] = []
        with self.s.transaction():
            for row in ds_rows(ds, "POHeader"):
                if row.get("RowMod") == "A":
                    added.append(self._add_header(company, row))
            for given in ds_rows(ds, "PODetail"):
                mod = given.get("RowMod")
                row = given
                if added and not (given.get("PONUM") or given.get("PONum")):
                    row = {**given, "PONUM": added[-1]}
                if mod == "D":
                    touched.append(self._delete_line(company, row))
                elif mod in ("A", "U"):
                    touched.append(self._line(company, row, str(mod)))
            for po in dict.fromkeys(added):
                self._recompute(company, po)
            if self.s.rewrite_headers:
                for po in dict.fromkeys(touched):
                    if po not in added:
                        self._recompute(company, po, force=True)
        return added + touched

    def receive(self, company: str, po_num: int, po_line: int) -> None:
        """A receipt of the whole line (Receipt Entry): the line closes; only PODetail is written
        (PORel and RcvDtl are not modelled)."""
        key = {"Company": company, "PONUM": po_num, "POLine": po_line}
        with self.s.transaction():
            line = self.s.get("PODetail", key)
            if line is None or not line["OpenLine"]:
                raise bo_error(f"PO {po_num} line {po_line} is not open.", "PODetail", "OpenLine")
            self.s.update(
                "PODetail", key, {"OpenLine": 0, "ChangedBy": "integration",
                                  "ChangeDate": self.s.today()}
            )  # fmt: skip
            if self.s.rewrite_headers:
                self._recompute(company, po_num, force=True)

    def _delete_line(self, company: str, row: dict[str, Any]) -> int:
        """Only a line nothing was received on (still open) can be deleted."""
        po_num = int(row.get("PONUM") or row.get("PONum") or 0)
        key = {"Company": company, "PONUM": po_num, "POLine": int(row.get("POLine") or 0)}
        line = self.s.get("PODetail", key)
        if line is None:
            raise bo_error(f"PO {po_num} line {key['POLine']} was not found.", "PODetail", "POLine")
        if not line["OpenLine"]:
            raise bo_error(
                f"PO {po_num} line {key['POLine']} has receipts or is closed and cannot be "
                "deleted.",
                "PODetail",
                "OpenLine",
            )
        self.s.delete("PODetail", key)
        return po_num

    def _add_header(self, company: str, row: dict[str, Any]) -> int:
        vendor = self.s.get(
            "Vendor", {"Company": company, "VendorNum": int(row.get("VendorNum") or 0)}
        )
        if vendor is None:
            raise bo_error("Supplier is not valid.", "POHeader", "VendorNum")
        # A sequence, not MAX()+1: a PO held in a long transaction keeps its number.
        po_num = int(row.get("PONum") or 0) or self.s.next_number(
            "PONum", "POHeader", "PONum", company, floor=1000
        )
        if self.s.get("POHeader", {"Company": company, "PONum": po_num}) is not None:
            raise duplicate(f"PO {po_num} already exists.", "POHeader")
        today = self.s.today()
        due = (datetime.fromisoformat(today) + timedelta(days=14)).strftime("%Y-%m-%dT00:00:00")
        self.s.insert(
            "POHeader",
            {
                "Company": company, "PONum": po_num, "OpenOrder": 1, "EntryPerson": "integration",
                "OrderDate": today, "FOB": "Origin", "ShipViaCode": "UPS",
                "TermsCode": vendor["TermsCode"], "BuyerID": "INTEG", "BuyerIDName": "Integration",
                "VendorNum": vendor["VendorNum"], "VendorVendorID": vendor["VendorID"],
                "VendorName": vendor["Name"], "CurrencyCode": vendor["CurrencyCode"],
                "ExchangeRate": CURRENCIES[vendor["CurrencyCode"]][1], "Approve": 1,
                "ApprovalStatus": "A", "ApprovedBy": "integration", "ApprovedDate": today,
                "Confirmed": 0, "POType": "STD", "DueDate": due, "PromiseDate": due,
                "CommentText": str(row.get("CommentText") or ""),
                "TermsCodeDescription": TERMS.get(vendor["TermsCode"], ("", 0))[0],
                "ChangedBy": "integration", "ChangeDate": today,
            },
        )  # fmt: skip
        return po_num

    def _line(self, company: str, row: dict[str, Any], mod: str) -> int:
        po_num = int(row.get("PONUM") or row.get("PONum") or 0)
        head = self.s.get("POHeader", {"Company": company, "PONum": po_num})
        if head is None:
            raise bo_error(f"PO {po_num} was not found.", "PODetail", "PONUM")
        key = {"Company": company, "PONUM": po_num, "POLine": int(row.get("POLine") or 0)}
        existing = self.s.get("PODetail", key)
        if (mod == "A") == (existing is not None):
            raise bo_error(
                f"PO line {key['POLine']} RowMod {mod} does not match the data.",
                "PODetail",
                "POLine",
            )
        base = existing or {}
        qty = scaled(row.get("XOrderQty") or row.get("OrderQty") or 0, 8) or int(
            base.get("OrderQty") or 0
        )
        cost = scaled(row.get("DocUnitCost") or 0, 5) or int(base.get("DocUnitCost") or 0)
        part = str(row.get("PartNum") or base.get("PartNum") or "")
        part_row = self.s.get("Part", {"Company": company, "PartNum": part})
        if part_row is None:
            raise bo_error(f"Part '{part}' is not valid.", "PODetail", "PartNum")
        rate = int(head["ExchangeRate"])
        doc_ext = round_div(qty * cost, 10**10)
        values = {
            "OpenLine": 1, "VoidLine": 0, "LineDesc": part_row["PartDescription"], "PartNum": part,
            "VenPartNum": f"V-{part}", "ClassID": part_row["ClassID"], "OrderQty": qty,
            "XOrderQty": qty, "IUM": part_row["IUM"], "PUM": part_row["PUM"],
            "UnitCost": round_div(cost * rate, RATE_ONE), "DocUnitCost": cost, "CostPerCode": "E",
            "ExtCost": round_div(doc_ext * rate, RATE_ONE), "DocExtCost": doc_ext,
            "DueDate": head["DueDate"], "VendorNum": head["VendorNum"], "Taxable": 1,
            "TaxCatID": "TAXABLE", "CurrencyCode": head["CurrencyCode"],
            "PartNumPartDescription": part_row["PartDescription"], "ChangedBy": "integration",
            "ChangeDate": self.s.today(),
        }  # fmt: skip
        if existing is None:
            self.s.insert("PODetail", {**key, **values})
        else:
            self.s.update("PODetail", key, values)
        return po_num

    def _recompute(self, company: str, po_num: int, *, force: bool = False) -> None:
        total, doc_total = self.s.conn.execute(
            "SELECT COALESCE(SUM(ExtCost), 0), COALESCE(SUM(DocExtCost), 0) FROM PODetail "
            "WHERE Company = ? AND PONUM = ?",
            [company, po_num],
        ).fetchone()
        self.s.update(
            "POHeader",
            {"Company": company, "PONum": po_num},
            {"TotalOrder": total, "DocTotalOrder": doc_total, "ApprovedAmount": total,
             "ChangedBy": "integration", "ChangeDate": self.s.today()},
            force=force,
        )  # fmt: skip
