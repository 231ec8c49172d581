"""Issue points 2 and 3: the bulk path, load methods, and exact types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from target_snowflake_finance.errors import TargetConfigError

INVOICE_PROPS: dict[str, Any] = {
    "Company": {"type": "string"},
    "InvoiceNum": {"type": "string"},
    "InvoiceAmt": {
        "type": ["string", "null"],
        "format": "x-singer.decimal",
        "precision": 18,
        "scale": 3,
    },
    "DocInvoiceAmt": {"type": ["number", "null"], "multipleOf": 0.001},
    "ExchangeRate": {
        "type": ["string", "null"],
        "format": "singer.decimal",
        "precision": 16,
        "scale": 10,
    },
    "Plain": {"type": ["number", "null"]},
    "LineCount": {"type": ["integer", "null"]},
    "Posted": {"type": ["boolean", "null"]},
    "UpdatedOn": {"type": ["string", "null"], "format": "date-time"},
    "InvoiceDate": {"type": ["string", "null"], "format": "date"},
    "Tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "Detail": {"type": ["object", "null"]},
}


def invoice(num: str, amt: str, **extra: Any) -> dict[str, Any]:
    return {"Company": "EPIC06", "InvoiceNum": num, "InvoiceAmt": amt, **extra}


def test_upsert_lands_decimals_exactly_and_last_record_wins(
    config, run_target, singer, table_rows, sql_sent
) -> None:
    messages = [
        singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"], "UpdatedOn"),
        singer.record("ap_invoices", invoice("1", "999.999", DocInvoiceAmt=Decimal("1.5"))),
        singer.record(
            "ap_invoices",
            invoice(
                "2",
                "0.1",
                DocInvoiceAmt=Decimal("0.1"),
                ExchangeRate="1.0000000001",
                Plain=Decimal("0.3"),
                LineCount=9007199254740993,
                Posted=True,
            ),
        ),
        singer.record("ap_invoices", invoice("3", "-0.005", DocInvoiceAmt=Decimal("-0.005"))),
        # Same key again in the same batch: the last record wins.
        singer.record(
            "ap_invoices",
            invoice("1", "12345678901234.567", DocInvoiceAmt=Decimal("12345678901234.567")),
        ),
    ]
    run_target(config, messages)
    rows = table_rows(
        "AP_INVOICES",
        "INVOICENUM, CAST(INVOICEAMT AS VARCHAR), CAST(DOCINVOICEAMT AS VARCHAR), "
        "CAST(EXCHANGERATE AS VARCHAR), CAST(PLAIN AS VARCHAR), CAST(LINECOUNT AS VARCHAR), POSTED",
    )
    assert rows == [
        ("1", "12345678901234.567", "12345678901234.567", None, None, None, None),
        ("2", "0.100", "0.100", "1.0000000001", "0.300000000", "9007199254740993", True),
        ("3", "-0.005", "-0.005", None, None, None, None),
    ]
    sent = sql_sent()
    create = next(s for s in sent if s.startswith("CREATE TABLE") and "AP_INVOICES" in s)
    assert '"INVOICEAMT" NUMBER(18,3)' in create
    assert '"DOCINVOICEAMT" NUMBER(38,3)' in create
    assert '"EXCHANGERATE" NUMBER(16,10)' in create
    assert '"PLAIN" NUMBER(38,9)' in create
    assert '"LINECOUNT" NUMBER(38,0)' in create
    assert "FLOAT" not in create
    assert "DOUBLE" not in create
    # fakesnow does not raise 100090 for duplicate MERGE keys, so prove the dedupe is in the SQL.
    merge = next(s for s in sent if s.startswith("MERGE INTO"))
    assert (
        'QUALIFY ROW_NUMBER() OVER (PARTITION BY "COMPANY", "INVOICENUM" '
        'ORDER BY "_SDC_SEQUENCE" DESC) = 1'
    ) in merge
    assert "SEQ8" not in merge


def test_an_older_extraction_never_overwrites_a_newer_row(
    config, run_target, singer, table_rows
) -> None:
    # Replaying an old dead-letter batch after newer runs (or any late batch) must not bring
    # back older versions: a matched row is updated only by a copy extracted no earlier.
    schema = singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"], "UpdatedOn")

    def extracted(at: str, number: str, amount: str) -> dict[str, Any]:
        return {**singer.record("ap_invoices", invoice(number, amount)), "time_extracted": at}

    run_target(config, [schema, extracted("2026-11-01T08:00:00+00:00", "1", "1.000")])
    run_target(config, [schema, extracted("2026-11-02T08:00:00+00:00", "1", "2.000")])
    # The first version again, as a replay of its batch would load it, plus a new row.
    run_target(
        config,
        [
            schema,
            extracted("2026-11-01T08:00:00+00:00", "1", "1.000"),
            extracted("2026-11-01T08:00:00+00:00", "2", "5.000"),
        ],
    )
    assert table_rows("AP_INVOICES", "INVOICENUM, CAST(INVOICEAMT AS VARCHAR)") == [
        ("1", "2.000"),
        ("2", "5.000"),
    ]
    # The same extraction time (a rerun) and a newer one still update.
    run_target(config, [schema, extracted("2026-11-02T08:00:00+00:00", "1", "3.000")])
    run_target(config, [schema, extracted("2026-11-03T08:00:00+00:00", "2", "6.000")])
    assert table_rows("AP_INVOICES", "INVOICENUM, CAST(INVOICEAMT AS VARCHAR)") == [
        ("1", "3.000"),
        ("2", "6.000"),
    ]


def test_one_batch_is_put_copied_to_staging_then_merged_and_audited_in_one_transaction(
    config, run_target, singer, sql_sent
) -> None:
    run_target(
        config,
        [
            singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"]),
            *(singer.record("ap_invoices", invoice(str(i), f"{i}.25")) for i in range(50)),
        ],
    )
    sent = sql_sent()
    put = next(i for i, s in enumerate(sent) if s.startswith("PUT "))
    verbs = [s.split()[0] for s in sent[put:]]
    # The staging table is the sink's own: filled before the transaction (by the stager, while
    # an earlier batch merges), so the transaction holds only what must be atomic.
    assert verbs[:7] == ["PUT", "TRUNCATE", "COPY", "BEGIN", "MERGE", "INSERT", "COMMIT"]
    assert "@~" not in sent[put]
    assert "AUTO_COMPRESS=FALSE" in sent[put]
    assert "TYPE = PARQUET" in sent[put + 2]
    insert = sent[put + 5]
    assert '"_SDC_LOAD_AUDIT"' in insert
    # No record ever travels in an INSERT: the only INSERT is the audit row.
    assert [s for s in sent if s.startswith("INSERT") and "_SDC_LOAD_AUDIT" not in s] == []
    assert [s for s in sent if "TEMPORARY" in s] == []


def test_timestamps_keep_their_instant_and_nested_values_become_variant(
    config, run_target, singer, table_rows
) -> None:
    run_target(
        config,
        [
            singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"]),
            singer.record(
                "ap_invoices",
                invoice(
                    "1",
                    "1",
                    UpdatedOn="2024-03-10T01:30:00-06:00",
                    InvoiceDate="2024-03-09",
                    Tags=["a", "b"],
                    Detail={"amount": Decimal("10.10"), "lines": [1, 2]},
                ),
            ),
        ],
    )
    [(updated, date, tags, detail)] = table_rows(
        "AP_INVOICES", "UPDATEDON, INVOICEDATE, TAGS, DETAIL"
    )
    assert updated == dt.datetime(2024, 3, 10, 7, 30, tzinfo=dt.UTC)
    assert date == dt.date(2024, 3, 9)
    assert tags.replace(" ", "") == '["a","b"]'
    assert '"lines":[1,2]' in detail.replace(" ", "")


def test_timestamp_type_ntz_is_used_when_configured(config, run_target, singer, sql_sent) -> None:
    config["timestamp_type"] = "TIMESTAMP_NTZ"
    run_target(
        config,
        [
            singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"]),
            singer.record("ap_invoices", invoice("1", "1", UpdatedOn="2024-03-10T01:30:00Z")),
        ],
    )
    create = next(s for s in sql_sent() if s.startswith("CREATE TABLE") and "AP_INVOICES" in s)
    assert '"UPDATEDON" TIMESTAMP_NTZ' in create


def test_append_only_keeps_every_record(config, run_target, singer, table_rows, sql_sent) -> None:
    config["load_method"] = "append-only"
    records = [invoice("1", "1.5"), invoice("1", "2.5"), invoice("2", "3")]
    run_target(
        config,
        [singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"])]
        + [singer.record("ap_invoices", r) for r in records],
    )
    assert table_rows("AP_INVOICES", "INVOICENUM, CAST(INVOICEAMT AS VARCHAR)", "1, 2") == [
        ("1", "1.500"),
        ("1", "2.500"),
        ("2", "3.000"),
    ]
    assert not [s for s in sql_sent() if s.startswith("MERGE")]


def test_append_only_works_for_streams_without_keys(config, run_target, singer, table_rows) -> None:
    config["load_method"] = "append-only"
    props = {"Note": {"type": "string"}, "Amount": {"type": "number", "multipleOf": 0.01}}
    run_target(
        config,
        [singer.schema("notes", props)]
        + [singer.record("notes", {"Note": "x", "Amount": Decimal("1.10")})] * 2,
    )
    assert table_rows("NOTES", "NOTE, CAST(AMOUNT AS VARCHAR)") == [("x", "1.10"), ("x", "1.10")]


def test_upsert_fails_clearly_for_a_stream_without_keys(config, run_target, singer) -> None:
    with pytest.raises(TargetConfigError, match=r"no key_properties.*load_method .upsert."):
        run_target(config, [singer.schema("notes", {"Note": {"type": "string"}})])


def test_overwrite_replaces_the_table_once_per_run(config, run_target, singer, table_rows) -> None:
    schema = singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"])
    run_target(
        config,
        [
            schema,
            singer.record("ap_invoices", invoice("1", "1")),
            singer.record("ap_invoices", invoice("2", "2")),
        ],
    )
    config.update(load_method="overwrite", batch_size_rows=2)
    run_target(
        config,
        [schema] + [singer.record("ap_invoices", invoice(n, "9")) for n in ("3", "4", "5", "4")],
    )
    # Run two replaced run one's rows; its second batch added to (and deduped within) the new ones.
    assert table_rows("AP_INVOICES", "INVOICENUM, CAST(INVOICEAMT AS VARCHAR)") == [
        ("3", "9.000"),
        ("4", "9.000"),
        ("5", "9.000"),
    ]


def test_overwrite_replaces_once_even_when_the_schema_changes_mid_run(
    config, run_target, singer, table_rows
) -> None:
    schema = singer.schema("ap_invoices", INVOICE_PROPS, ["Company", "InvoiceNum"])
    run_target(config, [schema, singer.record("ap_invoices", invoice("old", "1"))])
    wider = singer.schema(
        "ap_invoices",
        {**INVOICE_PROPS, "Memo": {"type": ["string", "null"]}},
        ["Company", "InvoiceNum"],
    )
    config["load_method"] = "overwrite"
    run_target(
        config,
        [
            schema,
            singer.record("ap_invoices", invoice("1", "1")),
            wider,  # a new sink for the same table: it must not wipe batch one
            singer.record("ap_invoices", invoice("2", "2", Memo="m")),
        ],
    )
    assert table_rows("AP_INVOICES", "INVOICENUM, MEMO") == [("1", None), ("2", "m")]


def test_time_fields_travel_as_parquet_text_and_load_into_a_time_column(
    config, run_target, singer, table_rows, sql_sent, tmp_path
) -> None:
    # Snowflake documents its Parquet reader for TIMESTAMP logical types, not TIME: a time of
    # day is staged as text "HH:MM:SS.ffffff" (Parquet BYTE_ARRAY/String) and TO_TIME'd.
    import pyarrow.parquet as pq
    from target_snowflake_finance.types import column_type, to_arrow

    ctype = column_type({"type": ["string", "null"], "format": "time"})
    column = to_arrow(["08:30:00", "23:59:59.999999", None, "00:00:00.5"], ctype)
    pq.write_table(pa.table({"C0": column}), tmp_path / "t.parquet")
    parquet = pq.ParquetFile(tmp_path / "t.parquet").schema.column(0)
    assert parquet.physical_type == "BYTE_ARRAY"
    assert str(parquet.logical_type) == "String"
    assert column.to_pylist() == ["08:30:00.000000", "23:59:59.999999", None, "00:00:00.500000"]

    props = {"Id": {"type": "integer"}, "StartTime": {"type": ["string", "null"], "format": "time"}}
    run_target(
        config,
        [
            singer.schema("shifts", props, ["Id"]),
            singer.record("shifts", {"Id": 1, "StartTime": "08:30:00"}),
            singer.record("shifts", {"Id": 2, "StartTime": "23:59:59.999999"}),
            singer.record("shifts", {"Id": 3, "StartTime": None}),
        ],
    )
    assert table_rows("SHIFTS", "ID, CAST(STARTTIME AS VARCHAR)") == [
        (1, "08:30:00"),
        (2, "23:59:59.999999"),
        (3, None),
    ]
    sent = sql_sent()
    create = next(s for s in sent if s.startswith("CREATE TABLE") and "SHIFTS" in s)
    assert '"STARTTIME" TIME' in create
    staging = next(s for s in sent if s.startswith("CREATE TRANSIENT TABLE"))
    assert '"C1" VARCHAR' in staging
    merge = next(s for s in sent if s.startswith("MERGE INTO"))
    assert "TO_TIME(\"C1\", 'HH24:MI:SS.FF6')" in merge
