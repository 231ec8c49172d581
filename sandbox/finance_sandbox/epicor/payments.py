"""`Erp.BO.PaymentEntrySvc` writes: a check (CheckHed) with APTran lines paying posted invoices."""

from __future__ import annotations

from datetime import date
from typing import Any

from finance_sandbox.epicor.ap_invoices import APInvoices
from finance_sandbox.epicor.generator import CURRENCIES, round_div
from finance_sandbox.epicor.store import Store, scaled
from finance_sandbox.epicor.writes import BANKS, RATE_ONE, bo_error, ds_rows


class Payments:
    """`Erp.BO.PaymentEntrySvc`: a check (CheckHed) with APTran lines paying posted invoices."""

    def __init__(self, store: Store, invoices: APInvoices) -> None:
        self.s = store
        self.invoices = invoices

    def get_new(self, company: str, vendor_num: int) -> dict[str, Any]:
        row = self.s.ds_row("CheckHed", None, "A")
        row.update(Company=company, VendorNum=vendor_num, CheckDate=self.s.today(), CheckSrc="1")
        return {"CheckHed": [row], "APTran": []}

    def update(self, company: str, ds: dict[str, Any], *, posted: bool = True) -> int:
        """Add one check with its applications, or delete unposted checks (RowMod "D").

        A posted check pays its invoices at once (their balances and headers change); an
        unposted one is still in entry and leaves the invoices alone until it is posted."""
        deletes = [r for r in ds_rows(ds, "CheckHed") if r.get("RowMod") == "D"]
        if deletes:
            with self.s.transaction():
                for row in deletes:
                    self._delete(company, int(row.get("HeadNum") or 0))
            return int(deletes[0].get("HeadNum") or 0)
        heads = [r for r in ds_rows(ds, "CheckHed") if r.get("RowMod") == "A"]
        if len(heads) != 1:
            raise bo_error(
                "Exactly one new CheckHed row (RowMod A) is expected.", "CheckHed", "RowMod"
            )
        with self.s.transaction():
            head_row = heads[0]
            vendor = self.s.get(
                "Vendor", {"Company": company, "VendorNum": int(head_row.get("VendorNum") or 0)}
            )
            if vendor is None:
                raise bo_error("Supplier is not valid.", "CheckHed", "VendorNum")
            # Database sequences, as in Epicor (CheckHedSeq): a check held in a long
            # transaction must not hand its HeadNum to the next check.
            head_num = self.s.next_number("CheckHedSeq", "CheckHed", "HeadNum", company)
            check_num = self.s.next_number("CheckNum", "CheckHed", "CheckNum", company)
            today = self.s.today()
            day = date.fromisoformat(today[:10])
            bank = "MAINOP" if vendor["CurrencyCode"] == "USD" else "FXOP"
            total = doc_total = 0
            trans = [r for r in ds_rows(ds, "APTran") if r.get("RowMod") == "A"]
            if not trans:
                raise bo_error("A payment needs at least one APTran row.", "APTran", "InvoiceNum")
            for tran_no, tran in enumerate(trans, start=1):
                inv = self.invoices.invoice(
                    company, vendor["VendorNum"], str(tran.get("InvoiceNum") or "")
                )
                if not inv["Posted"] or inv["DebitMemo"]:
                    raise bo_error(
                        f"Invoice {inv['InvoiceNum']} is not a posted invoice.",
                        "APTran",
                        "InvoiceNum",
                    )
                doc_amt = scaled(tran.get("DocTranAmt") or 0, 3) or int(inv["DocInvoiceBal"])
                if doc_amt <= 0 or doc_amt > int(inv["DocInvoiceBal"]):
                    raise bo_error(
                        f"Payment amount for invoice {inv['InvoiceNum']} must be between 0 "
                        "and its balance.",
                        "APTran",
                        "DocTranAmt",
                    )
                amt = (
                    int(inv["InvoiceBal"])
                    if doc_amt == inv["DocInvoiceBal"]
                    else round_div(doc_amt * int(inv["ExchangeRate"]), RATE_ONE)
                )
                total += amt
                doc_total += doc_amt
                self.s.insert(
                    "APTran",
                    {
                        "Company": company, "HeadNum": head_num, "APTranNo": tran_no,
                        "InvoiceNum": inv["InvoiceNum"], "Voided": 0, "TranType": "PAY",
                        "Posted": int(posted), "TranAmt": amt, "DocTranAmt": doc_amt,
                        "Description": f"Payment of {inv['InvoiceNum']}",
                        "BankAcctID": bank, "CheckNum": check_num, "TranDate": today,
                        "FiscalYear": day.year, "FiscalPeriod": day.month, "GLPosted": int(posted),
                        "EntryPerson": "integration", "VendorNum": vendor["VendorNum"],
                        "InvoiceDate": inv["InvoiceDate"], "DueDate": inv["DueDate"],
                        "InvoiceAmt": inv["InvoiceAmt"],
                        "InvoiceBal": int(inv["InvoiceBal"]) - (amt if posted else 0),
                        "CurrencyCode": inv["CurrencyCode"], "ExchangeRate": inv["ExchangeRate"],
                        "ApplyDate": today, "VendorNumVendorID": vendor["VendorID"],
                        "VendorNumName": vendor["Name"], "ChangedBy": "integration",
                        "ChangeDate": today,
                    },
                )  # fmt: skip
                self.invoices.recompute(company, vendor["VendorNum"], inv["InvoiceNum"])
            self.s.insert(
                "CheckHed",
                {
                    "Company": company, "HeadNum": head_num, "Posted": int(posted),
                    "GroupID": f"CR{day:%m%d%y}",
                    "BankAcctID": bank, "CheckNum": check_num, "CheckDate": today,
                    "FiscalYear": day.year, "FiscalPeriod": day.month, "CheckSrc": "1",
                    "CheckAmt": total, "DocCheckAmt": doc_total, "PaymentTotal": total,
                    "DocPaymentTotal": doc_total, "CheckInvAmt": total, "DocCheckInvAmt": doc_total,
                    "EntryPerson": "integration", "VendorNum": vendor["VendorNum"],
                    "Name": vendor["Name"], "City": vendor["City"], "State": vendor["State"],
                    "Country": "USA", "CurrencyCode": vendor["CurrencyCode"],
                    "ExchangeRate": CURRENCIES[vendor["CurrencyCode"]][1], "PMUID": 1,
                    "Description": "Payment entry", "VendorID": vendor["VendorID"],
                    "BankAcctIDDescription": BANKS[bank],
                    "VendorNumVendorID": vendor["VendorID"], "VendorNumName": vendor["Name"],
                    "ChangedBy": "integration", "ChangeDate": today,
                },
            )  # fmt: skip
        return int(head_num)

    def post(self, company: str, head_nums: list[int]) -> None:
        """The group posting process: checks in entry become posted and pay their invoices.

        A posted check leaves Payment Entry (PaymentEntries serves checks in entry only) and is
        read through CheckRecSearchSvc / APTranSearchSvc, with the same HeadNum.
        """
        with self.s.transaction():
            for head_num in head_nums:
                key = {"Company": company, "HeadNum": head_num}
                head = self.s.get("CheckHed", key)
                if head is None:
                    raise bo_error(f"Payment {head_num} was not found.", "CheckHed", "HeadNum")
                if head["Posted"]:
                    raise bo_error(f"Payment {head_num} is already posted.", "CheckHed", "Posted")
                today = self.s.today()
                for tran in self.s.select("APTran", key):
                    inv = self.invoices.invoice(company, tran["VendorNum"], tran["InvoiceNum"])
                    self.s.update(
                        "APTran",
                        {**key, "APTranNo": tran["APTranNo"], "InvoiceNum": tran["InvoiceNum"]},
                        {
                            "Posted": 1,
                            "GLPosted": 1,
                            "InvoiceBal": int(inv["InvoiceBal"]) - int(tran["TranAmt"]),
                            "ChangeDate": today,
                        },
                    )
                    self.invoices.recompute(company, tran["VendorNum"], tran["InvoiceNum"])
                self.s.update("CheckHed", key, {"Posted": 1, "ChangeDate": today})

    def _delete(self, company: str, head_num: int) -> None:
        """Delete a check still in entry with its lines; a posted check cannot be deleted."""
        head = self.s.get("CheckHed", {"Company": company, "HeadNum": head_num})
        if head is None:
            raise bo_error(f"Payment {head_num} was not found.", "CheckHed", "HeadNum")
        if head["Posted"]:
            raise bo_error(
                f"Payment {head_num} is posted and cannot be deleted (void it instead).",
                "CheckHed",
                "Posted",
            )
        key = {"Company": company, "HeadNum": head_num}
        self.s.delete("APTran", key)
        self.s.delete("CheckHed", key)
