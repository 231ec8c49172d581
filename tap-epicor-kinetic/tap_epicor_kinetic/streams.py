"""The finance streams of DESIGN §3, in sync order (dimensions first)."""

from __future__ import annotations

import typing as t

from tap_epicor_kinetic.client import EpicorStream


class GLAccountCategoriesStream(EpicorStream):
    """Account categories (hierarchy via ParentCategory)."""

    name = "gl_account_categories"
    service = "Erp.BO.COAActCatSvc"
    entity_set = "COAActCats"
    primary_keys = ("Company", "COACode", "CategoryID")


class COASegmentValuesStream(EpicorStream):
    """Values of each chart-of-accounts segment (natural account = segment 1)."""

    name = "coa_segment_values"
    service = "Erp.BO.COASegValuesSvc"
    entity_set = "COASegValues"
    primary_keys = ("Company", "COACode", "SegmentNbr", "SegmentCode")


class GLAccountsStream(EpicorStream):
    """G/L accounts; OData calls the account column GLAccount1 (it collides with the type)."""

    name = "gl_accounts"
    service = "Erp.BO.GLAccountSvc"
    entity_set = "GLAccounts"
    primary_keys = ("Company", "COACode", "GLAccount")
    renames: t.ClassVar[dict[str, str]] = {"GLAccount1": "GLAccount"}


class VendorsStream(EpicorStream):
    """Suppliers."""

    name = "vendors"
    service = "Erp.BO.VendorSvc"
    entity_set = "Vendors"
    primary_keys = ("Company", "VendorNum")


class PartsStream(EpicorStream):
    """Parts."""

    name = "parts"
    service = "Erp.BO.PartSvc"
    entity_set = "Parts"
    primary_keys = ("Company", "PartNum")


class PurchaseOrdersStream(EpicorStream):
    """Purchase order headers (entity set POes, EDM type Erp.PO)."""

    name = "purchase_orders"
    service = "Erp.BO.POSvc"
    entity_set = "POes"
    primary_keys = ("Company", "PONum")
    start_date_column = "OrderDate"
    open_column = "OpenOrder"
    open_value = True


class PurchaseOrderLinesStream(EpicorStream):
    """PO lines from `$expand=PODetails` on POes (top-level PODetails filters wrongly, §8.1)."""

    name = "purchase_order_lines"
    service = "Erp.BO.POSvc"
    entity_set = "PODetails"
    parent_stream_type = PurchaseOrdersStream
    primary_keys = ("Company", "PONum", "POLine")
    renames: t.ClassVar[dict[str, str]] = {"PONUM": "PONum"}
    parent_keys: t.ClassVar[dict[str, str]] = {"Company": "Company", "PONUM": "PONum"}
    default_replication_key = None


class APInvoicesStream(EpicorStream):
    """AP invoice headers."""

    name = "ap_invoices"
    service = "Erp.BO.APInvoiceSvc"
    entity_set = "APInvoices"
    primary_keys = ("Company", "VendorNum", "InvoiceNum")
    start_date_column = "InvoiceDate"
    open_column = "Posted"
    open_value = False


class APInvoiceLinesStream(EpicorStream):
    """AP invoice lines from `$expand=APInvDtls` on APInvoices."""

    name = "ap_invoice_lines"
    service = "Erp.BO.APInvoiceSvc"
    entity_set = "APInvDtls"
    parent_stream_type = APInvoicesStream
    primary_keys = ("Company", "VendorNum", "InvoiceNum", "InvoiceLine")
    parent_keys: t.ClassVar[dict[str, str]] = {
        "Company": "Company",
        "VendorNum": "VendorNum",
        "InvoiceNum": "InvoiceNum",
    }
    default_replication_key = None


class APInvoiceGLAllocationsStream(EpicorStream):
    """G/L distribution of each invoice line, from `APInvDtls($expand=APInvExps)`."""

    name = "ap_invoice_gl_allocations"
    service = "Erp.BO.APInvoiceSvc"
    entity_set = "APInvExps"
    parent_stream_type = APInvoiceLinesStream
    primary_keys = ("Company", "VendorNum", "InvoiceNum", "InvoiceLine", "InvExpSeq")
    parent_keys: t.ClassVar[dict[str, str]] = {
        "Company": "Company",
        "VendorNum": "VendorNum",
        "InvoiceNum": "InvoiceNum",
        "InvoiceLine": "InvoiceLine",
    }
    default_replication_key = None


INVOICE_KEYS = {"Company": "Company", "VendorNum": "VendorNum", "InvoiceNum": "InvoiceNum"}


class APInvoiceTaxesStream(EpicorStream):
    """Header-level tax rows of each invoice, from `$expand=APInvTaxes` on APInvoices."""

    name = "ap_invoice_taxes"
    service = "Erp.BO.APInvoiceSvc"
    entity_set = "APInvTaxes"
    parent_stream_type = APInvoicesStream
    primary_keys = ("Company", "VendorNum", "InvoiceNum", "TaxCode", "RateCode", "ECAcquisitionSeq")
    parent_keys: t.ClassVar[dict[str, str]] = INVOICE_KEYS
    default_replication_key = None


class APInvoiceMiscChargesStream(EpicorStream):
    """Header miscellaneous charges (freight, ...), from `$expand=APIHAPInvMscs` on APInvoices."""

    name = "ap_invoice_misc_charges"
    service = "Erp.BO.APInvoiceSvc"
    entity_set = "APIHAPInvMscs"
    parent_stream_type = APInvoicesStream
    primary_keys = ("Company", "VendorNum", "InvoiceNum", "InvoiceLine", "MscNum")
    parent_keys: t.ClassVar[dict[str, str]] = INVOICE_KEYS
    default_replication_key = None


class APInvoiceHeaderAllocationsStream(EpicorStream):
    """Header-level G/L distribution (APInvExp rows with InvoiceLine 0: misc charges, taxes),
    from `$expand=APIHAPInvExps` on APInvoices."""

    name = "ap_invoice_header_allocations"
    service = "Erp.BO.APInvoiceSvc"
    entity_set = "APIHAPInvExps"
    parent_stream_type = APInvoicesStream
    primary_keys = ("Company", "VendorNum", "InvoiceNum", "InvoiceLine", "InvExpSeq")
    parent_keys: t.ClassVar[dict[str, str]] = INVOICE_KEYS
    default_replication_key = None


class APPaymentsStream(EpicorStream):
    """AP payment headers (CheckHed), posted and in entry.

    `PaymentEntries` serves only checks still in entry (a posted check is "no longer accessible
    by the check entry programs", CheckHed.Posted in Epicor's Swagger), so the incremental read
    goes to the read-only `CheckRecSearches` over the same table and key; checks in entry are
    re-read from `PaymentEntries` every run, which also finds them if the search service does not.
    """

    name = "ap_payments"
    service = "Erp.BO.CheckRecSearchSvc"
    entity_set = "CheckRecSearches"
    primary_keys = ("Company", "HeadNum")
    start_date_column = "CheckDate"
    open_column = "Posted"
    open_value = False
    open_source = ("Erp.BO.PaymentEntrySvc", "PaymentEntries")


class APPaymentLinesStream(EpicorStream):
    """Invoices paid by each payment (APTran rows), posted and in entry, from `APTranSearches`.

    Read on their own SysRevID (the search service has no navigation from a check); a line in
    entry is tracked like a document, so a deleted unposted payment's lines are tombstoned.
    """

    name = "ap_payment_lines"
    service = "Erp.BO.APTranSearchSvc"
    entity_set = "APTranSearches"
    primary_keys = ("Company", "HeadNum", "APTranNo", "InvoiceNum", "Voided")
    start_date_column = "TranDate"
    open_column = "Posted"
    open_value = False


STREAM_TYPES: tuple[type[EpicorStream], ...] = (
    GLAccountCategoriesStream,
    COASegmentValuesStream,
    GLAccountsStream,
    VendorsStream,
    PartsStream,
    PurchaseOrdersStream,
    PurchaseOrderLinesStream,
    APInvoicesStream,
    APInvoiceLinesStream,
    APInvoiceGLAllocationsStream,
    APInvoiceTaxesStream,
    APInvoiceMiscChargesStream,
    APInvoiceHeaderAllocationsStream,
    APPaymentsStream,
    APPaymentLinesStream,
)
