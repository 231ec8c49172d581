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
# Keywords beyond types on some properties, required fields and no other fields allowed.
STRICT = {
    **FLAT,
    "properties": {
        **FLAT["properties"],
        "Company": {"type": "string", "maxLength": 6},
        "LineType": {"type": ["string", "null"], "enum": ["PUR", "MSC", None]},
        "Note": {"type": "string"},
        "Anything": {},
    },
    "required": ["Company", "VendorNum"],
    "additionalProperties": False,
}
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
        (SCHEMA, {"VendorNum": True}, False),
        (FLAT, {"Posted": 1}, False),
        (FLAT, {"VendorNum": decimal.Decimal("7")}, False),
        (FLAT, {"Unknown": {"a": 1}}, True),
        (STRICT, {}, True),
        (STRICT, {"Company": "EPIC06X"}, False),
        (STRICT, {"LineType": "XYZ"}, False),
        (STRICT, {"LineType": None, "Anything": [1, "a"]}, True),
        (STRICT, {"Note": None}, False),
        (STRICT, {"Unknown": 1}, False),
        (STRICT, {"VendorNum": None}, False),
    ],
)
def test_same_verdict_and_message_as_the_sdk(
    schema: dict[str, Any], change: dict[str, Any], valid: bool
) -> None:
    record = {**GOOD, **change}
    expected = _verdict(JSONSchemaValidator(schema), record)
    assert (expected is None) == valid
    fast = FastJSONSchemaValidator(schema)
    # A valid record first: its type signature is remembered, and must not excuse this one.
    assert _verdict(fast, GOOD) is None
    assert _verdict(fast, record) == expected


def test_an_absent_required_field_is_refused_however_many_valid_records_came_first() -> None:
    schema = {**FLAT, "required": ["Company", "VendorNum"]}
    fast = FastJSONSchemaValidator(schema)
    for _ in range(3):
        assert _verdict(fast, GOOD) is None
    missing = {k: v for k, v in GOOD.items() if k != "VendorNum"}
    expected = _verdict(JSONSchemaValidator(schema), missing)
    assert expected is not None
    assert _verdict(fast, missing) == expected


@pytest.mark.parametrize("schema", [FLAT, STRICT])
def test_absent_fields_and_other_key_orders_get_the_sdks_verdict(schema: dict[str, Any]) -> None:
    fast = FastJSONSchemaValidator(schema)
    assert _verdict(fast, GOOD) is None
    without_posted = {k: v for k, v in GOOD.items() if k != "Posted"}
    reordered_bad = {"VendorNum": "ten", **{k: v for k, v in GOOD.items() if k != "VendorNum"}}
    for record in (without_posted, reordered_bad, {}):
        assert _verdict(fast, record) == _verdict(JSONSchemaValidator(schema), record)
