"""Entity model: entity sets, columns with EDM types and scales, keys, navigation."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

# Column kinds: how a value is stored in SQLite and served as JSON.
STR, INT, DEC, BOOL, DATE, STAMP, GUID = "str", "int", "dec", "bool", "date", "stamp", "guid"

# Tables with the mission's `UpdatedOn` (header and master entities; not with --stock-kinetic).
UPDATED_ON_TABLES = (
    "COAActCat",
    "COASegValues",
    "GLAccount",
    "Vendor",
    "Part",
    "POHeader",
    "APInvHed",
    "CheckHed",
)

# UD columns added on top of columns.json (sandbox/README.md): name, kind, scale. `*_c` come from
# the table's UD companion (APInvHed_UD); Character01/ShortChar01 are the legacy UD columns.
EXTRA_UD_COLUMNS: dict[str, list[tuple[str, str, int]]] = {
    "Vendor": [("VendorTier_c", STR, 0)],
    "APInvHed": [
        ("BudgetCode_c", STR, 0),
        ("ApprovedAmt_c", DEC, 3),
        ("Character01", STR, 0),
        ("ShortChar01", STR, 0),
    ],
    "APInvDtl": [("Character01", STR, 0)],
}

# EDM entity type names (singular BO entity; POHeader is `Erp.PO`, seen live).
TYPE_NAMES = {
    "COAActCat": "COAActCat",
    "COASegValues": "COASegValues",
    "GLAccount": "GLAccount",
    "Vendor": "Vendor",
    "Part": "Part",
    "POHeader": "PO",
    "PODetail": "PODetail",
    "APInvHed": "APInvHed",
    "APInvDtl": "APInvDtl",
    "APInvExp": "APInvExp",
    "APInvTax": "APInvTax",
    "APInvMsc": "APIHAPInvMsc",
    "APIHAPInvExp": "APIHAPInvExp",
    "CheckHed": "CheckHed",
    "APTran": "APTran",
}

# Columns stored in SQLite (everything else is served as its type's default).
# The generator and the write methods fill exactly these, in this order.
STORED: dict[str, list[str]] = {
    "COAActCat": [
        "Company", "COACode", "CategoryID", "Description", "Type", "NormalBalance",
        "ParentCategory", "Sequence", "ConsolidationType", "NetIncome", "ReportCategory",
        "ParentCatDesc", "BalanceText", "ConsolidationTypeDescription", "MatchingEnabled",
        "SysRevID", "SysRowID", "UpdatedOn",
    ],
    "COASegValues": [
        "Company", "COACode", "SegmentNbr", "SegmentCode", "SegmentName", "SegmentDesc",
        "SegmentAbbrev", "ActiveFlag", "EffectiveFrom", "Category", "NormalBalance",
        "Summarization", "ReportCategory", "SegNbrName", "SegValInUse", "ChartInUse",
        "CategoryIDDescription", "COASegmentSegmentName", "BudgetSegCode_c", "SysRevID",
        "SysRowID", "UpdatedOn",
    ],
    "GLAccount": [
        "Company", "COACode", "GLAccount1", "AccountDesc", "SegValue1", "SegValue2", "SegValue3",
        "Active", "EffFrom", "ParentGLAccount", "PntSegValue1", "GLAcctDispGLAcctDisp",
        "GLAcctDispAccountDesc", "GLAcctDispGLShortAcct", "BudgetSegCode_c", "SysRevID",
        "SysRowID", "UpdatedOn",
    ],
    "Vendor": [
        "Company", "VendorNum", "VendorID", "Name", "Inactive", "Approved", "Address1", "City",
        "State", "ZIP", "Country", "CountryNum", "TaxPayerID", "TermsCode", "GroupCode",
        "Print1099", "PhoneNum", "FaxNum", "EMailAddress", "CurrencyCode", "PayHold", "PMUID",
        "LegalName", "DefaultFOB", "ShipViaCode", "ElecPayment", "TermsCodeDescription",
        "GroupCodeGroupDesc", "CurrencyCodeCurrDesc", "CountryNumDescription", "VendorTier_c",
        "SysRevID", "SysRowID", "UpdatedOn",
    ],
    "Part": [
        "Company", "PartNum", "PartDescription", "SearchWord", "ClassID", "IUM", "PUM",
        "SalesUM", "TypeCode", "NonStock", "InActive", "PurchasingFactor", "SellingFactor",
        "UnitPrice", "PricePerCode", "InternalUnitPrice", "InternalPricePerCode", "ProdCode",
        "CostMethod", "TaxCatID", "TrackLots", "NetWeight", "NetWeightUOM", "UOMClassID",
        "ClassDescription", "ProdCodeDescription", "CreatedBy", "CreatedOn", "ChangedOn",
        "SysRevID", "SysRowID", "UpdatedOn",
    ],
    "POHeader": [
        "Company", "PONum", "OpenOrder", "VoidOrder", "EntryPerson", "OrderDate", "FOB",
        "ShipViaCode", "TermsCode", "BuyerID", "BuyerIDName", "VendorNum", "VendorVendorID",
        "VendorName", "OrderHeld", "CurrencyCode", "ExchangeRate", "Approve", "ApprovalStatus",
        "ApprovedBy", "ApprovedDate", "ApprovedAmount", "Confirmed", "POType", "DueDate",
        "PromiseDate", "CommentText", "TotalOrder", "DocTotalOrder", "TermsCodeDescription",
        "ChangedBy", "ChangeDate", "SysRevID", "SysRowID", "UpdatedOn",
    ],
    "PODetail": [
        "Company", "PONUM", "POLine", "OpenLine", "VoidLine", "LineDesc", "PartNum",
        "VenPartNum", "ClassID", "OrderQty", "XOrderQty", "IUM", "PUM", "UnitCost", "DocUnitCost",
        "CostPerCode", "ExtCost", "DocExtCost", "DueDate", "VendorNum", "Taxable", "TaxCatID",
        "CurrencyCode", "PartNumPartDescription", "ChangedBy", "ChangeDate", "SysRevID",
        "SysRowID",
    ],
    "APInvHed": [
        "Company", "VendorNum", "InvoiceNum", "OpenPayable", "DebitMemo", "InvoiceDate",
        "ApplyDate", "DueDate", "DiscountDate", "TermsCode", "GroupID", "Posted", "GLPosted",
        "FiscalYear", "FiscalPeriod", "InvoiceRef", "EntryPerson", "InvoiceAmt", "DocInvoiceAmt",
        "DocInvoiceVendorAmt", "InvoiceVendorAmt", "InvoiceBal", "DocInvoiceBal", "UnpostedBal",
        "DocUnpostedBal", "InvoiceHeld", "PayHold", "Description", "CurrencyCode",
        "ExchangeRate", "REFPONum", "JournalNum", "JournalCode", "InvoiceType",
        "TermsCodeDescription", "VendorNumVendorID", "VendorNumName", "VendorNumCity",
        "VendorNumState", "VendorNumCurrencyCode", "VendorNumTermsCode", "BudgetCode_c",
        "ApprovedAmt_c", "ChangedBy", "ChangeDate", "SysRevID", "SysRowID", "UpdatedOn",
    ],
    "APInvDtl": [
        "Company", "VendorNum", "InvoiceNum", "InvoiceLine", "LineType", "UnitCost",
        "DocUnitCost", "PartNum", "PONum", "POLine", "PORelNum", "Description", "VendorQty",
        "PUM", "OurQty", "IUM", "CostPerCode", "VenPartNum", "ExtCost", "DocExtCost",
        "TaxCatID", "CurrencyCode", "GLAccount", "Posted", "DebitMemo", "GroupID",
        "VendorNumVendorID", "VendorNumName", "PartNumPartDescription", "ChangedBy",
        "ChangeDate", "SysRevID", "SysRowID",
    ],
    "APInvExp": [
        "Company", "VendorNum", "InvoiceNum", "InvoiceLine", "InvExpSeq", "ExpAmt", "DocExpAmt",
        "GLAccount", "GLAccountDesc", "ExpDispGLAcct", "COACode", "BookID", "CurrencyCode",
        "DebitMemo", "Posted", "GroupID", "Plant", "VendorNumVendorID", "VendorNumName",
        "SysRevID", "SysRowID",
    ],
    # Header-level rows of an invoice (reference §2.2; columns from the APInvoiceSvc Swagger).
    "APInvTax": [
        "Company", "VendorNum", "InvoiceNum", "TaxCode", "RateCode", "ECAcquisitionSeq",
        "TaxableAmt", "DocTaxableAmt", "Percent", "TaxAmt", "DocTaxAmt", "ReportableAmt",
        "DocReportableAmt", "Manual", "CurrencyCode", "DebitMemo", "GroupID", "Posted",
        "TaxCodeDescription", "RateCodeDescription", "VendorNumVendorID", "VendorNumName",
        "ChangedBy", "ChangeDate", "SysRevID", "SysRowID",
    ],
    "APInvMsc": [
        "Company", "VendorNum", "InvoiceNum", "InvoiceLine", "MscNum", "MiscCode", "Description",
        "MiscAmt", "DocMiscAmt", "InvExpSeq", "CurrencyCode", "DebitMemo", "GroupID", "Posted",
        "MiscCodeDescription", "SysRevID", "SysRowID",
    ],
    "APIHAPInvExp": [
        "Company", "VendorNum", "InvoiceNum", "InvoiceLine", "InvExpSeq", "ExpAmt", "DocExpAmt",
        "GLAccount", "DispGLAcct", "CurrencyCode", "DebitMemo", "GroupID", "Posted", "SysRevID",
        "SysRowID",
    ],
    "CheckHed": [
        "Company", "HeadNum", "Posted", "GroupID", "BankAcctID", "CheckNum", "CheckDate",
        "FiscalYear", "FiscalPeriod", "Voided", "CheckSrc", "ClearedCheck", "CheckAmt",
        "DocCheckAmt", "PaymentTotal", "DocPaymentTotal", "CheckInvAmt", "DocCheckInvAmt",
        "EntryPerson", "VendorNum", "Name", "Address1", "City", "State", "ZIP", "Country",
        "CurrencyCode", "ExchangeRate", "PMUID", "Description", "VendorID",
        "BankAcctIDDescription", "VendorNumVendorID", "VendorNumName", "ChangedBy",
        "ChangeDate", "SysRevID", "SysRowID", "UpdatedOn",
    ],
    "APTran": [
        "Company", "HeadNum", "APTranNo", "InvoiceNum", "Voided", "TranType", "Posted",
        "TranAmt", "DocTranAmt", "DiscAmt", "DocDiscAmt", "Description", "BankAcctID",
        "CheckNum", "TranDate", "FiscalYear", "FiscalPeriod", "GLPosted", "EntryPerson",
        "VendorNum", "InvoiceDate", "DueDate", "InvoiceAmt", "InvoiceBal", "CurrencyCode",
        "ExchangeRate", "ApplyDate", "VendorNumVendorID", "VendorNumName", "ChangedBy",
        "ChangeDate", "SysRevID", "SysRowID",
    ],
}  # fmt: skip

_DATE_RE = re.compile(r"(Date\d?|Dt|On|^EffFrom|^EffTo|^EffectiveFrom|^EffectiveTo)$")
_INT_RE = re.compile(
    r"(Num|NUM|No|Line|LineRef|Seq|Nbr|Year|Period|ID|Days|Digits|Buffer|Int\d|Integer\d|UID|"
    r"PCon|Status|Type|Opt|Option|Pieces|Code|Summarization|Statistical|Duration|DeliveryConf|"
    r"Sequence|MDPV|LotShelfLife|LatestInvoice|CustOverride|LockRate|Periods|Flag|Length|"
    r"calcLeadTime)$"
)
_DEC_EXCEPTIONS = {"PartLength", "PartWidth", "PartHeight"}


def _classify(name: str, json_type: str) -> tuple[str, int, int]:
    """Column -> (kind, precision, scale): epicor-columns.json only says string/number/bool."""
    if json_type == "boolean":
        return BOOL, 0, 0
    if json_type == "string":
        if name == "SysRowID" or name.endswith("SysRowID"):
            return GUID, 0, 0
        if name == "UpdatedOn":
            return STAMP, 0, 0
        if name == "ClearedTime" or not _DATE_RE.search(name):
            return STR, 0, 0
        return DATE, 0, 0
    if name in {"SysRevID"}:
        return INT, 19, 0
    if name not in _DEC_EXCEPTIONS and _INT_RE.search(name):
        return INT, 10, 0
    if name.endswith(("ExchangeRate", "BankRate")):
        return DEC, 16, 10
    if "Qty" in name:
        return DEC, 22, 8
    if re.search(r"UnitCost|UnitPrice|Price$", name):
        return DEC, 17, 5
    if re.search(r"Weight|Factor|Volume|Width|Height|Length|Diameter|Thickness|Gravity|Rate", name):
        return DEC, 18, 5
    return DEC, 18, 3


@dataclass(frozen=True)
class Column:
    """One OData property: storage kind, EDM type and whether SQLite holds it."""

    name: str
    kind: str
    precision: int
    scale: int
    stored: bool

    @property
    def edm(self) -> str:
        """The Edm type name declared in $metadata."""
        return {
            STR: "Edm.String",
            INT: "Edm.Int64" if self.precision == 19 else "Edm.Int32",
            DEC: "Edm.Decimal",
            BOOL: "Edm.Boolean",
            DATE: "Edm.DateTimeOffset",
            STAMP: "Edm.DateTimeOffset",
            GUID: "Edm.Guid",
        }[self.kind]

    @property
    def default_sql(self) -> str:
        """SQL literal of the served default for an unstored column."""
        return {STR: "''", INT: "0", DEC: "0", BOOL: "0", DATE: "NULL", STAMP: "NULL"}.get(
            self.kind, "'00000000-0000-0000-0000-000000000000'"
        )


@dataclass
class Nav:
    """A navigation property: child entity and the parent->child key columns joining them."""

    name: str
    child: str
    join: list[tuple[str, str]]


@dataclass
class Entity:
    """One Epicor table as served through OData."""

    table: str
    service: str
    entity_set: str
    keys: list[str]
    columns: dict[str, Column]
    navs: dict[str, Nav] = field(default_factory=dict)
    type_override: str = ""
    #: SQL predicate limiting the rows this set serves (PaymentEntries: checks still in entry).
    scope: str = ""
    #: A read-only search service over the table: served as a top-level set.
    search: bool = False

    @property
    def type_name(self) -> str:
        """Qualified EDM type, used in error messages (`Erp.PO`)."""
        return self.type_override or "Erp." + TYPE_NAMES[self.table]

    @property
    def base_where(self) -> str:
        """The predicate every read of this set starts from: one company, within `scope`.

        Takes the company as its one `?` parameter."""
        return "Company = ?" + (f" AND {self.scope}" if self.scope else "")

    @property
    def stored(self) -> list[str]:
        """Columns held in SQLite, in storage order."""
        return STORED.get(self.table) or [c.name for c in self.columns.values() if c.stored]


NAVS: dict[str, list[Nav]] = {
    "POHeader": [Nav("PODetails", "PODetail", [("Company", "Company"), ("PONum", "PONUM")])],
    "APInvHed": [
        Nav(
            name,
            child,
            [("Company", "Company"), ("VendorNum", "VendorNum"), ("InvoiceNum", "InvoiceNum")],
        )
        for name, child in (
            ("APInvDtls", "APInvDtl"),
            ("APInvTaxes", "APInvTax"),
            ("APIHAPInvMscs", "APInvMsc"),
            ("APIHAPInvExps", "APIHAPInvExp"),
        )
    ],
    "APInvDtl": [
        Nav(
            "APInvExps",
            "APInvExp",
            [
                ("Company", "Company"),
                ("VendorNum", "VendorNum"),
                ("InvoiceNum", "InvoiceNum"),
                ("InvoiceLine", "InvoiceLine"),
            ],
        )
    ],
    "CheckHed": [Nav("APTrans", "APTran", [("Company", "Company"), ("HeadNum", "HeadNum")])],
}


@cache
def _raw_columns() -> dict[str, dict[str, object]]:
    text = resources.files("finance_sandbox.epicor").joinpath("columns.json").read_text("utf-8")
    data: dict[str, dict[str, object]] = json.loads(text)
    return data


# Posted payments (sandbox/README.md, "Payments"): a check posted by the group posting process
# is no longer served by the entry service; these read-only search services serve every check
# and every APTran row, keyed as in the entry service (Epicor's Swagger for both services).
SEARCH_SETS = {
    "CheckRecSearch": ("CheckHed", "Erp.BO.CheckRecSearchSvc", "CheckRecSearches"),
    "APTranSearch": ("APTran", "Erp.BO.APTranSearchSvc", "APTranSearches"),
}
# Rows the entry service serves, by table: a posted check leaves Payment Entry.
ENTRY_SCOPES = {"CheckHed": "Posted = 0"}


@cache
def entities(stock_kinetic: bool = False, entry_shows_posted: bool = False) -> dict[str, Entity]:
    """All served entities keyed by table name (search sets by their own name);
    `stock_kinetic` drops `UpdatedOn`, `entry_shows_posted` serves posted checks in
    PaymentEntries as well (the emulator's old behaviour)."""
    result: dict[str, Entity] = {}
    for table, raw in _raw_columns().items():
        if table not in TYPE_NAMES:
            continue
        stored = set(STORED[table])
        cols: dict[str, Column] = {}
        raw_cols: list[list[str]] = raw["columns"]  # type: ignore[assignment]
        for name, json_type in raw_cols:
            kind, precision, scale = _classify(name, json_type)
            cols[name] = Column(name, kind, precision, scale, name in stored)
        for name, kind, scale in EXTRA_UD_COLUMNS.get(table, []):
            cols[name] = Column(name, kind, 18 if kind == DEC else 0, scale, name in stored)
        if table in UPDATED_ON_TABLES and not stock_kinetic:
            cols["UpdatedOn"] = Column("UpdatedOn", STAMP, 0, 0, True)
        missing = stored - set(cols) - {"UpdatedOn"}
        if missing:
            raise ValueError(f"stored columns not in the {table} schema: {sorted(missing)}")
        result[table] = Entity(
            table=table,
            service=str(raw["service"]),
            entity_set=str(raw["entity_set"]),
            keys=list(raw["keys"]),  # type: ignore[call-overload]
            columns=cols,
            navs={nav.name: nav for nav in NAVS.get(table, [])},
            scope="" if entry_shows_posted else ENTRY_SCOPES.get(table, ""),
        )
    for name, (table, service, entity_set) in SEARCH_SETS.items():
        base = result[table]
        result[name] = replace(
            base,
            service=service,
            entity_set=entity_set,
            navs={},
            type_override=f"Erp.{TYPE_NAMES[table]}" if table == "CheckHed" else f"Erp.{name}",
            scope="",
            search=True,
        )
    return result


# Entity sets served at the top of each service (child sets are reached through $expand).
TOP_LEVEL = (
    "COAActCat",
    "COASegValues",
    "GLAccount",
    "Vendor",
    "Part",
    "POHeader",
    "APInvHed",
    "CheckHed",
)
CHILD_TABLES = (
    "PODetail",
    "APInvDtl",
    "APInvExp",
    "APInvTax",
    "APInvMsc",
    "APIHAPInvExp",
    "APTran",
)

# Stream name (DESIGN §3) -> table, for the truth endpoint.
STREAMS = {
    "gl_account_categories": "COAActCat",
    "coa_segment_values": "COASegValues",
    "gl_accounts": "GLAccount",
    "vendors": "Vendor",
    "parts": "Part",
    "purchase_orders": "POHeader",
    "purchase_order_lines": "PODetail",
    "ap_invoices": "APInvHed",
    "ap_invoice_lines": "APInvDtl",
    "ap_invoice_gl_allocations": "APInvExp",
    "ap_invoice_taxes": "APInvTax",
    "ap_invoice_misc_charges": "APInvMsc",
    "ap_invoice_header_allocations": "APIHAPInvExp",
    "ap_payments": "CheckHed",
    "ap_payment_lines": "APTran",
}
