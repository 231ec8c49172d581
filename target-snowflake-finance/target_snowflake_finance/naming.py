"""The one identifier policy: how stream, field and config names become quoted Snowflake names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_IDENTIFIER_LENGTH = 255
COLUMN_CASES = ("upper", "snake")

# CamelCase word boundaries: "DocInvoiceAmt" → "Doc_Invoice_Amt", "APInvDtl" → "AP_Inv_Dtl".
_BOUNDARY_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^0-9A-Za-z_]+")


class NamingError(ValueError):
    """A name cannot be mapped to a Snowflake identifier unambiguously."""


def quote(name: str) -> str:
    """A double-quoted identifier: exact case, reserved words and odd characters are safe.

    Doubling embedded quotes is Snowflake's only escape, so no stream, field or config
    name can end the identifier and inject SQL (reference §4.5).
    """
    if not name:
        raise NamingError("an identifier cannot be empty")
    if len(name) > MAX_IDENTIFIER_LENGTH:
        raise NamingError(f"identifier longer than {MAX_IDENTIFIER_LENGTH} characters: {name!r}")
    if "\x00" in name:
        raise NamingError(f"identifier contains a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def apply_case(name: str, column_case: str) -> str:
    """`upper`: DocInvoiceAmt → DOCINVOICEAMT; `snake`: DocInvoiceAmt → DOC_INVOICE_AMT."""
    if column_case == "upper":
        return name.upper()
    if column_case == "snake":
        spaced = _BOUNDARY_2.sub(r"\1_\2", _BOUNDARY_1.sub(r"\1_\2", name))
        snake = _NON_WORD.sub("_", spaced).strip("_")
        snake = re.sub(r"_+", "_", snake)
        return (snake or name).upper()
    raise NamingError(f"column_case must be one of {COLUMN_CASES}, not {column_case!r}")


def config_identifier(value: str) -> str:
    """Database, schema, warehouse and role names from config, as Snowflake resolves them unquoted.

    `analytics` means ANALYTICS, like an unquoted name typed in a worksheet.
    """
    return value.upper()


def table_name(stream: str, mapping: Mapping[str, Any] | None, column_case: str) -> str:
    """The table a stream loads into: its `table_mapping` table as typed (like any name from
    config), else the stream name under `column_case`. The start-up check and the sink both ask
    here, so they never look at different tables."""
    table = (mapping or {}).get("table")
    return config_identifier(table) if table else apply_case(stream, column_case)


def qualified(*parts: str) -> str:
    """`"DB"."SCHEMA"."TABLE"` from already-cased parts."""
    return ".".join(quote(p) for p in parts)


def column_names(
    fields: Iterable[str], column_case: str, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Field → column for one stream, failing when two fields would land in one column."""
    overrides = overrides or {}
    result: dict[str, str] = {}
    seen: dict[str, str] = {}
    for field in fields:
        column = overrides.get(field) or apply_case(field, column_case)
        # Snowflake sessions may resolve quoted names case-insensitively
        # (QUOTED_IDENTIFIERS_IGNORE_CASE), so treat case-only differences as collisions.
        folded = column.upper()
        if folded in seen:
            raise NamingError(
                f"fields {seen[folded]!r} and {field!r} both map to column {column!r}; "
                "rename one with table_mapping.columns"
            )
        seen[folded] = field
        result[field] = column
    return result
