"""The statements' text, byte for byte as the sink built it before the SQL moved to sql.py.

The expected strings were taken from the sink's own methods before the move; the load tests
prove the statements work, these that a refactor leaves their text alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from target_snowflake_finance import sql
from target_snowflake_finance.table_plan import TablePlan
from target_snowflake_finance.types import ColumnType, column_type

TABLE = '"DB"."SCH"."AP_INVOICE"'
STAGING = '"DB"."SCH"."AP_INVOICE__STAGE_0"'
STAGE = '"DB"."SCH"."LOAD_STAGE"'

# Field order = staging column order (C0, C1, ...).
SCHEMA: dict[str, dict[str, Any]] = {
    "COMPANY": {"type": "string"},
    "INVOICENUM": {"type": "integer"},
    "INVOICEAMT": {"type": ["number", "null"], "multipleOf": 0.01},
    "NOTES": {"type": ["object", "null"]},
    "SYSREVID": {"type": ["integer", "null"]},
    "_SDC_EXTRACTED_AT": {"type": ["string", "null"], "format": "date-time"},
    "_SDC_DELETED_AT": {"type": ["string", "null"], "format": "date-time"},
    "_SDC_SEQUENCE": {"type": "integer"},
}
COLUMNS = list(SCHEMA)
TYPES: list[ColumnType] = [column_type(s) for s in SCHEMA.values()]
KEYS = ["COMPANY", "INVOICENUM"]

MERGE_VERSIONED = (
    'MERGE INTO "DB"."SCH"."AP_INVOICE" t USING (SELECT * FROM (SELECT "C0" AS '
    '"COMPANY", "C1" AS "INVOICENUM", "C2" AS "INVOICEAMT", PARSE_JSON("C3") AS '
    '"NOTES", "C4" AS "SYSREVID", "C5" AS "_SDC_EXTRACTED_AT", "C6" AS '
    '"_SDC_DELETED_AT", "C7" AS "_SDC_SEQUENCE" FROM '
    '"DB"."SCH"."AP_INVOICE__STAGE_0") QUALIFY ROW_NUMBER() OVER (PARTITION BY '
    '"COMPANY", "INVOICENUM" ORDER BY "_SDC_SEQUENCE" DESC) = 1) s ON t."COMPANY" = '
    's."COMPANY" AND t."INVOICENUM" = s."INVOICENUM" WHEN MATCHED AND '
    's."_SDC_DELETED_AT" IS NOT NULL THEN UPDATE SET "_SDC_EXTRACTED_AT" = '
    's."_SDC_EXTRACTED_AT", "_SDC_DELETED_AT" = s."_SDC_DELETED_AT", "_SDC_SEQUENCE" '
    '= s."_SDC_SEQUENCE" WHEN MATCHED AND (CASE WHEN s."SYSREVID" IS NOT NULL AND '
    't."SYSREVID" IS NOT NULL THEN (s."SYSREVID" > t."SYSREVID" OR (s."SYSREVID" = '
    't."SYSREVID" AND (s."_SDC_EXTRACTED_AT" IS NULL OR t."_SDC_EXTRACTED_AT" IS NULL '
    'OR s."_SDC_EXTRACTED_AT" >= t."_SDC_EXTRACTED_AT"))) ELSE (s."_SDC_EXTRACTED_AT" '
    'IS NULL OR t."_SDC_EXTRACTED_AT" IS NULL OR s."_SDC_EXTRACTED_AT" >= '
    't."_SDC_EXTRACTED_AT") END) THEN UPDATE SET "INVOICEAMT" = s."INVOICEAMT", '
    '"NOTES" = s."NOTES", "SYSREVID" = s."SYSREVID", "_SDC_EXTRACTED_AT" = '
    's."_SDC_EXTRACTED_AT", "_SDC_DELETED_AT" = s."_SDC_DELETED_AT", "_SDC_SEQUENCE" '
    '= s."_SDC_SEQUENCE" WHEN NOT MATCHED THEN INSERT ("COMPANY", "INVOICENUM", '
    '"INVOICEAMT", "NOTES", "SYSREVID", "_SDC_EXTRACTED_AT", "_SDC_DELETED_AT", '
    '"_SDC_SEQUENCE") VALUES (s."COMPANY", s."INVOICENUM", s."INVOICEAMT", s."NOTES", '
    's."SYSREVID", s."_SDC_EXTRACTED_AT", s."_SDC_DELETED_AT", s."_SDC_SEQUENCE")'
)

MERGE_UNVERSIONED = (
    'MERGE INTO "DB"."SCH"."AP_INVOICE" t USING (SELECT * FROM (SELECT "C0" AS '
    '"COMPANY", "C1" AS "INVOICENUM", TO_TIME("C2", \'HH24:MI:SS.FF6\') AS '
    '"POSTEDTIME", "C3" AS "_SDC_SEQUENCE" FROM "DB"."SCH"."AP_INVOICE__STAGE_0") '
    'QUALIFY ROW_NUMBER() OVER (PARTITION BY "COMPANY", "INVOICENUM" ORDER BY '
    '"_SDC_SEQUENCE" DESC) = 1) s ON t."COMPANY" = s."COMPANY" AND t."INVOICENUM" = '
    's."INVOICENUM" WHEN MATCHED THEN UPDATE SET "POSTEDTIME" = s."POSTEDTIME", '
    '"_SDC_SEQUENCE" = s."_SDC_SEQUENCE" WHEN NOT MATCHED THEN INSERT ("COMPANY", '
    '"INVOICENUM", "POSTEDTIME", "_SDC_SEQUENCE") VALUES (s."COMPANY", '
    's."INVOICENUM", s."POSTEDTIME", s."_SDC_SEQUENCE")'
)

APPEND = (
    'INSERT INTO "DB"."SCH"."AP_INVOICE" ("COMPANY", "INVOICENUM", "INVOICEAMT", '
    '"NOTES", "SYSREVID", "_SDC_EXTRACTED_AT", "_SDC_DELETED_AT", "_SDC_SEQUENCE") '
    'SELECT "C0" AS "COMPANY", "C1" AS "INVOICENUM", "C2" AS "INVOICEAMT", '
    'PARSE_JSON("C3") AS "NOTES", "C4" AS "SYSREVID", "C5" AS "_SDC_EXTRACTED_AT", '
    '"C6" AS "_SDC_DELETED_AT", "C7" AS "_SDC_SEQUENCE" FROM '
    '"DB"."SCH"."AP_INVOICE__STAGE_0"'
)


def test_merge_keeps_later_versions_and_only_marks_tombstones() -> None:
    text = sql.merge(
        TABLE,
        STAGING,
        COLUMNS,
        TYPES,
        KEYS,
        sequence="_SDC_SEQUENCE",
        version="SYSREVID",
        extracted_at="_SDC_EXTRACTED_AT",
        deleted="_SDC_DELETED_AT",
        marks=["_SDC_EXTRACTED_AT", "_SDC_DELETED_AT", "_SDC_SEQUENCE"],
    )
    assert text == MERGE_VERSIONED


def test_merge_without_version_or_metadata_updates_every_matched_row() -> None:
    columns = ["COMPANY", "INVOICENUM", "POSTEDTIME", "_SDC_SEQUENCE"]
    types = [
        column_type({"type": "string"}),
        column_type({"type": "integer"}),
        column_type({"type": ["string", "null"], "format": "time"}),
        column_type({"type": "integer"}),
    ]
    text = sql.merge(TABLE, STAGING, columns, types, KEYS, sequence="_SDC_SEQUENCE")
    assert text == MERGE_UNVERSIONED


def test_append_inserts_every_staged_row() -> None:
    assert sql.append(TABLE, STAGING, COLUMNS, TYPES) == APPEND


def plan_of(load_method: str) -> TablePlan:
    """The plan of a stream whose fields map to COLUMNS (`SysRevID` orders versions)."""
    fields = ["Company", "InvoiceNum", "InvoiceAmt", "Notes", "SysRevID"]
    fields += ["_sdc_extracted_at", "_sdc_deleted_at", "_sdc_sequence"]
    return TablePlan.build(
        table_ref=TABLE,
        fields=fields,
        columns=dict(zip(fields, COLUMNS, strict=True)),
        types=dict(zip(fields, TYPES, strict=True)),
        key_fields=["Company", "InvoiceNum"],
        load_method=load_method,
        replication_key="InvoiceNum",
        staging_refs=[STAGING],
        temporary_staging=False,
    )


def test_a_table_plan_holds_the_load_statement_of_each_staging_table() -> None:
    assert plan_of("upsert").load_sql == {STAGING: MERGE_VERSIONED}
    assert plan_of("overwrite").load_sql == {STAGING: MERGE_VERSIONED}
    assert plan_of("append-only").load_sql == {STAGING: APPEND}
    assert plan_of("upsert").create_staging_sql == {
        STAGING: sql.create_staging(STAGING, TYPES, temporary=False)
    }


def test_staging_tables_have_positional_columns() -> None:
    cols = (
        '"C0" VARCHAR, "C1" NUMBER(38,0), "C2" NUMBER(38,2), "C3" VARCHAR, "C4" '
        'NUMBER(38,0), "C5" TIMESTAMP_TZ, "C6" TIMESTAMP_TZ, "C7" NUMBER(38,0)'
    )
    assert sql.create_staging(STAGING, TYPES, temporary=False) == (
        f"CREATE TRANSIENT TABLE IF NOT EXISTS {STAGING} ({cols})"
    )
    assert sql.create_staging(STAGING, TYPES, temporary=True) == (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} ({cols})"
    )


def test_put_and_copy_of_a_batch() -> None:
    prefix = "load-1/batch-2/1"
    assert sql.put(Path("/tmp/w/batch-2.parquet"), STAGE, prefix, "data") == (
        f"PUT 'file:///tmp/w/batch-2.parquet' @{STAGE}/load-1/batch-2/1/data/ "
        "AUTO_COMPRESS=FALSE OVERWRITE=TRUE"
    )
    assert sql.copy_into_staging(STAGING, STAGE, prefix) == (
        f"COPY INTO {STAGING} FROM @{STAGE}/load-1/batch-2/1/data/ "
        "FILE_FORMAT = (TYPE = PARQUET USE_VECTORIZED_SCANNER = TRUE) "
        "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE FORCE = TRUE"
    )
    assert sql.copy_rejects('"DB"."SCH"."REJECTS"', STAGE, prefix) == (
        f'COPY INTO "DB"."SCH"."REJECTS" FROM @{STAGE}/load-1/batch-2/1/rejects/ '
        "FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE FORCE = TRUE"
    )


def test_table_ddl_and_stage_cleanup() -> None:
    comment = '\'{"key_properties": ["Company"]}\''
    amount = TYPES[2]
    assert sql.create_table(TABLE, [("COMPANY", TYPES[0]), ("INVOICEAMT", amount)], comment) == (
        f"CREATE TABLE IF NOT EXISTS {TABLE} "
        f'("COMPANY" VARCHAR, "INVOICEAMT" NUMBER(38,2)) COMMENT = {comment}'
    )
    assert sql.add_column(TABLE, 'Odd"Name', amount) == (
        f'ALTER TABLE {TABLE} ADD COLUMN "Odd""Name" NUMBER(38,2)'
    )
    assert sql.comment_on_table(TABLE, comment) == f"COMMENT ON TABLE {TABLE} IS {comment}"
    assert sql.table_comment("DB") == (
        'SELECT comment FROM "DB".information_schema.tables '
        "WHERE table_schema = %(schema)s AND table_name = %(table)s"
    )
    assert sql.remove(STAGE, "load-1/batch-2") == f"REMOVE @{STAGE}/load-1/batch-2/"
