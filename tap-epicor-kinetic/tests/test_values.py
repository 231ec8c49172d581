"""Point 5: exact decimals, server-local datetimes emitted with offsets, v2 filter literals."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import requests
from finance_sandbox.testing.hostile import Forward, HostileServer, Reply, Seen
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
    epicor_sandbox_updated_on: Any, tap_runner: Any
) -> None:
    zone = ZoneInfo(epicor_sandbox_updated_on.timezone)
    config = epicor_sandbox_updated_on.tap_config(replication_keys={"ap_invoices": "UpdatedOn"})
    catalog = tap_runner.select_only(config, {"ap_invoices"})
    result = tap_runner.sync(config, catalog=catalog)
    truth = {
        (r["VendorNum"], r["InvoiceNum"]): r for r in epicor_sandbox_updated_on.truth("ap_invoices")
    }
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


def test_filters_use_v2_literals(epicor_sandbox_updated_on: Any, tap_runner: Any) -> None:
    filters: list[str] = []

    def record(response: requests.Response) -> None:
        query = unquote(response.request.url or "")
        if "$filter=" in query:
            filters.append(query.split("$filter=")[1].split("&")[0])

    config = epicor_sandbox_updated_on.tap_config(
        start_date="2025-06-01T00:00:00-05:00",
        replication_keys={"ap_invoices": "UpdatedOn"},
        late_commit_lookback_minutes=0,
    )
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


# Values that cannot be converted exactly: a page of vendors rewritten by a proxy (real HTTP).
UNCONVERTIBLE = {
    # case: (column, served value as JSON text, what the message must name)
    "fraction-in-integer-column": ("CountryNum", "2024.9", "CountryNum"),
    "fractional-key": ("VendorNum", "{victim}.5", "VendorNum"),
    "text-in-integer-column": ("PMUID", '"abc"', "PMUID"),
    "text-in-number-column": ("MinOrderValue", '"abc"', "MinOrderValue"),
    "boolean-in-integer-column": ("CountryNum", "true", "CountryNum"),
    "infinity-text-in-number-column": ("MinOrderValue", '"Infinity"', "MinOrderValue"),
}


def _failing_vendors_sync(
    respond: Any, epicor_sandbox: Any, tap_runner: Any, tmp_path: Path
) -> tuple[Any, str]:
    """A `vendors` sync through a server answering with `respond`: it must fail in one line
    (no traceback); returns the run and that last line."""
    with HostileServer(respond, upstream=epicor_sandbox.root) as proxy:
        config = epicor_sandbox.tap_config(base_url=f"{proxy.url}/EpicorSandbox")
        catalog = tap_runner.select_only(epicor_sandbox.tap_config(), {"vendors"})
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        run = tap_runner.run_cli(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run, run.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("case", list(UNCONVERTIBLE))
def test_a_value_that_cannot_be_converted_exactly_fails_naming_stream_key_and_field(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path, case: str
) -> None:
    column, served, field = UNCONVERTIBLE[case]
    victim = sorted(v["VendorNum"] for v in epicor_sandbox.truth("vendors"))[3]

    def respond(seen: Seen, forward: Forward) -> Reply:
        reply = forward()
        if "/Erp.BO.VendorSvc/Vendors?" in seen.path and reply.status == 200:
            text = reply.body.decode()
            marker = f'"VendorNum":{victim},'
            if marker not in text.replace(" ", ""):
                return reply
            body = json.loads(text)
            for row in body["value"]:
                if row.get("VendorNum") == victim:
                    row[column] = "__SERVED__"
            value = served.format(victim=victim)
            reply.body = json.dumps(body).replace('"__SERVED__"', value).encode()
        return reply

    run, last = _failing_vendors_sync(respond, epicor_sandbox, tap_runner, tmp_path)
    assert "Stream 'vendors'" in last
    assert field in last
    key = f"{victim}.5" if case == "fractional-key" else str(victim)
    assert f"VendorNum={key}" in last
    emitted = [
        json.loads(line)["record"]
        for line in run.stdout.splitlines()
        if line.startswith('{"type":"RECORD"')
    ]
    # Nothing truncated: the row is not emitted with a rounded value or under a rounded key.
    assert all(r["VendorNum"] != victim for r in emitted)


def test_a_row_without_a_replication_key_value_fails_naming_the_setting(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path
) -> None:
    # A null in the middle of a page (not its last row, which the paging checks anyway) on a
    # first run: the per-row check must still stop the run before any state passes the row.
    def respond(seen: Seen, forward: Forward) -> Reply:
        reply = forward()
        if "/Erp.BO.VendorSvc/Vendors?" in seen.path and reply.status == 200:
            body = json.loads(reply.body)
            rows = body["value"]
            if len(rows) >= 3 and "SysRevID" in rows[0]:
                rows[len(rows) // 2]["SysRevID"] = None
                reply.body = json.dumps(body).encode()
        return reply

    _, last = _failing_vendors_sync(respond, epicor_sandbox, tap_runner, tmp_path)
    assert "Stream 'vendors'" in last
    assert "replication_keys.vendors" in last
