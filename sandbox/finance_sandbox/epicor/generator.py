"""Deterministic, internally consistent finance data for the emulator, streamed into SQLite."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from finance_sandbox.epicor.model import DATE, GUID, STAMP, STORED, STR, UPDATED_ON_TABLES, entities

GENERATOR_VERSION = 6
# Generated history ends here: every later write (`now`) sorts after it (UpdatedOn, SysRevID).
END_DATE = date(2025, 12, 31)
HISTORY_DAYS = 3 * 365
FIRST_SYSREVID = 93_000_000
COA_CODE = "MainChart"
BOOK_ID = "MAIN"
COMPANIES = {"EPIC06": "Epicor Education (main)", "EPIC07": "Epicor Education (second)"}
USERS = ("jsmith", "mlopez", "akhan", "tnguyen", "integration")
CHUNK = 5000

CATEGORIES = [
    # CategoryID, Description, Type, NormalBalance, ParentCategory, NetIncome
    ("ASSETS", "Assets", "B", "D", "", False),
    ("CURASSET", "Current Assets", "B", "D", "ASSETS", False),
    ("CASH", "Cash and Equivalents", "B", "D", "CURASSET", False),
    ("RECV", "Receivables", "B", "D", "CURASSET", False),
    ("INVENTORY", "Inventory", "B", "D", "CURASSET", False),
    ("FIXASSET", "Fixed Assets", "B", "D", "ASSETS", False),
    ("LIAB", "Liabilities", "B", "C", "", False),
    ("CURLIAB", "Current Liabilities", "B", "C", "LIAB", False),
    ("LTLIAB", "Long-term Liabilities", "B", "C", "LIAB", False),
    ("EQUITY", "Equity", "B", "C", "", False),
    ("REVENUE", "Revenue", "I", "C", "", True),
    ("COGS", "Cost of Goods Sold", "I", "D", "", True),
    ("EXPENSE", "Expenses", "I", "D", "", True),
    ("OPEX", "Operating Expenses", "I", "D", "EXPENSE", True),
    ("ADMIN", "General and Administrative", "I", "D", "OPEX", True),
    ("SELLING", "Selling Expenses", "I", "D", "OPEX", True),
    ("FACILITY", "Facility Expenses", "I", "D", "OPEX", True),
]
NATURAL = [
    ("1000", "Cash - Operating", "CASH"),
    ("1010", "Cash - Payroll", "CASH"),
    ("1200", "Accounts Receivable", "RECV"),
    ("1300", "Raw Materials Inventory", "INVENTORY"),
    ("1310", "Work in Process", "INVENTORY"),
    ("1320", "Finished Goods", "INVENTORY"),
    ("1500", "Machinery and Equipment", "FIXASSET"),
    ("1510", "Accumulated Depreciation", "FIXASSET"),
    ("2000", "Accounts Payable", "CURLIAB"),
    ("2050", "AP Clearing (Received not Invoiced)", "CURLIAB"),
    ("2100", "Accrued Liabilities", "CURLIAB"),
    ("2500", "Long-term Debt", "LTLIAB"),
    ("3000", "Common Stock", "EQUITY"),
    ("3100", "Retained Earnings", "EQUITY"),
    ("4000", "Product Sales", "REVENUE"),
    ("4100", "Service Revenue", "REVENUE"),
    ("5000", "Material Cost", "COGS"),
    ("5100", "Freight In", "COGS"),
    ("5200", "Subcontract Services", "COGS"),
    ("6000", "Salaries and Wages", "ADMIN"),
    ("6100", "Office Supplies", "ADMIN"),
    ("6200", "Professional Fees", "ADMIN"),
    ("6300", "Software and IT Services", "ADMIN"),
    ("6400", "Travel", "SELLING"),
    ("6500", "Advertising", "SELLING"),
    ("6600", "Utilities", "FACILITY"),
    ("6700", "Rent", "FACILITY"),
    ("6800", "Repairs and Maintenance", "FACILITY"),
    ("6900", "Insurance", "ADMIN"),
]
DEPARTMENTS = [
    ("000", "Corporate"),
    ("100", "Administration"),
    ("200", "Sales"),
    ("300", "Production"),
    ("400", "Engineering"),
    ("500", "Quality"),
    ("600", "Maintenance"),
    ("700", "Purchasing"),
]
SITES = [("00", "Main Plant"), ("10", "West Plant"), ("20", "Distribution Center")]
TERMS = {
    "N30": ("Net 30", 30),
    "N45": ("Net 45", 45),
    "N60": ("Net 60", 60),
    "2N10": ("2% 10 Net 30", 30),
}
CURRENCIES = {
    "USD": ("US Dollar", 10_000_000_000),
    "CAD": ("Canadian Dollar", 7_312_500_000),
    "EUR": ("Euro", 10_815_000_000),
}
VENDOR_WORDS = (
    "Acme", "Apex", "Summit", "Great Lakes", "Midwest", "Precision", "Allied", "Pioneer",
    "Keystone", "Liberty", "Northern", "Prairie", "Titan", "Granite", "Riverbend", "Heartland",
)  # fmt: skip
VENDOR_TRADES = (
    ("Steel", "RAW"), ("Fasteners", "RAW"), ("Plastics", "RAW"), ("Logistics", "SVC"),
    ("Electric", "MRO"), ("Tooling", "MRO"), ("Packaging", "RAW"), ("Chemical", "RAW"),
    ("Machining", "SVC"), ("Industrial Supply", "MRO"), ("Consulting", "SVC"), ("Software", "SVC"),
)  # fmt: skip
GROUP_DESC = {"RAW": "Raw Material Suppliers", "SVC": "Service Providers", "MRO": "MRO Suppliers"}
CITIES = (
    ("Minneapolis", "MN", "554"), ("Chicago", "IL", "606"), ("Milwaukee", "WI", "532"),
    ("Detroit", "MI", "482"), ("Cleveland", "OH", "441"), ("Des Moines", "IA", "503"),
    ("Omaha", "NE", "681"), ("St. Louis", "MO", "631"), ("Indianapolis", "IN", "462"),
)  # fmt: skip
PART_CLASSES = (
    ("RM", "RAW", "Raw Material", "Steel Bar", "LB"),
    ("RM", "RAW", "Raw Material", "Aluminum Sheet", "LB"),
    ("RM", "RAW", "Raw Material", "Resin Pellets", "LB"),
    ("FA", "FAST", "Fasteners", "Hex Bolt", "EA"),
    ("FA", "FAST", "Fasteners", "Lock Washer", "EA"), ("PK", "PACK", "Packaging", "Carton", "EA"),
    ("MR", "MRO", "MRO Supplies", "Cutting Insert", "EA"),
    ("MR", "MRO", "MRO Supplies", "Hydraulic Oil", "GAL"),
    ("EL", "ELEC", "Electrical", "Sensor", "EA"),
    ("EL", "ELEC", "Electrical", "Wire Harness", "EA"),
)  # fmt: skip
SIZES = ("1/4in", "3/8in", "1/2in", "3/4in", "1in", "M6", "M8", "M10", "Small", "Large")
MISC_DESCRIPTIONS = (
    ("Freight charges", "5100"), ("Consulting services", "6200"), ("Software subscription", "6300"),
    ("Office supplies", "6100"), ("Electricity", "6600"), ("Facility rent", "6700"),
    ("Equipment repair", "6800"), ("Travel expenses", "6400"), ("Insurance premium", "6900"),
    ("Subcontract machining", "5200"), ("Trade show booth", "6500"),
)  # fmt: skip


# Header taxes: (TaxCode, RateCode, Percent scaled by 1000, description); use tax is expensed
# through a header-level distribution to the accrued liabilities account.
TAXES = (
    ("SALES", "STD", 8250, "State sales tax"),
    ("SALES", "RED", 6500, "Reduced sales tax"),
    ("USE", "STD", 7000, "Use tax"),
)
FREIGHT_ACCOUNT = "5100|700|00"
TAX_ACCOUNT = "2100|000|00"


def day_text(d: date) -> str:
    """Business dates are served as local midnight without offset."""
    return f"{d.isoformat()}T00:00:00"


class Paid(NamedTuple):
    """An invoice waiting for its weekly check run."""

    invoice_num: str
    invoice_date: date
    due: date
    paid: int
    doc_paid: int
    total: int
    bal: int


@dataclass
class Numbers:
    """Document numbers of one company, handed out in the order documents are generated."""

    po: int = 1000
    head: int = 0
    check: int = 10000
    journal: int = 1000


Vendor = tuple[int, str, str, str, str, str, str, str, int]
Part = tuple[str, str, str, int]


class InvoiceHead(NamedTuple):
    """What an invoice's header-level rows repeat from its header."""

    vendor: Vendor
    inv_num: str
    group: str
    apply: date
    debit_memo: bool
    posted: bool


class Writer:
    """Buffers rows per table and flushes them with executemany in chunks (bounded memory)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.buffers: dict[str, list[tuple[object, ...]]] = {t: [] for t in STORED}
        self.sql = {
            t: f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for t, cols in STORED.items()
        }
        self.counts = dict.fromkeys(STORED, 0)
        # Rows are built by column name; this puts their values in the INSERT's order.
        self.values = {t: itemgetter(*cols) for t, cols in STORED.items()}

    def add(self, table: str, row: dict[str, object]) -> None:
        """Buffer one row, keyed by column name: every stored column of the table, no other."""
        if len(row) != len(STORED[table]):
            unknown = sorted(set(row) - set(STORED[table]))
            msg = f"{table}: row has {len(row)} columns, not {len(STORED[table])} ({unknown})"
            raise ValueError(msg)
        buf = self.buffers[table]
        buf.append(self.values[table](row))
        if len(buf) >= CHUNK:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for t in [table] if table else list(self.buffers):
            buf = self.buffers[t]
            if buf:
                self.conn.executemany(self.sql[t], buf)
                self.counts[t] += len(buf)
                buf.clear()


def create_schema(conn: sqlite3.Connection) -> None:
    """Tables hold only STORED columns; decimals are scaled integers, dates are local text."""
    ents = entities()
    for table, cols in STORED.items():
        ent = ents[table]
        defs = []
        for name in cols:
            kind = ent.columns[name].kind if name in ent.columns else STAMP
            sql_type = "TEXT" if kind in (STR, DATE, STAMP, GUID) else "INTEGER"
            defs.append(f"{name} {sql_type}")
        conn.execute(f"CREATE TABLE {table} ({', '.join(defs)})")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


def create_indexes(conn: sqlite3.Connection) -> None:
    """Keys, and the change columns the tap orders and filters by."""
    ents = entities()
    for table in STORED:
        keys = ents[table].keys
        conn.execute(f"CREATE UNIQUE INDEX pk_{table} ON {table} ({', '.join(keys)})")
        conn.execute(f"CREATE INDEX rev_{table} ON {table} (Company, SysRevID)")
        if table in UPDATED_ON_TABLES:
            rest = ", ".join(keys[1:])
            conn.execute(f"CREATE INDEX upd_{table} ON {table} (Company, UpdatedOn, {rest})")
        if "ChangeDate" in STORED[table]:
            conn.execute(f"CREATE INDEX chg_{table} ON {table} (Company, ChangeDate)")
    # What the write methods and the activity simulator look up.
    conn.execute("CREATE INDEX app_APTran ON APTran (Company, VendorNum, InvoiceNum)")
    conn.execute("CREATE INDEX grp_APInvHed ON APInvHed (Company, GroupID)")
    conn.execute("CREATE INDEX open_APInvHed ON APInvHed (Company, Posted, OpenPayable)")
    conn.execute("CREATE INDEX open_PODetail ON PODetail (Company, OpenLine)")


class Gen:
    """State shared by one company's generation: RNG, SysRevID counter, lookups."""

    def __init__(self, w: Writer, company: str, rng: random.Random, rev: list[int]) -> None:
        self.w, self.company, self.rng, self.rev = w, company, rng, rev
        self.start = END_DATE - timedelta(days=HISTORY_DAYS)

    def next_rev(self) -> int:
        self.rev[0] += 1
        return self.rev[0]

    def guid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def stamp(self, d: date) -> str:
        """A working-hours local time with milliseconds (never inside a DST change)."""
        r = self.rng.randrange(14 * 3_600_000)
        h, rem = divmod(r, 3_600_000)
        m, rem = divmod(rem, 60_000)
        s, ms = divmod(rem, 1000)
        return f"{d.isoformat()}T{h + 6:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _gl(natural: str, dept: str = "000", site: str = "00") -> str:
    return f"{natural}|{dept}|{site}"


def gl_accounts() -> list[tuple[str, str, str, str, str]]:
    """(GLAccount, natural, dept, site, description): expense accounts by department and site."""
    names = {n: d for n, d, _ in NATURAL}
    result = []
    for natural, desc, _cat in NATURAL:
        if natural >= "5000":
            for dept, dname in DEPARTMENTS[1:]:
                sites = SITES if dept in ("300", "600") else SITES[:1]
                for site, sname in sites:
                    full = f"{names[natural]} - {dname}" + (f" - {sname}" if site != "00" else "")
                    result.append((_gl(natural, dept, site), natural, dept, site, full))
        else:
            result.append((_gl(natural), natural, "000", "00", desc))
    return result


def _gen_chart(g: Gen) -> None:
    """The chart of accounts: categories, segment values, then GL accounts."""
    cat_desc = {c[0]: c[1] for c in CATEGORIES}
    _gen_categories(g, cat_desc)
    _gen_segment_values(g, cat_desc)
    _gen_gl_accounts(g)


def _gen_categories(g: Gen, cat_desc: dict[str, str]) -> None:
    w, co = g.w, g.company
    for seq, (cat, desc, typ, normal, parent, net) in enumerate(CATEGORIES, start=1):
        w.add(
            "COAActCat",
            {
                "Company": co,
                "COACode": COA_CODE,
                "CategoryID": cat,
                "Description": desc,
                "Type": typ,
                "NormalBalance": normal,
                "ParentCategory": parent,
                "Sequence": seq * 10,
                "ConsolidationType": "A",
                "NetIncome": int(net),
                "ReportCategory": cat,
                "ParentCatDesc": cat_desc.get(parent, ""),
                "BalanceText": "Balance Sheet" if typ == "B" else "Income Statement",
                "ConsolidationTypeDescription": "Average",
                "MatchingEnabled": 0,
                "SysRevID": g.next_rev(),
                "SysRowID": g.guid(),
                "UpdatedOn": g.stamp(g.start - timedelta(days=400)),
            },
        )


def _gen_segment_values(g: Gen, cat_desc: dict[str, str]) -> None:
    """Values of the three segments: natural account, department, site."""
    w, co = g.w, g.company
    seg_names = {1: "Account", 2: "Department", 3: "Site"}
    segments: list[tuple[int, str, str, str, str]] = [
        (1, code, desc, cat, "D" if code < "2000" or code >= "5000" else "C")
        for code, desc, cat in NATURAL
    ]
    segments += [(2, code, name, "", "") for code, name in DEPARTMENTS]
    segments += [(3, code, name, "", "") for code, name in SITES]
    for nbr, code, desc, cat, normal in segments:
        w.add(
            "COASegValues",
            {
                "Company": co,
                "COACode": COA_CODE,
                "SegmentNbr": nbr,
                "SegmentCode": code,
                "SegmentName": desc,
                "SegmentDesc": desc,
                "SegmentAbbrev": desc[:8].upper().replace(" ", ""),
                "ActiveFlag": 1,
                "EffectiveFrom": day_text(g.start - timedelta(days=400)),
                "Category": cat,
                "NormalBalance": normal,
                "Summarization": 0,
                "ReportCategory": cat,
                "SegNbrName": seg_names[nbr],
                "SegValInUse": 1,
                "ChartInUse": 1,
                "CategoryIDDescription": cat_desc.get(cat, ""),
                "COASegmentSegmentName": seg_names[nbr],
                "BudgetSegCode_c": f"B{code}" if nbr == 1 else "",
                "SysRevID": g.next_rev(),
                "SysRowID": g.guid(),
                "UpdatedOn": g.stamp(g.start - timedelta(days=399)),
            },
        )


def _gen_gl_accounts(g: Gen) -> None:
    w, co, rng = g.w, g.company, g.rng
    for account, natural, dept, site, desc in gl_accounts():
        disp = account.replace("|", "-")
        w.add(
            "GLAccount",
            {
                "Company": co,
                "COACode": COA_CODE,
                "GLAccount1": account,
                "AccountDesc": desc,
                "SegValue1": natural,
                "SegValue2": dept,
                "SegValue3": site,
                "Active": 1,
                "EffFrom": day_text(g.start - timedelta(days=398)),
                "ParentGLAccount": "",
                "PntSegValue1": natural,
                "GLAcctDispGLAcctDisp": disp,
                "GLAcctDispAccountDesc": desc,
                "GLAcctDispGLShortAcct": disp.replace("-", ""),
                "BudgetSegCode_c": f"B{natural}" if rng.random() < 0.5 else "",
                "SysRevID": g.next_rev(),
                "SysRowID": g.guid(),
                "UpdatedOn": g.stamp(g.start - timedelta(days=398)),
            },
        )


def _gen_vendors(g: Gen, n: int) -> list[tuple[int, str, str, str, str, str, str, str, int]]:
    """Vendors; returns (VendorNum, VendorID, Name, City, State, Currency, Terms, Group, Rate)."""
    rng, w, co = g.rng, g.w, g.company
    result = []
    for num in range(1, n + 1):
        word = VENDOR_WORDS[rng.randrange(len(VENDOR_WORDS))]
        trade, group = VENDOR_TRADES[rng.randrange(len(VENDOR_TRADES))]
        suffix = (" Inc.", " LLC", " Co.", " Corp.")[rng.randrange(4)]
        name = f"{word} {trade}{suffix}"
        vid = f"{(word + trade).replace(' ', '')[:5].upper()}{num}"
        city, state, zip3 = CITIES[rng.randrange(len(CITIES))]
        r = rng.random()
        cur = "USD" if r < 0.9 else ("CAD" if r < 0.96 else "EUR")
        terms = ("N30", "N30", "N45", "N60", "2N10")[rng.randrange(5)]
        inactive = rng.random() < 0.03
        created = g.start - timedelta(days=rng.randrange(30, 360))
        w.add(
            "Vendor",
            {
                "Company": co,
                "VendorNum": num,
                "VendorID": vid,
                "Name": name,
                "Inactive": int(inactive),
                "Approved": 1,
                "Address1": f"{rng.randrange(100, 9999)} Industrial Pkwy",
                "City": city,
                "State": state,
                "ZIP": f"{zip3}{rng.randrange(10, 99)}",
                "Country": "USA",
                "CountryNum": 1,
                "TaxPayerID": f"{rng.randrange(10, 99)}-{rng.randrange(1000000, 9999999)}",
                "TermsCode": terms,
                "GroupCode": group,
                "Print1099": int(group == "SVC"),
                "PhoneNum": f"({rng.randrange(200, 999)}) 555-{rng.randrange(1000, 9999)}",
                "FaxNum": "",
                "EMailAddress": f"ap@{vid.lower()}.example.com",
                "CurrencyCode": cur,
                "PayHold": int(rng.random() < 0.02),
                "PMUID": 1,
                "LegalName": name,
                "DefaultFOB": "Origin",
                "ShipViaCode": "UPS",
                "ElecPayment": int(rng.random() < 0.5),
                "TermsCodeDescription": TERMS[terms][0],
                "GroupCodeGroupDesc": GROUP_DESC[group],
                "CurrencyCodeCurrDesc": CURRENCIES[cur][0],
                "CountryNumDescription": "United States of America",
                "VendorTier_c": ("A", "B", "C")[rng.randrange(3)],
                "SysRevID": g.next_rev(),
                "SysRowID": g.guid(),
                "UpdatedOn": g.stamp(created),
            },
        )
        result.append((num, vid, name, city, state, cur, terms, group, CURRENCIES[cur][1]))
    return result


def _gen_parts(g: Gen, n: int) -> list[tuple[str, str, str, int]]:
    """Parts; returns (PartNum, Description, UOM, unit cost in thousandths)."""
    rng, w, co = g.rng, g.w, g.company
    result = []
    for i in range(1, n + 1):
        prefix, cls, cdesc, noun, uom = PART_CLASSES[rng.randrange(len(PART_CLASSES))]
        part = f"{prefix}-{10000 + i}"
        desc = f"{noun} {SIZES[rng.randrange(len(SIZES))]}"
        cost = rng.randrange(50, 250_000)  # thousandths
        created = g.start - timedelta(days=rng.randrange(1, 700))
        changed = created + timedelta(days=rng.randrange(0, 300))
        updated = g.stamp(changed)
        w.add(
            "Part",
            {
                "Company": co,
                "PartNum": part,
                "PartDescription": desc,
                "SearchWord": noun[:8].upper(),
                "ClassID": cls,
                "IUM": uom,
                "PUM": uom,
                "SalesUM": uom,
                "TypeCode": "P",
                "NonStock": 0,
                "InActive": int(rng.random() < 0.02),
                "PurchasingFactor": 100000,
                "SellingFactor": 100000,
                "UnitPrice": cost * 100 * 13 // 10,
                "PricePerCode": "E",
                "InternalUnitPrice": cost * 100,
                "InternalPricePerCode": "E",
                "ProdCode": cls,
                "CostMethod": "A",
                "TaxCatID": "TAXABLE",
                "TrackLots": int(prefix == "RM"),
                "NetWeight": rng.randrange(1, 500_000),
                "NetWeightUOM": "LB",
                "UOMClassID": "COUNT" if uom == "EA" else "WEIGHT",
                "ClassDescription": cdesc,
                "ProdCodeDescription": cdesc,
                "CreatedBy": USERS[rng.randrange(len(USERS) - 1)],
                "CreatedOn": g.stamp(created)[:19],
                "ChangedOn": updated[:19],
                "SysRevID": g.next_rev(),
                "SysRowID": g.guid(),
                "UpdatedOn": updated,
            },
        )
        result.append((part, desc, uom, cost))
    return result


def round_div(value: int, divisor: int) -> int:
    """Integer division rounding half away from zero (amount conversions stay exact)."""
    q, r = divmod(abs(value), divisor)
    if 2 * r >= divisor:
        q += 1
    return q if value >= 0 else -q


def split(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split an integer amount into `parts` integers that sum to it exactly."""
    if parts == 1 or total == 0:
        return [total]
    weights = [rng.randrange(1, 10) for _ in range(parts)]
    s = sum(weights)
    amounts = [total * wgt // s if total >= 0 else -((-total) * wgt // s) for wgt in weights[:-1]]
    amounts.append(total - sum(amounts))
    return amounts


def _payment_run(d: date) -> date:
    """Weekly AP check run (Fridays) on or after `d`."""
    return d + timedelta(days=(4 - d.weekday()) % 7)


POLine = tuple[int, str, str, str, int, int, int]


def _po_header(
    g: Gen,
    po_num: int,
    vendor: Vendor,
    order: date,
    stamp: str,
    *,
    total: int,
    doc_total: int,
    open_: bool,
    buyer: str,
    buyer_id: str,
    buyer_name: str,
    comment: str,
) -> dict[str, object]:
    """A POHeader row (ordinary POs and the big one differ only in the keyword arguments)."""
    vnum, vid, vname, _city, _state, cur, terms, _group, rate = vendor
    return {
        "Company": g.company,
        "PONum": po_num,
        "OpenOrder": int(open_),
        "VoidOrder": 0,
        "EntryPerson": buyer,
        "OrderDate": day_text(order),
        "FOB": "Origin",
        "ShipViaCode": "UPS",
        "TermsCode": terms,
        "BuyerID": buyer_id,
        "BuyerIDName": buyer_name,
        "VendorNum": vnum,
        "VendorVendorID": vid,
        "VendorName": vname,
        "OrderHeld": 0,
        "CurrencyCode": cur,
        "ExchangeRate": rate,
        "Approve": 1,
        "ApprovalStatus": "A",
        "ApprovedBy": buyer,
        "ApprovedDate": day_text(order),
        "ApprovedAmount": total,
        "Confirmed": 1,
        "POType": "STD",
        "DueDate": day_text(order + timedelta(days=14)),
        "PromiseDate": day_text(order + timedelta(days=14)),
        "CommentText": comment,
        "TotalOrder": total,
        "DocTotalOrder": doc_total,
        "TermsCodeDescription": TERMS[terms][0],
        "ChangedBy": buyer,
        "ChangeDate": day_text(order),
        "SysRevID": g.next_rev(),
        "SysRowID": g.guid(),
        "UpdatedOn": stamp,
    }


def _po_line(
    g: Gen, po_num: int, vendor: Vendor, order: date, line: POLine, *, open_: bool, changed_by: str
) -> dict[str, object]:
    """A PODetail row: `line` is (POLine, PartNum, description, UOM, qty, doc cost, ext cost)."""
    vnum, _vid, _vname, _city, _state, cur, _terms, _group, rate = vendor
    line_no, part, pdesc, uom, qty, doc_cost, ext = line
    return {
        "Company": g.company,
        "PONUM": po_num,
        "POLine": line_no,
        "OpenLine": int(open_),
        "VoidLine": 0,
        "LineDesc": pdesc,
        "PartNum": part,
        "VenPartNum": f"V-{part}",
        "ClassID": "",
        "OrderQty": qty * 10**8,
        "XOrderQty": qty * 10**8,
        "IUM": uom,
        "PUM": uom,
        "UnitCost": round_div(doc_cost * rate, 100_000_000),
        "DocUnitCost": doc_cost * 100,
        "CostPerCode": "E",
        "ExtCost": ext,
        "DocExtCost": doc_cost * qty,
        "DueDate": day_text(order + timedelta(days=14)),
        "VendorNum": vnum,
        "Taxable": 1,
        "TaxCatID": "TAXABLE",
        "CurrencyCode": cur,
        "PartNumPartDescription": pdesc,
        "ChangedBy": changed_by,
        "ChangeDate": day_text(order),
        "SysRevID": g.next_rev(),
        "SysRowID": g.guid(),
    }


def _check_run_stamps(g: Gen, vendor: Vendor, run: date) -> dict[str, object]:
    """Columns a check and its lines share: the vendor's names, who changed it and when."""
    return {
        "VendorNumVendorID": vendor[1],
        "VendorNumName": vendor[2],
        "ChangedBy": USERS[0],
        "ChangeDate": day_text(run),
        "SysRevID": g.next_rev(),
        "SysRowID": g.guid(),
    }


def _gen_check_runs(
    g: Gen,
    numbers: Numbers,
    pending: dict[tuple[int, date], list[Paid]],
    vendors: list[Vendor],
    before: date | None,
) -> None:
    """The weekly check runs due before `before` (all when None): a CheckHed per vendor and
    run, an APTran per invoice paid."""
    for key in sorted(k for k in pending if before is None or k[1] < before):
        items = pending.pop(key)
        vendor = vendors[key[0] - 1]
        run = key[1]
        numbers.head += 1
        numbers.check += 1
        bank = "MAINOP" if vendor[5] == "USD" else "FXOP"
        check = Check(numbers.head, numbers.check, vendor, run, bank)
        g.w.add("CheckHed", _check_row(g, check, items))
        for tran_no, it in enumerate(items, start=1):
            g.w.add("APTran", _payment_row(g, check, tran_no, it))


class Check(NamedTuple):
    """One vendor's check in a weekly run: what its CheckHed and APTran rows share."""

    head_num: int
    check_num: int
    vendor: Vendor
    run: date
    bank: str


def _check_row(g: Gen, check: Check, items: list[Paid]) -> dict[str, object]:
    """The CheckHed row of one vendor's check in a run, paying `items`."""
    vendor, run, bank = check.vendor, check.run, check.bank
    total = sum(it.paid for it in items)
    doc_total = sum(it.doc_paid for it in items)
    stamp = g.stamp(run)
    return {
        "Company": g.company,
        "HeadNum": check.head_num,
        "Posted": 1,
        "GroupID": f"CR{run:%m%d%y}",
        "BankAcctID": bank,
        "CheckNum": check.check_num,
        "CheckDate": day_text(run),
        "FiscalYear": run.year,
        "FiscalPeriod": run.month,
        "Voided": 0,
        "CheckSrc": "1",
        "ClearedCheck": int(run < END_DATE - timedelta(days=30)),
        "CheckAmt": total,
        "DocCheckAmt": doc_total,
        "PaymentTotal": total,
        "DocPaymentTotal": doc_total,
        "CheckInvAmt": total,
        "DocCheckInvAmt": doc_total,
        "EntryPerson": USERS[0],
        "VendorNum": vendor[0],
        "Name": vendor[2],
        "Address1": "",
        "City": vendor[3],
        "State": vendor[4],
        "ZIP": "",
        "Country": "USA",
        "CurrencyCode": vendor[5],
        "ExchangeRate": vendor[8],
        "PMUID": 1,
        "Description": f"Check run {run.isoformat()}",
        "VendorID": vendor[1],
        "BankAcctIDDescription": "Main Operating Account"
        if bank == "MAINOP"
        else "Foreign Currency Account",
        **_check_run_stamps(g, vendor, run),
        "UpdatedOn": stamp,
    }


def _payment_row(g: Gen, check: Check, tran_no: int, it: Paid) -> dict[str, object]:
    """The APTran row paying one invoice on a check."""
    vendor, run, bank = check.vendor, check.run, check.bank
    inv_num, inv_date, due, paid, doc_paid, amt, bal = it
    return {
        "Company": g.company,
        "HeadNum": check.head_num,
        "APTranNo": tran_no,
        "InvoiceNum": inv_num,
        "Voided": 0,
        "TranType": "PAY",
        "Posted": 1,
        "TranAmt": paid,
        "DocTranAmt": doc_paid,
        "DiscAmt": 0,
        "DocDiscAmt": 0,
        "Description": f"Payment of {inv_num}",
        "BankAcctID": bank,
        "CheckNum": check.check_num,
        "TranDate": day_text(run),
        "FiscalYear": run.year,
        "FiscalPeriod": run.month,
        "GLPosted": 1,
        "EntryPerson": USERS[0],
        "VendorNum": vendor[0],
        "InvoiceDate": day_text(inv_date),
        "DueDate": day_text(due),
        "InvoiceAmt": amt,
        "InvoiceBal": bal,
        "CurrencyCode": vendor[5],
        "ExchangeRate": vendor[8],
        "ApplyDate": day_text(run),
        **_check_run_stamps(g, vendor, run),
    }


def _gen_purchase_orders(
    g: Gen, numbers: Numbers, inv_date: date, vendor: Vendor, parts: list[Part]
) -> tuple[list[tuple[int, str, str, str, int, int]], int]:
    """The POs ordered before an invoice: (the lines of the PO it bills, that PO's number or 0)."""
    rng, w = g.rng, g.w
    rate = vendor[8]
    # Purchase orders: most invoices bill a PO; some POs stay open (not yet invoiced).
    po_lines: list[tuple[int, str, str, str, int, int]] = []
    po_for_invoice = 0
    for extra in range(2 if rng.random() < 0.25 else 1):
        if extra == 0 and rng.random() >= 0.7:
            continue
        numbers.po += 1
        order = inv_date - timedelta(days=rng.randrange(5, 40))
        lines = []
        doc_total = 0
        for line in range(1, rng.randrange(1, 5) + 1):
            part, pdesc, uom, cost = parts[rng.randrange(len(parts))]
            qty = rng.randrange(1, 200)
            doc_cost = round_div(cost * 10_000_000_000, rate)  # thousandths in vendor currency
            doc_total += doc_cost * qty
            lines.append((line, part, pdesc, uom, qty, doc_cost))
        total = sum(round_div(dc * q * rate, 10_000_000_000) for _, _, _, _, q, dc in lines)
        invoiced = extra == 0
        stamp = g.stamp(order + timedelta(days=1))
        buyer = USERS[rng.randrange(len(USERS) - 1)]
        w.add(
            "POHeader",
            _po_header(
                g,
                numbers.po,
                vendor,
                order,
                stamp,
                total=total,
                doc_total=doc_total,
                open_=not invoiced,
                buyer=buyer,
                buyer_id=buyer.upper()[:6],
                buyer_name=buyer.title(),
                comment="",
            ),
        )
        for line, part, pdesc, uom, qty, doc_cost in lines:
            ext = round_div(doc_cost * qty * rate, 10_000_000_000)
            w.add(
                "PODetail",
                _po_line(
                    g,
                    numbers.po,
                    vendor,
                    order,
                    (line, part, pdesc, uom, qty, doc_cost, ext),
                    open_=not invoiced,
                    changed_by=buyer,
                ),
            )
        if invoiced:
            po_lines = [(ln, p, d, u, q, c) for ln, p, d, u, q, c in lines]
            po_for_invoice = numbers.po
    return po_lines, po_for_invoice


def _invoice_key(g: Gen, head: InvoiceHead) -> dict[str, object]:
    """The invoice's key columns, which each of its header-level rows starts with."""
    return {"Company": g.company, "VendorNum": head.vendor[0], "InvoiceNum": head.inv_num}


def _head_distribution(
    g: Gen, head: InvoiceHead, seq: int, amounts: tuple[int, int], account: str
) -> dict[str, object]:
    """The header-level expense distribution (InvoiceLine 0) of a freight or tax amount."""
    return {
        **_invoice_key(g, head),
        "InvoiceLine": 0,
        "InvExpSeq": seq,
        "ExpAmt": amounts[0],
        "DocExpAmt": amounts[1],
        "GLAccount": account,
        "DispGLAcct": account.replace("|", "-"),
        "CurrencyCode": head.vendor[5],
        "DebitMemo": int(head.debit_memo),
        "GroupID": head.group,
        "Posted": int(head.posted),
        "SysRevID": g.next_rev(),
        "SysRowID": g.guid(),
    }


def _gen_header_charges(
    g: Gen, head: InvoiceHead, lines_total: int, doc_lines_total: int
) -> tuple[int, int]:
    """Header-level rows of one invoice; returns what they add to its total (base, document)."""
    # Header-level rows: freight on some invoices, tax on others; each has a header-level
    # expense distribution (InvoiceLine 0) of the same amount, so the invoice total equals
    # lines + misc + tax and equals every distribution together.
    rng, w = g.rng, g.w
    _vnum, vid, vname, _city, _state, cur, _terms, _group, rate = head.vendor
    sign = -1 if head.debit_memo else 1
    extra = doc_extra = 0
    head_seq = 0
    if rng.random() < 0.2:
        doc_misc = sign * rng.randrange(2_500, 250_000)
        misc = round_div(doc_misc * rate, 10_000_000_000)
        head_seq += 1
        w.add(
            "APInvMsc",
            {
                **_invoice_key(g, head),
                "InvoiceLine": 0,
                "MscNum": 1,
                "MiscCode": "FRT",
                "Description": "Freight",
                "MiscAmt": misc,
                "DocMiscAmt": doc_misc,
                "InvExpSeq": head_seq,
                "CurrencyCode": cur,
                "DebitMemo": int(head.debit_memo),
                "GroupID": head.group,
                "Posted": int(head.posted),
                "MiscCodeDescription": "Freight",
                "SysRevID": g.next_rev(),
                "SysRowID": g.guid(),
            },
        )
        w.add(
            "APIHAPInvExp", _head_distribution(g, head, head_seq, (misc, doc_misc), FREIGHT_ACCOUNT)
        )
        extra += misc
        doc_extra += doc_misc
    if rng.random() < 0.3:
        code, rate_code, pct, tax_desc = TAXES[rng.randrange(len(TAXES))]
        doc_tax = round_div(doc_lines_total * pct, 100_000)
        tax = round_div(doc_tax * rate, 10_000_000_000)
        head_seq += 1
        w.add(
            "APInvTax",
            {
                **_invoice_key(g, head),
                "TaxCode": code,
                "RateCode": rate_code,
                "ECAcquisitionSeq": 0,
                "TaxableAmt": lines_total,
                "DocTaxableAmt": doc_lines_total,
                "Percent": pct,
                "TaxAmt": tax,
                "DocTaxAmt": doc_tax,
                "ReportableAmt": lines_total,
                "DocReportableAmt": doc_lines_total,
                "Manual": 0,
                "CurrencyCode": cur,
                "DebitMemo": int(head.debit_memo),
                "GroupID": head.group,
                "Posted": int(head.posted),
                "TaxCodeDescription": tax_desc,
                "RateCodeDescription": rate_code,
                "VendorNumVendorID": vid,
                "VendorNumName": vname,
                "ChangedBy": USERS[1],
                "ChangeDate": day_text(head.apply),
                "SysRevID": g.next_rev(),
                "SysRowID": g.guid(),
            },
        )
        w.add("APIHAPInvExp", _head_distribution(g, head, head_seq, (tax, doc_tax), TAX_ACCOUNT))
        extra += tax
        doc_extra += doc_tax
    return extra, doc_extra


class DocLine(NamedTuple):
    """One invoice line before amounts: a PO receipt ("R") or a miscellaneous line ("M")."""

    line_type: str
    part: str
    description: str
    uom: str
    qty: int
    doc_cost: int
    po_num: int
    po_line: int
    natural: str  # natural account a misc line is expensed to ("" for receipts)


Allocation = tuple[str, int, int]  # (GLAccount, base amount, document amount)


class Expense(NamedTuple):
    """The expense accounts misc lines are allocated to, and their descriptions."""

    accounts: list[str]
    descriptions: dict[str, str]


@dataclass
class Settlement:
    """What an invoice's totals and payment come to once all its rows are written."""

    total: int
    doc_total: int
    paid: int = 0
    doc_paid: int = 0


def _doc_lines(
    g: Gen, po_lines: list[tuple[int, str, str, str, int, int]], po_num: int, sign: int
) -> list[DocLine]:
    """The invoice's lines: the receipts of the PO it bills, else 1-3 miscellaneous lines."""
    rng = g.rng
    if po_lines:
        return [
            DocLine("R", part, pdesc, uom, qty * sign, doc_cost, po_num, line, "")
            for line, part, pdesc, uom, qty, doc_cost in po_lines
        ]
    lines = []
    for _ in range(rng.randrange(1, 4)):
        desc, natural = MISC_DESCRIPTIONS[rng.randrange(len(MISC_DESCRIPTIONS))]
        doc_cost = rng.randrange(5_000, 5_000_000)
        lines.append(DocLine("M", "", desc, "EA", sign, doc_cost, 0, 0, natural))
    return lines


def _allocations(
    g: Gen, line: DocLine, amounts: tuple[int, int], rate: int, expense: Expense
) -> list[Allocation]:
    """Receipts go to AP clearing; misc lines split over 1-3 expense accounts of their kind."""
    ext, doc_ext = amounts
    if line.line_type == "R":
        return [(_gl("2050"), ext, doc_ext)]
    rng = g.rng
    choices = [a for a in expense.accounts if a.startswith(line.natural)] or expense.accounts
    n_alloc = rng.randrange(1, 4)
    base = split(ext, n_alloc, rng)
    doc = split(doc_ext, n_alloc, rng) if rate != 10_000_000_000 else base
    return [(choices[rng.randrange(len(choices))], a, d) for a, d in zip(base, doc, strict=True)]


def _line_row(
    g: Gen, head: InvoiceHead, line_no: int, line: DocLine, *, amounts: tuple[int, int], gl: str
) -> dict[str, object]:
    """The APInvDtl row of one invoice line."""
    _vnum, vid, vname, _city, _state, cur, _terms, _group, rate = head.vendor
    part = line.part
    return {
        **_invoice_key(g, head),
        "InvoiceLine": line_no,
        "LineType": line.line_type,
        "UnitCost": round_div(int(line.doc_cost) * rate, 100_000_000),
        "DocUnitCost": int(line.doc_cost) * 100,
        "PartNum": part,
        "PONum": line.po_num,
        "POLine": line.po_line,
        "PORelNum": 1 if line.po_num else 0,
        "Description": line.description,
        "VendorQty": int(line.qty) * 10**8,
        "PUM": line.uom,
        "OurQty": int(line.qty) * 10**8,
        "IUM": line.uom,
        "CostPerCode": "E",
        "VenPartNum": f"V-{part}" if part else "",
        "ExtCost": amounts[0],
        "DocExtCost": amounts[1],
        "TaxCatID": "TAXABLE" if part else "",
        "CurrencyCode": cur,
        "GLAccount": gl,
        "Posted": int(head.posted),
        "DebitMemo": int(head.debit_memo),
        "GroupID": head.group,
        "VendorNumVendorID": vid,
        "VendorNumName": vname,
        "PartNumPartDescription": line.description if part else "",
        "ChangedBy": USERS[1],
        "ChangeDate": day_text(head.apply),
        "SysRevID": g.next_rev(),
        "SysRowID": g.guid(),
    }


def _allocation_row(
    g: Gen, head: InvoiceHead, line_no: int, *, seq: int, alloc: Allocation, desc: str
) -> dict[str, object]:
    """The APInvExp row of one GL allocation of an invoice line."""
    acct, amt, doc_amt = alloc
    return {
        **_invoice_key(g, head),
        "InvoiceLine": line_no,
        "InvExpSeq": seq,
        "ExpAmt": amt,
        "DocExpAmt": doc_amt,
        "GLAccount": acct,
        "GLAccountDesc": desc,
        "ExpDispGLAcct": acct.replace("|", "-"),
        "COACode": COA_CODE,
        "BookID": BOOK_ID,
        "CurrencyCode": head.vendor[5],
        "DebitMemo": int(head.debit_memo),
        "Posted": int(head.posted),
        "GroupID": head.group,
        "Plant": "MfgSys",
        "VendorNumVendorID": head.vendor[1],
        "VendorNumName": head.vendor[2],
        "SysRevID": g.next_rev(),
        "SysRowID": g.guid(),
    }


def _gen_invoice_lines(
    g: Gen, head: InvoiceHead, lines: list[DocLine], expense: Expense
) -> tuple[int, int]:
    """Each line's APInvDtl row and its allocations; returns the lines' total (base, document)."""
    rate = head.vendor[8]
    total = doc_total = 0
    for line_no, line in enumerate(lines, start=1):
        doc_ext = line.doc_cost * line.qty
        ext = round_div(doc_ext * rate, 10_000_000_000)
        total += ext
        doc_total += doc_ext
        allocs = _allocations(g, line, (ext, doc_ext), rate, expense)
        g.w.add(
            "APInvDtl", _line_row(g, head, line_no, line, amounts=(ext, doc_ext), gl=allocs[0][0])
        )
        for seq, alloc in enumerate(allocs, start=1):
            desc = expense.descriptions.get(alloc[0], "AP Clearing (Received not Invoiced)")
            g.w.add("APInvExp", _allocation_row(g, head, line_no, seq=seq, alloc=alloc, desc=desc))
    return total, doc_total


def _settle(g: Gen, head: InvoiceHead, due: date, money: Settlement, paid_until: date) -> date:
    """Weekly check runs pay posted invoices after their due date (a few only half); returns
    the run the invoice is paid in, or would be."""
    run = _payment_run(due + timedelta(days=g.rng.randrange(0, 5)))
    if head.posted and not head.debit_memo and run <= paid_until:
        if g.rng.random() < 0.08:
            money.paid, money.doc_paid = money.total // 2, money.doc_total // 2
        else:
            money.paid, money.doc_paid = money.total, money.doc_total
    return run


def _header_row(
    g: Gen,
    head: InvoiceHead,
    dates: tuple[date, date, date],
    money: Settlement,
    *,
    po_num: int,
    journal: int,
) -> dict[str, object]:
    """The APInvHed row; `dates` are the invoice date, due date and the payment run."""
    inv_date, due, run = dates
    _vnum, vid, vname, city, state, cur, terms, _group, rate = head.vendor
    apply, posted, total, doc_total = head.apply, head.posted, money.total, money.doc_total
    bal = total - money.paid
    if money.paid:
        updated = g.stamp(run)
    else:
        updated = g.stamp(apply if not posted else min(apply + timedelta(days=2), END_DATE))
    rng = g.rng
    return {
        **_invoice_key(g, head),
        "OpenPayable": int(posted and bal != 0),
        "DebitMemo": int(head.debit_memo),
        "InvoiceDate": day_text(inv_date),
        "ApplyDate": day_text(apply),
        "DueDate": day_text(due),
        "DiscountDate": day_text(inv_date + timedelta(days=10)) if terms == "2N10" else None,
        "TermsCode": terms,
        "GroupID": head.group,
        "Posted": int(posted),
        "GLPosted": int(posted),
        "FiscalYear": apply.year,
        "FiscalPeriod": apply.month,
        "InvoiceRef": f"PO {po_num}" if po_num else "",
        "EntryPerson": USERS[1],
        "InvoiceAmt": total,
        "DocInvoiceAmt": doc_total,
        "DocInvoiceVendorAmt": doc_total,
        "InvoiceVendorAmt": total,
        "InvoiceBal": bal,
        "DocInvoiceBal": doc_total - money.doc_paid,
        "UnpostedBal": 0 if posted else total,
        "DocUnpostedBal": 0 if posted else doc_total,
        "InvoiceHeld": 0,
        # The draws below run in this order (PayHold, then BudgetCode_c's two): keep it.
        "PayHold": int(rng.random() < 0.01),
        "Description": "Materials per PO" if po_num else "Services and expenses",
        "CurrencyCode": cur,
        "ExchangeRate": rate,
        "REFPONum": po_num,
        "JournalNum": journal if posted else 0,
        "JournalCode": "PJ" if posted else "",
        "InvoiceType": "DMO" if head.debit_memo else "STD",
        "TermsCodeDescription": TERMS[terms][0],
        "VendorNumVendorID": vid,
        "VendorNumName": vname,
        "VendorNumCity": city,
        "VendorNumState": state,
        "VendorNumCurrencyCode": cur,
        "VendorNumTermsCode": terms,
        "BudgetCode_c": ("CAPEX", "OPEX", "COGS")[rng.randrange(3)] if rng.random() < 0.6 else "",
        "ApprovedAmt_c": total if posted else 0,
        "ChangedBy": USERS[1],
        "ChangeDate": day_text(run if money.paid else apply),
        "SysRevID": g.next_rev(),
        "SysRowID": g.guid(),
        "UpdatedOn": updated,
    }


def _gen_invoice(
    g: Gen,
    i: int,
    n_invoices: int,
    *,
    numbers: Numbers,
    vendors: list[Vendor],
    parts: list[Part],
    expense: Expense,
    pending: dict[tuple[int, date], list[Paid]],
) -> date:
    """Invoice `i`: its POs, lines, allocations, header charges and header; a paid one joins
    `pending` for its check run. Returns the invoice date."""
    rng = g.rng
    inv_date = g.start + timedelta(days=i * HISTORY_DAYS // max(n_invoices, 1))
    vendor = vendors[rng.randrange(len(vendors))]
    po_lines, po_num = _gen_purchase_orders(g, numbers, inv_date, vendor, parts)
    debit_memo = rng.random() < 0.02
    lines = _doc_lines(g, po_lines, po_num, -1 if debit_memo else 1)
    apply = inv_date + timedelta(days=rng.randrange(0, 4))
    due = inv_date + timedelta(days=TERMS[vendor[6]][1])
    posted = apply < END_DATE - timedelta(days=20)
    inv_num = f"{('INV', 'SI-', 'A', '')[rng.randrange(4)]}{1000000 + i}"
    head = InvoiceHead(vendor, inv_num, f"AP{apply:%m%d%y}", apply, debit_memo, posted)
    money = Settlement(*_gen_invoice_lines(g, head, lines, expense))
    extra, doc_extra = _gen_header_charges(g, head, money.total, money.doc_total)
    money.total += extra
    money.doc_total += doc_extra
    run = _settle(g, head, due, money, END_DATE - timedelta(days=3))
    if posted:
        numbers.journal += 1
    g.w.add(
        "APInvHed",
        _header_row(g, head, (inv_date, due, run), money, po_num=po_num, journal=numbers.journal),
    )
    bal = money.total - money.paid
    if money.paid:
        pending.setdefault((vendor[0], run), []).append(
            Paid(inv_num, inv_date, due, money.paid, money.doc_paid, money.total, bal)
        )
    return inv_date


def _gen_documents(
    g: Gen,
    n_invoices: int,
    vendors: list[Vendor],
    parts: list[Part],
    expense_accounts: list[tuple[str, str]],
    *,
    progress: Callable[[str], None] | None,
) -> None:
    """POs, AP invoices (lines, allocations) and payments, in chronological order."""
    numbers = Numbers()
    pending: dict[tuple[int, date], list[Paid]] = {}
    expense = Expense([a for a, _ in expense_accounts], dict(expense_accounts))
    for i in range(n_invoices):
        inv_date = _gen_invoice(
            g,
            i,
            n_invoices,
            numbers=numbers,
            vendors=vendors,
            parts=parts,
            expense=expense,
            pending=pending,
        )
        if i % 2000 == 1999:
            _gen_check_runs(g, numbers, pending, vendors, inv_date)
            if progress and i % 100_000 == 99_999:
                progress(f"{g.company}: {i + 1} invoices")
    _gen_check_runs(g, numbers, pending, vendors, None)


def _gen_big_po(
    g: Gen,
    vendors: list[tuple[int, str, str, str, str, str, str, str, int]],
    parts: list[tuple[str, str, str, int]],
    lines: int,
) -> None:
    """One open PO with `lines` lines (EPIC06, `--big-po-lines`), to prove that a client never
    truncates an expanded collection silently."""
    rng, w = g.rng, g.w
    po_num = 9_000_001  # above every generated PO number (1001, 1002, ...)
    rate = vendors[0][8]
    order = END_DATE - timedelta(days=5)
    stamp = g.stamp(order)
    rows = []
    total = doc_total = 0
    for line in range(1, lines + 1):
        part, pdesc, uom, cost = parts[rng.randrange(len(parts))]
        qty = rng.randrange(1, 50)
        doc_cost = round_div(cost * 10_000_000_000, rate)
        ext = round_div(doc_cost * qty * rate, 10_000_000_000)
        total += ext
        doc_total += doc_cost * qty
        rows.append((line, part, pdesc, uom, qty, doc_cost, ext))
    w.add(
        "POHeader",
        _po_header(
            g,
            po_num,
            vendors[0],
            order,
            stamp,
            total=total,
            doc_total=doc_total,
            open_=True,
            buyer=USERS[0],
            buyer_id="BIG",
            buyer_name="Big Order",
            comment="Many lines",
        ),
    )
    for line, part, pdesc, uom, qty, doc_cost, ext in rows:
        w.add(
            "PODetail",
            _po_line(
                g,
                po_num,
                vendors[0],
                order,
                (line, part, pdesc, uom, qty, doc_cost, ext),
                open_=True,
                changed_by=USERS[0],
            ),
        )


def generate(
    path: Path,
    seed: int,
    invoices: int,
    progress: Callable[[str], None] | None = None,
    big_po_lines: int = 0,
) -> None:
    """Write a fresh database at `path` (atomically: a temp file is renamed into place)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    create_schema(conn)
    w = Writer(conn)
    rev = [FIRST_SYSREVID]
    started = time.monotonic()
    for company, n in (("EPIC06", invoices), ("EPIC07", max(10, invoices // 5))):
        rng = random.Random(f"{seed}:{company}")
        g = Gen(w, company, rng, rev)
        _gen_chart(g)
        expense = [(a, d) for a, nat, _dept, _s, d in gl_accounts() if nat >= "5000"]
        vendors = _gen_vendors(g, max(12, min(25_000, n // 40)))
        parts = _gen_parts(g, max(30, min(50_000, n // 20)))
        _gen_documents(g, n, vendors, parts, expense, progress=progress)
        if big_po_lines and company == "EPIC06":
            w.flush()
            _gen_big_po(g, vendors, parts, big_po_lines)
    w.flush()
    if progress:
        progress(f"rows written in {time.monotonic() - started:.1f}s; indexing")
    create_indexes(conn)
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("seed", str(seed)), ("invoices", str(invoices)), ("sysrevid", str(rev[0])),
         ("version", str(GENERATOR_VERSION))],
    )  # fmt: skip
    conn.commit()
    conn.close()
    os.replace(tmp, path)
    if progress:
        progress(f"generated {path.name} in {time.monotonic() - started:.1f}s")


def base_path(data_dir: Path, seed: int, invoices: int, big_po_lines: int = 0) -> Path:
    """The pristine generated database for a seed and size (reused when they match)."""
    big = f"-big{big_po_lines}" if big_po_lines else ""
    return data_dir / f"epicor-v{GENERATOR_VERSION}-seed{seed}-n{invoices}{big}.sqlite"


def ensure_base(
    data_dir: Path,
    seed: int,
    invoices: int,
    progress: Callable[[str], None] | None = None,
    big_po_lines: int = 0,
) -> Path:
    """Generate the database unless an identical one already exists."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = base_path(data_dir, seed, invoices, big_po_lines)
    for stale in data_dir.glob("epicor-v*-seed*-n*.sqlite"):
        if not stale.name.startswith(f"epicor-v{GENERATOR_VERSION}-"):
            stale.unlink(missing_ok=True)  # written by an older generator: never reused
    if not path.exists():
        generate(path, seed, invoices, progress, big_po_lines)
    return path
