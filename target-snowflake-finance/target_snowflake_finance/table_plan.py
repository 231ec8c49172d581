"""A stream's table plan: its columns, types, keys and load statements, worked out once.

The sink prepares its table (create, extend or check it) once, when its SCHEMA arrives; a new
SCHEMA makes a new sink and so a new plan. Every batch then uses the same plan instead of working
the columns and the MERGE text out again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from target_snowflake_finance import sql
from target_snowflake_finance.batch import DELETED_FIELD, METADATA_FIELDS, SEQUENCE_FIELD
from target_snowflake_finance.types import ColumnType


def version_field(fields: Sequence[str], replication_key: str | None) -> str | None:
    """The field whose value orders versions of a row: `SysRevID`, else the replication key.

    Both come from the source; the extracting host's clock (`_sdc_extracted_at`) only breaks
    ties, or decides when a row carries no version.
    """
    for f in fields:
        if f.lower() == "sysrevid":
            return f
    if replication_key in fields:
        return replication_key
    return None


@dataclass(frozen=True)
class TablePlan:
    """How one stream's batches land in its table, fixed once the table is prepared."""

    table_ref: str
    #: Record fields in staging column order (C0, C1, …).
    fields: tuple[str, ...]
    #: Field → column name, as the table spells it.
    columns: Mapping[str, str]
    #: Field → column type (a user's narrower NUMBER where the table has one).
    types: Mapping[str, ColumnType]
    key_fields: tuple[str, ...]
    load_method: str
    replication_key: str | None
    #: Staging table reference → the statement that loads the batch copied into it.
    load_sql: Mapping[str, str]
    #: Staging table reference → the statement that creates it.
    create_staging_sql: Mapping[str, str]

    @classmethod
    def build(
        cls,
        *,
        table_ref: str,
        fields: Sequence[str],
        columns: Mapping[str, str],
        types: Mapping[str, ColumnType],
        key_fields: Sequence[str],
        load_method: str,
        replication_key: str | None,
        staging_refs: Sequence[str],
        temporary_staging: bool,
    ) -> TablePlan:
        column_list = [columns[f] for f in fields]
        type_list = [types[f] for f in fields]
        upsert = bool(key_fields) and load_method != "append-only"
        version = version_field(fields, replication_key)

        def load(staging: str) -> str:
            if not upsert:
                return sql.append(table_ref, staging, column_list, type_list)
            # Upsert on the keys; the version, extraction time and tombstone columns present.
            return sql.merge(
                table_ref,
                staging,
                column_list,
                type_list,
                [columns[k] for k in key_fields],
                sequence=columns[SEQUENCE_FIELD],
                version=columns[version] if version is not None else None,
                extracted_at=columns.get("_sdc_extracted_at"),
                deleted=columns.get(DELETED_FIELD),
                marks=[columns[f] for f in METADATA_FIELDS if f in columns],
            )

        return cls(
            table_ref=table_ref,
            fields=tuple(fields),
            columns=dict(columns),
            types=dict(types),
            key_fields=tuple(key_fields),
            load_method=load_method,
            replication_key=replication_key,
            load_sql={s: load(s) for s in staging_refs},
            create_staging_sql={
                s: sql.create_staging(s, type_list, temporary=temporary_staging)
                for s in staging_refs
            },
        )
