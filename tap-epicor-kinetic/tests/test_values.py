"""Point 5: exact decimals, server-local datetimes emitted with offsets, v2 filter literals."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import requests
from tap_epicor_kinetic import odata

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3,6}[+-]\d{2}:\d{2}$")


def test_money_and_quantities_are_exact_decimal_text(epicor_sandbox: Any, tap_runner: Any) -> None:
    config = epicor_sandbox.tap_config()
    catalog = tap_runner.select_only(config, {"ap_invoices", "ap_invoice_lines"})
    result = tap_runner.sync(config, catalog=catalog)
    for stream, key in (
        ("ap_invoices", ("VendorNum", "InvoiceNum")),
        ("ap_invoice_lines", ("VendorNum", "InvoiceNum", "InvoiceLine")),
    ):
        schema = result.schemas[stream]["schema"]["properties"]
        decimals = [f for f, p in schema.items() if p.get("format") == "x-singer.decimal"]
        assert decimals, stream
        truth = {tuple(r[k] for k in key): r for r in epicor_sandbox.truth(stream)}
        fractional = 0
        for record in result.records[stream]:
            source = truth[tuple(record[k] for k in key)]
            for field in decimals:
                text = record[field]
                assert isinstance(text, str), f"{stream}.{field} must be decimal text"
                assert "e" not in text.lower(), text
                value = decimal.Decimal(text)
                # Same value to the last digit as the source, within the declared scale.
                assert value == decimal.Decimal(str(source[field])), f"{stream}.{field}"
                exponent = value.as_tuple().exponent
                assert isinstance(exponent, int)
                assert -exponent <= schema[field]["scale"]
                fractional += -exponent >= 2
        assert fractional, "no amount with cents: the test proves nothing"


def test_datetimes_are_read_in_server_timezone_and_emitted_with_offset(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    zone = ZoneInfo(epicor_sandbox.timezone)
    config = epicor_sandbox.tap_config()
    catalog = tap_runner.select_only(config, {"ap_invoices"})
    result = tap_runner.sync(config, catalog=catalog)
    truth = {(r["VendorNum"], r["InvoiceNum"]): r for r in epicor_sandbox.truth("ap_invoices")}
    offsets = set()
    for record in result.records["ap_invoices"]:
        source = truth[(record["VendorNum"], record["InvoiceNum"])]
        assert RFC3339.match(record["UpdatedOn"]), record["UpdatedOn"]
        emitted = dt.datetime.fromisoformat(record["UpdatedOn"])
        wall_clock = dt.datetime.fromisoformat(source["UpdatedOn"]).replace(tzinfo=zone)
        assert emitted == wall_clock
        assert emitted.utcoffset() == wall_clock.utcoffset()
        offsets.add(emitted.utcoffset())
        # Date columns are the business date as Epicor shows it, never shifted by a zone.
        assert record["InvoiceDate"] == source["InvoiceDate"][:10]
    assert dt.timedelta(0) not in offsets


def test_filters_use_v2_literals(epicor_sandbox: Any, tap_runner: Any) -> None:
    filters: list[str] = []

    def record(response: requests.Response) -> None:
        query = unquote(response.request.url or "")
        if "$filter=" in query:
            filters.append(query.split("$filter=")[1].split("&")[0])

    config = epicor_sandbox.tap_config(start_date="2025-06-01T00:00:00-05:00")
    catalog = tap_runner.select_only(config, {"ap_invoices"})
    first = tap_runner.sync(config, catalog=catalog, on_response=record)
    assert filters[0] == "UpdatedOn ge 2025-06-01T05:00:00Z"
    assert not [f for f in filters if "datetime'" in f]

    filters.clear()
    tap_runner.sync(config, catalog=catalog, state=first.state, on_response=record)
    bookmark = dt.datetime.fromisoformat(first.records["ap_invoices"][-1]["UpdatedOn"])
    literal = odata.literal(bookmark)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z", literal)
    assert filters[0].startswith(f"UpdatedOn gt {literal} or (UpdatedOn eq {literal} and ")


def test_string_literals_double_their_quotes() -> None:
    assert odata.literal("O'Brien") == "'O''Brien'"
    assert odata.after(["PartNum"], ["A'1"]) == "PartNum gt 'A''1'"


def test_records_keep_every_digit_whatever_shape_the_json_number_has() -> None:
    # Epicor may write 1E+2 or 0.0000001 (exponents) and whole amounts as JSON integers; the
    # record always carries plain decimal text, and integer columns accept Epicor's "".
    from tap_epicor_kinetic.errors import json_body
    from tap_epicor_kinetic.records import RecordPlan

    schema = {
        "properties": {
            "Amt": {"type": ["string", "null"], "format": "x-singer.decimal"},
            "Line": {"type": ["integer", "null"]},
            "Note": {"type": ["string", "null"]},
        }
    }
    plan = RecordPlan.build(
        schema, odata_name=lambda name: name, selected=lambda _: True, zone=ZoneInfo("UTC")
    )
    response = requests.Response()
    response.status_code = 200
    response._content = (
        b'{"value": [{"Amt": 1E+2, "Line": 1, "Note": "x"}, {"Amt": 0.0000001, "Line": ""},'
        b' {"Amt": 12, "Line": "7"}, {"Amt": 123456789012345678.123456789, "Line": null},'
        b' {"Amt": -0.50}]}'
    )
    rows = json_body(response, what="test")["value"]
    assert [plan.apply(row) for row in rows] == [
        {"Amt": "100", "Line": 1, "Note": "x"},
        {"Amt": "0.0000001", "Line": None},
        {"Amt": "12", "Line": 7},
        {"Amt": "123456789012345678.123456789", "Line": None},
        {"Amt": "-0.50"},
    ]
    # A body with a byte-order mark or in UTF-16 still parses, numbers still exact.
    for body in (
        b"\xef\xbb\xbf" + b'{"value": [{"Amt": 1.10}]}',
        '{"value": [{"Amt": 1.10}]}'.encode("utf-16"),
    ):
        response._content = body
        assert json_body(response, what="test")["value"] == [{"Amt": decimal.Decimal("1.10")}]
