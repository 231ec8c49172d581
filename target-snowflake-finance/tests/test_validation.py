"""The fast record validator gives the SDK validator's verdicts and messages."""

from __future__ import annotations

import decimal
from typing import Any

import pytest
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.singerlib.json import deserialize_json
from singer_sdk.sinks.core import JSONSchemaValidator
from target_snowflake_finance.validation import FastJSONSchemaValidator

# As the target receives it: numbers in the SCHEMA message parse as Decimal.
SCHEMA = deserialize_json(
    '{"type": "object", "properties": {'
    '"Company": {"type": "string"}, "VendorNum": {"type": "integer"},'
    '"ExtCost": {"type": ["string", "null"], "format": "x-singer.decimal"},'
    '"TaxAmt": {"type": ["number", "null"], "multipleOf": 0.001},'
    '"Posted": {"type": ["boolean", "null"]},'
    '"ChangeDate": {"type": ["string", "null"], "format": "date-time"},'
    '"Lines": {"type": ["array", "null"], "items": {"type": "object", "properties": {'
    '"Qty": {"type": "number", "multipleOf": 0.01}}}}}}'
)
FLAT = {**SCHEMA, "properties": {k: v for k, v in SCHEMA["properties"].items() if k != "Lines"}}
GOOD = {
    "Company": "EPIC06",
    "VendorNum": 7,
    "ExtCost": "12.345",
    "TaxAmt": decimal.Decimal("1.234"),
    "Posted": True,
    "ChangeDate": "not checked: formats are off, as in the SDK's default",
}


def _verdict(validator: Any, record: dict[str, Any]) -> str | None:
    try:
        validator.validate(record)
    except InvalidRecord as e:
        return e.error_message
    return None


@pytest.mark.parametrize(
    ("schema", "change", "valid"),
    [
        (FLAT, {}, True),
        (FLAT, {"TaxAmt": None}, True),
        (FLAT, {"VendorNum": "ten"}, False),
        (FLAT, {"Company": None}, False),
        (FLAT, {"ExtCost": 5}, False),
        (FLAT, {"TaxAmt": decimal.Decimal("1.2345")}, False),
        (FLAT, {"TaxAmt": decimal.Decimal("-0.001")}, True),
        (FLAT, {"TaxAmt": decimal.Decimal("1E+3")}, True),
        (FLAT, {"TaxAmt": 5}, True),
        (FLAT, {"TaxAmt": decimal.Decimal("NaN")}, False),
        (FLAT, {"TaxAmt": "1.2345"}, False),
        (FLAT, {"TaxAmt": True}, False),
        (FLAT, {"Posted": "yes"}, False),
        (SCHEMA, {"Lines": [{"Qty": decimal.Decimal("1.5")}]}, True),
        (SCHEMA, {"Lines": [{"Qty": decimal.Decimal("1.555")}]}, False),
        (SCHEMA, {"VendorNum": "ten"}, False),
    ],
)
def test_same_verdict_and_message_as_the_sdk(
    schema: dict[str, Any], change: dict[str, Any], valid: bool
) -> None:
    record = {**GOOD, **change}
    expected = _verdict(JSONSchemaValidator(schema), record)
    assert (expected is None) == valid
    assert _verdict(FastJSONSchemaValidator(schema), record) == expected
