"""Issue point 4: table management, table_mapping, column_case and safe identifiers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from target_snowflake_finance.errors import TargetConfigError
from target_snowflake_finance.naming import apply_case, quote

PROPS: dict[str, Any] = {
    "Company": {"type": "string"},
    "InvoiceNum": {"type": "string"},
    "DocInvoiceAmt": {"type": ["number", "null"], "multipleOf": 0.001},
}
KEYS = ["Company", "InvoiceNum"]


def test_new_fields_become_new_columns(config, run_target, singer, table_rows) -> None:
    run_target(
        config,
        [
            singer.schema("ap_invoices", PROPS, KEYS),
            singer.record("ap_invoices", {"Company": "A", "InvoiceNum": "1", "DocInvoiceAmt": 1}),
        ],
    )
    wider = {**PROPS, "TermsCode": {"type": ["string", "null"]}}
    run_target(
        config,
        [
            singer.schema("ap_invoices", wider, KEYS),
            singer.record(
                "ap_invoices",
                {"Company": "A", "InvoiceNum": "2", "DocInvoiceAmt": 2, "TermsCode": "N30"},
            ),
        ],
    )
    assert table_rows("AP_INVOICES", "INVOICENUM, TERMSCODE") == [("1", None), ("2", "N30")]


def test_incompatible_type_change_fails_clearly_and_loses_nothing(
    config, run_target, singer, table_rows
) -> None:
    run_target(
        config,
        [
            singer.schema("ap_invoices", PROPS, KEYS),
            singer.record(
                "ap_invoices",
                {"Company": "A", "InvoiceNum": "1", "DocInvoiceAmt": Decimal("10.125")},
            ),
        ],
    )
    for changed in (
        {"type": ["number", "null"], "multipleOf": 0.00001},  # more decimals than the column
        {"type": ["boolean", "null"]},
    ):
        with pytest.raises(TargetConfigError) as excinfo:
            run_target(
                config,
                [
                    singer.schema("ap_invoices", {**PROPS, "DocInvoiceAmt": changed}, KEYS),
                    singer.record(
                        "ap_invoices", {"Company": "A", "InvoiceNum": "1", "DocInvoiceAmt": None}
                    ),
                ],
            )
        assert "DOCINVOICEAMT" in str(excinfo.value)
        assert "NUMBER(38,3)" in str(excinfo.value)
        assert "nothing was loaded" in str(excinfo.value)
    assert table_rows("AP_INVOICES", "INVOICENUM, CAST(DOCINVOICEAMT AS VARCHAR)") == [
        ("1", "10.125")
    ]


def test_table_mapping_writes_into_a_table_of_the_users_design(
    config, run_target, singer, snowflake_sandbox, schema_name, table_rows, loader_objects
) -> None:
    loader_objects()
    snowflake_sandbox.query(
        f'CREATE TABLE "SANDBOX_DB"."{schema_name}"."AP_INVOICE_FACT" '
        '(CO VARCHAR, INV_NO VARCHAR, AMOUNT_DOC NUMBER(18,3), "_SDC_LOAD_ID" VARCHAR, '
        '"_SDC_EXTRACTED_AT" TIMESTAMP_TZ, "_SDC_RECEIVED_AT" TIMESTAMP_TZ, '
        '"_SDC_BATCHED_AT" TIMESTAMP_TZ, "_SDC_DELETED_AT" TIMESTAMP_TZ, '
        '"_SDC_SEQUENCE" NUMBER(38,0), "_SDC_TABLE_VERSION" NUMBER(38,0), '
        '"_SDC_SYNC_STARTED_AT" NUMBER(38,0))'
    )
    config.update(
        manage_tables=False,
        table_mapping={
            "ap_invoices": {
                "table": "ap_invoice_fact",
                "columns": {"Company": "CO", "InvoiceNum": "INV_NO", "DocInvoiceAmt": "AMOUNT_DOC"},
            }
        },
    )
    run_target(
        config,
        [
            singer.schema("ap_invoices", PROPS, KEYS),
            singer.record(
                "ap_invoices",
                {"Company": "A", "InvoiceNum": "7", "DocInvoiceAmt": Decimal("-0.005")},
            ),
        ],
    )
    assert table_rows("AP_INVOICE_FACT", "CO, INV_NO, CAST(AMOUNT_DOC AS VARCHAR)") == [
        ("A", "7", "-0.005")
    ]


def test_manage_tables_false_reports_a_missing_table_before_any_data_moves(
    config, run_target, singer, sql_sent, loader_objects
) -> None:
    loader_objects()
    config.update(
        manage_tables=False,
        table_mapping={"ap_invoices": {"table": "NOT_THERE", "columns": {"Company": "CO"}}},
    )
    with pytest.raises(TargetConfigError, match=r"NOT_THERE.*does not exist"):
        run_target(
            config,
            [
                singer.schema("vendors", {"VendorNum": {"type": "integer"}}, ["VendorNum"]),
                singer.record("vendors", {"VendorNum": 1}),
            ],
        )
    assert not [s for s in sql_sent() if s.split()[0] in ("PUT", "COPY", "MERGE", "CREATE")]


def test_manage_tables_false_reports_a_missing_column_before_any_data_moves(
    config, run_target, singer, snowflake_sandbox, schema_name, sql_sent, loader_objects
) -> None:
    loader_objects()
    snowflake_sandbox.query(
        f'CREATE TABLE "SANDBOX_DB"."{schema_name}"."AP_INVOICES" '
        "(COMPANY VARCHAR, INVOICENUM VARCHAR)"
    )
    config["manage_tables"] = False
    with pytest.raises(TargetConfigError, match="lacks columns DOCINVOICEAMT"):
        run_target(
            config,
            [
                singer.schema("ap_invoices", PROPS, KEYS),
                singer.record("ap_invoices", {"Company": "A", "InvoiceNum": "1"}),
            ],
        )
    assert not [s for s in sql_sent() if s.split()[0] in ("PUT", "COPY", "MERGE", "ALTER")]


def test_column_case_snake(config, run_target, singer, table_rows, sql_sent) -> None:
    config["column_case"] = "snake"
    run_target(
        config,
        [
            singer.schema("APInvoices", PROPS, KEYS),
            singer.record("APInvoices", {"Company": "A", "InvoiceNum": "1", "DocInvoiceAmt": 5}),
        ],
    )
    create = next(s for s in sql_sent() if s.startswith("CREATE TABLE") and "AP_INVOICES" in s)
    assert '"DOC_INVOICE_AMT" NUMBER(38,3)' in create
    assert '"INVOICE_NUM" VARCHAR' in create
    assert table_rows("AP_INVOICES", "INVOICE_NUM, CAST(DOC_INVOICE_AMT AS VARCHAR)") == [
        ("1", "5.000")
    ]


def test_naming_policy() -> None:
    assert apply_case("DocInvoiceAmt", "upper") == "DOCINVOICEAMT"
    assert apply_case("DocInvoiceAmt", "snake") == "DOC_INVOICE_AMT"
    assert apply_case("APInvDtl", "snake") == "AP_INV_DTL"
    assert apply_case("agent:os:version", "snake") == "AGENT_OS_VERSION"
    assert apply_case("_sdc_load_id", "upper") == "_SDC_LOAD_ID"
    assert quote('a"b') == '"a""b"'


def test_reserved_words_mixed_case_and_odd_characters(
    config, run_target, singer, table_rows, sql_sent
) -> None:
    props = {
        "Order": {"type": "integer"},
        "GROUP": {"type": ["string", "null"]},
        "date": {"type": ["string", "null"], "format": "date"},
        "Select": {"type": ["string", "null"]},
        "amount (USD)": {"type": ["number", "null"], "multipleOf": 0.01},
        "agent:os.version": {"type": ["string", "null"]},
        "ünïcødé Name": {"type": ["string", "null"]},
    }
    record = {
        "Order": 1,
        "GROUP": "g",
        "date": "2024-02-29",
        "Select": "s",
        "amount (USD)": Decimal("1.25"),
        "agent:os.version": "10.13",
        "ünïcødé Name": "ü",
    }
    run_target(
        config,
        [
            singer.schema("Weird-Stream.Name", props, ["Order"]),
            singer.record("Weird-Stream.Name", record),
        ],
    )
    rows = table_rows(
        "WEIRD-STREAM.NAME",
        '"ORDER", "GROUP", "DATE", "SELECT", CAST("AMOUNT (USD)" AS VARCHAR), '
        '"AGENT:OS.VERSION", "ÜNÏCØDÉ NAME"',
    )
    assert rows[0][0] == 1
    assert rows[0][1:] == ("g", rows[0][2], "s", "1.25", "10.13", "ü")
    assert str(rows[0][2]) == "2024-02-29"
    merge = next(s for s in sql_sent() if s.startswith("MERGE"))
    assert '"WEIRD-STREAM.NAME"' in merge
    assert 't."ORDER" = s."ORDER"' in merge


def test_names_from_streams_fields_and_config_cannot_inject_sql(
    config, run_target, singer, snowflake_sandbox, schema_name, sql_sent
) -> None:
    evil_stream = 'x"; DROP TABLE "_SDC_LOAD_AUDIT"; --'
    evil_field = 'a" VARCHAR); DROP SCHEMA "X"; --'
    config["audit_table"] = 'AUDIT"; DROP TABLE X; --'
    run_target(
        config,
        [
            singer.schema(
                evil_stream, {"Id": {"type": "integer"}, evil_field: {"type": "string"}}, ["Id"]
            ),
            singer.record(evil_stream, {"Id": 1, evil_field: "v"}),
        ],
    )
    tables = {
        r[0]
        for r in snowflake_sandbox.query(
            "SELECT table_name FROM SANDBOX_DB.information_schema.tables "
            f"WHERE table_schema = '{schema_name}'"
        )
    }
    assert 'X"; DROP TABLE "_SDC_LOAD_AUDIT"; --' in tables
    assert 'AUDIT"; DROP TABLE X; --' in tables
    audit = snowflake_sandbox.query(
        f'SELECT STREAM, STATUS FROM "SANDBOX_DB"."{schema_name}"."AUDIT""; DROP TABLE X; --"'
    )
    assert audit == [(evil_stream, "committed")]
    columns = {
        r[0]
        for r in snowflake_sandbox.query(
            "SELECT column_name FROM SANDBOX_DB.information_schema.columns "
            f"WHERE table_schema = '{schema_name}' AND table_name LIKE 'X%'"
        )
    }
    assert evil_field.upper() in columns


def metadata_columns_ddl() -> str:
    """The `_sdc_*` columns a user-made table needs, as DDL (the README gives the same)."""
    from target_snowflake_finance.batch import METADATA_FIELDS

    kinds = {"_sdc_sequence": "NUMBER", "_sdc_table_version": "NUMBER", "_sdc_load_id": "VARCHAR"}
    kinds["_sdc_sync_started_at"] = "NUMBER"
    return ", ".join(f'"{f.upper()}" {kinds.get(f, "TIMESTAMP_TZ")}' for f in METADATA_FIELDS)


def test_a_user_table_with_quoted_lower_and_mixed_case_columns_is_named_as_it_is(
    config, run_target, singer, snowflake_sandbox, schema_name, sql_sent, table_rows, loader_objects
) -> None:
    # Snowflake matches quoted names exactly ("AMOUNT" is not "amount": error 000904); the
    # local Snowflake forgives case, so the SQL the target sends is what proves it.
    loader_objects()
    metadata = metadata_columns_ddl()
    snowflake_sandbox.query(
        f'CREATE TABLE "SANDBOX_DB"."{schema_name}"."PAYMENTS" '
        f'("id" NUMBER(38,0), "Amount" NUMBER(18,2), "memo" VARCHAR, {metadata})'
    )
    config.update(manage_tables=False, table_mapping={"payments": {"columns": {"Memo": "memo"}}})
    props = {
        "Id": {"type": "integer"},
        "Amount": {"type": ["number", "null"], "multipleOf": 0.01},
        "Memo": {"type": ["string", "null"]},
    }
    messages = [
        singer.schema("payments", props, ["Id"]),
        singer.record("payments", {"Id": 1, "Amount": Decimal("1.25"), "Memo": "a"}),
    ]
    run_target(config, messages)
    merge = next(s for s in sql_sent() if s.startswith("MERGE INTO"))
    assert 't."id" = s."id"' in merge
    assert '"Amount" = s."Amount"' in merge
    assert '"memo" = s."memo"' in merge
    assert '"ID"' not in merge
    assert '"AMOUNT"' not in merge
    assert '"MEMO"' not in merge
    rows = table_rows("PAYMENTS", '"id", CAST("Amount" AS VARCHAR), "memo"')
    assert rows == [(1, "1.25", "a")]


def test_a_second_run_creates_nothing_that_exists(config, run_target, singer, sql_sent) -> None:
    # CREATE SCHEMA IF NOT EXISTS needs CREATE SCHEMA on the database even when the schema
    # exists, and each CREATE needs a grant a loader role may not have.
    messages = [
        singer.schema("payments", {"Id": {"type": "integer"}}, ["Id"]),
        singer.record("payments", {"Id": 1}),
    ]
    run_target(config, messages)
    first = len(sql_sent())
    run_target(config, messages)
    creates = [s for s in sql_sent()[first:] if s.lstrip().upper().startswith("CREATE")]
    assert not [s for s in creates if " SCHEMA " in s]
    assert not [s for s in creates if "_SDC_LOAD_AUDIT" in s or "_SDC_REJECTS" in s]
    assert not [s for s in creates if '"PAYMENTS"' in s]


def test_the_start_up_check_looks_at_the_table_the_stream_loads_into(
    config, run_target, singer, snowflake_sandbox, schema_name, table_rows, loader_objects
) -> None:
    # With column_case snake a stream "APInvoices" loads into AP_INVOICES; a table_mapping entry
    # without `table` (columns only) must not make the start-up check look for APINVOICES.
    loader_objects()
    metadata = metadata_columns_ddl()
    snowflake_sandbox.query(
        f'CREATE TABLE "SANDBOX_DB"."{schema_name}"."AP_INVOICES" '
        f'("COMPANY" VARCHAR, "INVOICE_NUM" VARCHAR, "DOC_INVOICE_AMT" NUMBER(38,3), '
        f'"note" VARCHAR, {metadata})'
    )
    config.update(
        column_case="snake",
        manage_tables=False,
        table_mapping={"APInvoices": {"columns": {"Memo": "note"}}},
    )
    props = {**PROPS, "Memo": {"type": ["string", "null"]}}
    record = {"Company": "A", "InvoiceNum": "1", "DocInvoiceAmt": 5, "Memo": "m"}
    run_target(
        config,
        [singer.schema("APInvoices", props, KEYS), singer.record("APInvoices", record)],
    )
    assert table_rows("AP_INVOICES", 'INVOICE_NUM, CAST(DOC_INVOICE_AMT AS VARCHAR), "note"') == [
        ("1", "5.000", "m")
    ]
