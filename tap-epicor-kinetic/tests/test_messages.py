"""The tap's writer and record plan are faster than the SDK's paths, never different in output."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from zoneinfo import ZoneInfo

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import (
    ActivateVersionMessage,
    RecordMessage,
    SchemaMessage,
    StateMessage,
)
from tap_epicor_kinetic.output import FastWriter
from tap_epicor_kinetic.records import RecordPlan

WHEN = dt.datetime(2026, 11, 26, 23, 59, 1, 123000, tzinfo=dt.UTC)


def test_every_message_is_byte_for_byte_what_the_sdk_writer_writes() -> None:
    # A STATE with open documents' child keys, nested nulls and Decimals: the tap serialises it
    # without the SDK's deep copy (dataclasses.asdict), the bytes must not change.
    open_documents = {
        json.dumps([n, f"INV{n}"]): {"ap_invoice_lines": [[1], [2]], "none": None}
        for n in range(50)
    }
    state = {
        "bookmarks": {
            "ap_invoices": {
                "replication_key_value": 12345,
                "amount": decimal.Decimal("1.10"),
                "open_documents": open_documents,
                "progress_markers": None,
            }
        }
    }
    messages = [
        SchemaMessage(
            stream="ap_invoices",
            schema={"properties": {"InvoiceNum": {"type": ["string", "null"]}}},
            key_properties=["InvoiceNum"],
            bookmark_properties=None,
        ),
        StateMessage(value=state),
        RecordMessage(stream="s", record={"A": "1", "B": None}, version=None, time_extracted=WHEN),
        RecordMessage(stream="s", record={"A": decimal.Decimal("2.50")}, version=7),
        ActivateVersionMessage(stream="s", version=7),
    ]
    for message in messages:
        assert bytes(FastWriter().serialize_message(message)) == bytes(
            MsgSpecWriter().serialize_message(message)
        ), message


def test_a_plain_row_and_an_unusual_row_give_the_same_fields_in_the_same_order() -> None:
    # Most rows take the plan's fast path (every column there, decimals as Decimal or int,
    # integers as int); any other row goes value by value. The record's field order decides the
    # bytes of the RECORD line, so both paths must agree on it, not just on the values.
    schema = {
        "properties": {
            "Company": {"type": ["string", "null"]},
            "Amt": {"type": ["string", "null"], "format": "x-singer.decimal"},
            "Line": {"type": ["integer", "null"]},
            "InvoiceDate": {"type": ["string", "null"], "format": "date"},
            "GLAccount": {"type": ["string", "null"]},
            "Qty": {"type": ["string", "null"], "format": "x-singer.decimal"},
        }
    }
    plan = RecordPlan.build(
        schema,
        odata_name=lambda name: "GLAccount1" if name == "GLAccount" else name,
        selected=lambda _: True,
        zone=ZoneInfo("UTC"),
    )
    plain = {
        "Company": "EPIC06",
        "Amt": decimal.Decimal("10.50"),
        "Line": 3,
        "InvoiceDate": "2026-11-26T00:00:00",
        "GLAccount1": "1000|00",
        "Qty": 2,
    }
    expected = [
        ("Company", "EPIC06"),
        ("GLAccount", "1000|00"),
        ("Amt", "10.50"),
        ("Qty", "2"),
        ("Line", 3),
        ("InvoiceDate", "2026-11-26"),
    ]
    assert list(plan.apply(plain).items()) == expected
    # An exponent, an integer served as text, a null: the same fields in the same order.
    unusual = {**plain, "Amt": decimal.Decimal("1.05E+1"), "Line": "3", "Qty": None}
    assert list(plan.apply(unusual).items()) == [
        ("Company", "EPIC06"),
        ("GLAccount", "1000|00"),
        ("Amt", "10.5"),
        ("Qty", None),
        ("Line", 3),
        ("InvoiceDate", "2026-11-26"),
    ]
    # A column the row lacks is left out, not nulled.
    partial = {k: v for k, v in plain.items() if k != "Qty"}
    assert list(plan.apply(partial).items()) == [kv for kv in expected if kv[0] != "Qty"]


def test_column_and_field_names_are_data_never_code() -> None:
    # The plan is compiled into a function; names that $metadata supplies (UD columns) must
    # not be able to change its source, whatever characters they hold.
    odd = 'Odd"Name\'\n) + __import__("os")'
    schema = {
        "properties": {
            odd: {"type": ["string", "null"]},
            "Amt": {"type": ["string", "null"], "format": "x-singer.decimal"},
        }
    }
    plan = RecordPlan.build(
        schema, odata_name=lambda name: name, selected=lambda _: True, zone=ZoneInfo("UTC")
    )
    assert plan.apply({odd: "x", "Amt": decimal.Decimal("1.5")}) == {odd: "x", "Amt": "1.5"}
