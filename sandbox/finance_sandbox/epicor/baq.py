"""The `FIN-APAging` BAQ: open AP invoices with aging, served like `BaqSvc/{BaqID}/Data`."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.model import DATE, DEC, INT, STAMP, STR, Column, Entity

BAQ_ID = "FIN-APAging"
VIEW = "baq_fin_apaging"
_state = {"as_of": date.today().isoformat()}


def _columns(stock: bool) -> list[Column]:
    cols = [
        Column("APInvHed_Company", STR, 0, 0, True),
        Column("APInvHed_VendorNum", INT, 10, 0, True),
        Column("Vendor_VendorID", STR, 0, 0, True),
        Column("Vendor_Name", STR, 0, 0, True),
        Column("APInvHed_InvoiceNum", STR, 0, 0, True),
        Column("APInvHed_InvoiceDate", DATE, 0, 0, True),
        Column("APInvHed_DueDate", DATE, 0, 0, True),
        Column("APInvHed_CurrencyCode", STR, 0, 0, True),
        Column("APInvHed_InvoiceAmt", DEC, 18, 3, True),
        Column("APInvHed_InvoiceBal", DEC, 18, 3, True),
        Column("APInvHed_SysRevID", INT, 19, 0, True),
    ]
    if not stock:
        cols.append(Column("APInvHed_UpdatedOn", STAMP, 0, 0, True))
    cols += [
        Column("Calculated_DaysPastDue", INT, 10, 0, True),
        Column("Calculated_AgingBucket", STR, 0, 0, True),
    ]
    return cols


def entity(stock: bool) -> Entity:
    """The BAQ's result set as an entity, so the usual OData options apply to it."""
    return Entity(
        table=VIEW,
        service="BaqSvc",
        entity_set=BAQ_ID,
        keys=["APInvHed_Company", "APInvHed_VendorNum", "APInvHed_InvoiceNum"],
        columns={c.name: c for c in _columns(stock)},
        type_override="Erp.BAQ_FIN_APAging",
    )


def install(conn: sqlite3.Connection) -> None:
    """A temp view over APInvHed/Vendor; `baq_as_of()` supplies the AsOfDate parameter."""
    conn.create_function("baq_as_of", 0, lambda: _state["as_of"], deterministic=False)
    days = "CAST(julianday(baq_as_of()) - julianday(substr(h.DueDate, 1, 10)) AS INTEGER)"
    conn.execute(
        f"""CREATE TEMP VIEW IF NOT EXISTS {VIEW} AS SELECT
        h.Company AS Company, h.Company AS APInvHed_Company, h.VendorNum AS APInvHed_VendorNum,
        v.VendorID AS Vendor_VendorID, v.Name AS Vendor_Name, h.InvoiceNum AS APInvHed_InvoiceNum,
        h.InvoiceDate AS APInvHed_InvoiceDate, h.DueDate AS APInvHed_DueDate,
        h.CurrencyCode AS APInvHed_CurrencyCode, h.InvoiceAmt AS APInvHed_InvoiceAmt,
        h.InvoiceBal AS APInvHed_InvoiceBal, h.SysRevID AS APInvHed_SysRevID,
        h.UpdatedOn AS APInvHed_UpdatedOn,
        MAX({days}, 0) AS Calculated_DaysPastDue,
        CASE WHEN {days} <= 0 THEN 'Current' WHEN {days} <= 30 THEN '1-30'
             WHEN {days} <= 60 THEN '31-60' WHEN {days} <= 90 THEN '61-90' ELSE '90+' END
             AS Calculated_AgingBucket
        FROM APInvHed h JOIN Vendor v ON v.Company = h.Company AND v.VendorNum = h.VendorNum
        WHERE h.Posted = 1 AND h.InvoiceBal <> 0"""
    )


def set_as_of(value: str | None, today: date) -> None:
    """BAQ parameter `AsOfDate` (query string, ISO date); default: today, server-local."""
    if not value:
        _state["as_of"] = today.isoformat()
        return
    try:
        _state["as_of"] = datetime.fromisoformat(value[:10]).date().isoformat()
    except ValueError as exc:
        raise EpicorError(
            400, f"BAQ parameter AsOfDate '{value}' is not a date (use YYYY-MM-DD)."
        ) from exc
