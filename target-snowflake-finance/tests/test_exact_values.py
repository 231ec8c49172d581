"""Values land exactly or are refused as invalid records, naming stream, key and field."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from target_snowflake_finance.sinks import InvalidRecordError

PROPS: dict[str, Any] = {
    "InvoiceNum": {"type": "integer"},
    "FiscalYear": {"type": ["integer", "null"]},
    "InvoiceAmt": {"type": ["number", "null"], "multipleOf": 0.01},
    "Rate": {"type": ["number", "null"]},
    "TaxAmt": {
        "type": ["string", "null"],
        "format": "x-singer.decimal",
        "precision": 38,
        "scale": 2,
    },
    "UpdatedOn": {"type": ["string", "null"], "format": "date-time"},
    "DueDate": {"type": ["string", "null"], "format": "date"},
}
KEYS = ["InvoiceNum"]
FORTY_DIGITS = "1234567890123456789012345678901234567890"

BAD_VALUES = [
    ("fraction-in-integer", "FiscalYear", Decimal("2024.9"), "FiscalYear"),
    ("text-in-integer", "FiscalYear", "abc", "FiscalYear"),
    ("text-in-number", "Rate", "abc", "Rate"),
    ("forty-digit-number", "Rate", Decimal(FORTY_DIGITS), "Rate"),
    ("forty-digit-decimal-string", "TaxAmt", FORTY_DIGITS, "TaxAmt"),
    ("forty-digit-amount", "InvoiceAmt", Decimal(FORTY_DIGITS + ".25"), "InvoiceAmt"),
    ("thirty-digit-number", "Rate", Decimal("123456789012345678901234567890"), "Rate"),
    # 9999-12-31T23:59:59.999 at UTC-5 is year 10000 in UTC: no timestamp can hold it.
    ("beyond-9999-in-utc", "UpdatedOn", "9999-12-31T23:59:59.999-05:00", "UpdatedOn"),
]


def good(n: int) -> dict[str, Any]:
    return {"InvoiceNum": n, "FiscalYear": 2024, "InvoiceAmt": Decimal("1.25"), "Rate": 1}


@pytest.mark.parametrize(
    ("case", "field", "value", "named"), BAD_VALUES, ids=[c[0] for c in BAD_VALUES]
)
def test_a_value_that_cannot_land_exactly_fails_naming_stream_key_and_field(
    case, field, value, named, config, run_target, singer, table_rows
) -> None:
    with pytest.raises(InvalidRecordError) as excinfo:
        run_target(
            config,
            [
                singer.schema("ap_invoices", PROPS, KEYS),
                singer.record("ap_invoices", good(1)),
                singer.record("ap_invoices", {**good(2), field: value}),
            ],
        )
    message = str(excinfo.value)
    assert "stream 'ap_invoices'" in message
    assert "InvoiceNum=2" in message
    assert repr(named) in message
    assert "\n" not in message
    assert table_rows("AP_INVOICES", "INVOICENUM") == []


@pytest.mark.parametrize(
    ("case", "field", "value", "named"), BAD_VALUES, ids=[c[0] for c in BAD_VALUES]
)
def test_a_value_that_cannot_land_exactly_is_quarantined(
    case, field, value, named, config, run_target, singer, table_rows
) -> None:
    config["on_invalid_record"] = "quarantine"
    run_target(
        config,
        [
            singer.schema("ap_invoices", PROPS, KEYS),
            singer.record("ap_invoices", good(1)),
            singer.record("ap_invoices", {**good(2), field: value}),
            singer.record("ap_invoices", good(3)),
        ],
    )
    assert table_rows("AP_INVOICES", "INVOICENUM, FISCALYEAR") == [(1, 2024), (3, 2024)]
    [(key, reason)] = table_rows("_SDC_REJECTS", "RECORD_KEY, REASON")
    assert key == "InvoiceNum=2"
    assert named in reason


def test_the_extreme_dates_of_the_types_load(config, run_target, singer, table_rows) -> None:
    run_target(
        config,
        [
            singer.schema("ap_invoices", PROPS, KEYS, "UpdatedOn"),
            singer.record(
                "ap_invoices",
                {**good(1), "UpdatedOn": "0001-01-01T00:00:00+00:00", "DueDate": "0001-01-01"},
            ),
            singer.record(
                "ap_invoices",
                {**good(2), "UpdatedOn": "9999-12-31T23:59:59.999", "DueDate": "9999-12-31"},
            ),
            singer.record(
                "ap_invoices",
                {**good(3), "UpdatedOn": "9999-12-31T23:59:59.999999Z", "DueDate": "9999-12-31"},
            ),
        ],
    )
    rows = table_rows(
        "AP_INVOICES", "INVOICENUM, CAST(UPDATEDON AS VARCHAR), CAST(DUEDATE AS VARCHAR)"
    )
    assert [(r[0], r[1][:23].removesuffix("+00"), r[2]) for r in rows] == [
        (1, "0001-01-01 00:00:00", "0001-01-01"),
        (2, "9999-12-31 23:59:59.999", "9999-12-31"),
        (3, "9999-12-31 23:59:59.999", "9999-12-31"),
    ]
    [(low, high)] = table_rows("_SDC_LOAD_AUDIT", "MIN_REPLICATION_KEY, MAX_REPLICATION_KEY")
    assert low.startswith("0001-01-01")
    assert high.startswith("9999-12-31T23:59:59.999999")


@pytest.mark.parametrize("via", ["stdin", "--input"])
def test_invalid_utf8_is_refused_not_replaced(
    via, config, singer, tmp_path: Path, table_rows
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    props = {"Id": {"type": "integer"}, "Name": {"type": "string"}}
    schema = singer.lines([singer.schema("vendors", props, ["Id"])])
    good_line = b'{"type": "RECORD", "stream": "vendors", "record": {"Id": 1, "Name": "ok"}}\n'
    bad_line = (
        b'{"type": "RECORD", "stream": "vendors", "record": {"Id": 2, "Name": "M\xfcller"}}\n'
    )
    data = schema.encode() + good_line + bad_line
    args = [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(path)]
    if via == "--input":
        (tmp_path / "input.jsonl").write_bytes(data)
        args += ["--input", str(tmp_path / "input.jsonl")]
    result = subprocess.run(
        args,
        input=data if via == "stdin" else b"",
        capture_output=True,
        timeout=300,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    [line] = [x for x in stderr.splitlines() if "UTF-8" in x]
    assert "line 3" in line
    assert table_rows("VENDORS", "ID") == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("FiscalYear", Decimal("2024.9")), ("Rate", "abc"), ("InvoiceAmt", Decimal(FORTY_DIGITS))],
)
def test_without_schema_validation_values_are_still_exact_or_refused(
    field, value, config, run_target, singer, table_rows
) -> None:
    config.update(validate_records=False, on_invalid_record="quarantine")
    run_target(
        config,
        [
            singer.schema("ap_invoices", PROPS, KEYS),
            singer.record("ap_invoices", good(1)),
            singer.record("ap_invoices", {**good(2), field: value}),
        ],
    )
    assert table_rows("AP_INVOICES", "INVOICENUM, FISCALYEAR") == [(1, 2024)]
    [(key, reason)] = table_rows("_SDC_REJECTS", "RECORD_KEY, REASON")
    assert key == "InvoiceNum=2"
    assert field in reason
