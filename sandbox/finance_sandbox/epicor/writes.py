"""What every BO write method shares (reference §7): Epicor's write errors, dates, tableset rows.

AP invoices are served at `Erp.BO.APInvoiceSvc` (`ap_invoices.py`); purchase orders
(`purchase_orders.py`) and payments (`payments.py`) follow the same GetNew… then Update pattern and
are used by the activity simulator. A change to a line rewrites its header, as in Epicor.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.generator import round_div

RATE_ONE = 10_000_000_000
DEFAULT_EXPENSE = "6100|100|00"
BANKS = {"MAINOP": "Main Operating Account", "FXOP": "Foreign Currency Account"}


def bo_error(message: str, table: str = "", field: str = "") -> EpicorError:
    """Business validation failure: 400 BusinessObjectException with ErrorDetails."""
    return EpicorError(
        400,
        message,
        "Ice.Common.BusinessObjectException",
        [{"Message": message, "Type": "Error", "Table": table, "Field": field}],
    )


def duplicate(message: str, table: str) -> EpicorError:
    return EpicorError(
        409,
        message,
        "Ice.Common.DuplicateRecordException",
        [{"Message": message, "Type": "Error", "Table": table, "Field": ""}],
    )


def date_text(value: Any, field: str, table: str) -> str:
    """Accept `YYYY-MM-DD` or an ISO datetime (offset ignored: dates are business dates)."""
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10]).isoformat() + "T00:00:00"
        except ValueError:
            pass
    raise bo_error(f"{field} '{value}' is not a valid date (use YYYY-MM-DD).", table, field)


def ds_rows(ds: dict[str, Any], table: str) -> list[dict[str, Any]]:
    rows = ds.get(table) or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise bo_error(f"ds.{table} must be a list of row objects.", table)
    return rows


def scale_parts(parts: list[int], old_total: int, new_total: int) -> list[int]:
    """Scale integer parts to a new total, exactly (the last part takes the remainder)."""
    if len(parts) == 1 or old_total == 0:
        return [new_total] + [0] * (len(parts) - 1)
    scaled_parts = [round_div(p * new_total, old_total) for p in parts[:-1]]
    return [*scaled_parts, new_total - sum(scaled_parts)]
