"""The text of every statement a sink runs, built from plain values (audit SQL lives in audit.py).

Table, staging and stage references arrive already quoted (`naming.qualified`); column names
arrive as they are and are quoted here, so no name reaches SQL unquoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from target_snowflake_finance.naming import quote
from target_snowflake_finance.types import ColumnType

BEGIN = "BEGIN"
COMMIT = "COMMIT"


def staged(index: int) -> str:
    """Staging columns are positional, so no user name ever reaches COPY or Parquet."""
    return f"C{index}"


def staging_columns(types: Sequence[ColumnType]) -> str:
    return ", ".join(f"{quote(staged(i))} {t.staging_sql}" for i, t in enumerate(types))


def create_staging(staging: str, types: Sequence[ColumnType], *, temporary: bool) -> str:
    kind = "TEMPORARY" if temporary else "TRANSIENT"
    return f"CREATE {kind} TABLE IF NOT EXISTS {staging} ({staging_columns(types)})"


def drop_table(ref: str) -> str:
    return f"DROP TABLE IF EXISTS {ref}"


def truncate(ref: str) -> str:
    # Not DELETE: no per-row DML cost.
    return f"TRUNCATE TABLE {ref}"


def delete_all(table_ref: str) -> str:
    return f"DELETE FROM {table_ref}"


def create_table(table_ref: str, columns: Sequence[tuple[str, ColumnType]], comment: str) -> str:
    cols = ", ".join(f"{quote(name)} {ctype.sql}" for name, ctype in columns)
    return f"CREATE TABLE IF NOT EXISTS {table_ref} ({cols}) COMMENT = {comment}"


def add_column(table_ref: str, column: str, ctype: ColumnType) -> str:
    return f"ALTER TABLE {table_ref} ADD COLUMN {quote(column)} {ctype.sql}"


def table_comment(database: str) -> str:
    """The comment of one table (binds `schema` and `table`): where the keys it was loaded with
    are recorded."""
    return (
        f"SELECT comment FROM {quote(database)}.information_schema.tables "
        "WHERE table_schema = %(schema)s AND table_name = %(table)s"
    )


def comment_on_table(table_ref: str, comment: str) -> str:
    return f"COMMENT ON TABLE {table_ref} IS {comment}"


def put(file: Path, stage: str, prefix: str, part: str) -> str:
    """Upload as is (already Parquet, compressed inside) and replace a file of a failed try."""
    return f"PUT 'file://{file}' @{stage}/{prefix}/{part}/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE"


def remove(stage: str, prefix: str) -> str:
    return f"REMOVE @{stage}/{prefix}/"


def copy_into_staging(staging: str, stage: str, prefix: str) -> str:
    """FORCE: a retry copies the same file again into the emptied table."""
    return (
        f"COPY INTO {staging} FROM @{stage}/{prefix}/data/ "
        "FILE_FORMAT = (TYPE = PARQUET USE_VECTORIZED_SCANNER = TRUE) "
        "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE FORCE = TRUE"
    )


def copy_rejects(rejects_ref: str, stage: str, prefix: str) -> str:
    return (
        f"COPY INTO {rejects_ref} FROM @{stage}/{prefix}/rejects/ "
        "FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE "
        "FORCE = TRUE"
    )


def source_select(
    staging: str,
    columns: Sequence[str],
    types: Sequence[ColumnType],
    *,
    dedupe_keys: Sequence[str] = (),
    sequence: str | None = None,
) -> str:
    """The staging rows as target columns; with a `sequence`, only the last record per key."""
    exprs = ", ".join(
        f"{t.select_expr(quote(staged(i)))} AS {quote(c)}"
        for i, (c, t) in enumerate(zip(columns, types, strict=True))
    )
    sql = f"SELECT {exprs} FROM {staging}"
    if sequence is not None:
        # Last record wins within the batch, by the target's own sequence (not SEQ8()).
        keys = ", ".join(quote(k) for k in dedupe_keys)
        sql = (
            f"SELECT * FROM ({sql}) QUALIFY ROW_NUMBER() OVER "
            f"(PARTITION BY {keys} ORDER BY {quote(sequence)} DESC) = 1"
        )
    return sql


def merge(
    table_ref: str,
    staging: str,
    columns: Sequence[str],
    types: Sequence[ColumnType],
    keys: Sequence[str],
    *,
    sequence: str,
    version: str | None = None,
    extracted_at: str | None = None,
    deleted: str | None = None,
    marks: Sequence[str] = (),
) -> str:
    """Upsert the batch on `keys`: a tombstone (`deleted` set) updates only the `marks` columns,
    and a row already holding a later `version` (ties: `extracted_at`) stays."""
    cols = [quote(c) for c in columns]
    key_set = {quote(k) for k in keys}
    on = " AND ".join(f"t.{k} = s.{k}" for k in sorted(key_set))
    updates = ", ".join(f"{c} = s.{c}" for c in cols if c not in key_set)
    inserts = ", ".join(f"s.{c}" for c in cols)
    # A row already holding a later version stays: replaying an old dead-letter batch
    # after newer runs must not bring back older versions. The version is the source's
    # (SysRevID or replication key); extraction time only breaks ties or stands in.
    guard = ""
    if extracted_at is not None:
        at = quote(extracted_at)
        guard = f"(s.{at} IS NULL OR t.{at} IS NULL OR s.{at} >= t.{at})"
    if version is not None and quote(version) not in key_set:
        v = quote(version)
        newer = f"s.{v} > t.{v}" + (f" OR (s.{v} = t.{v} AND {guard})" if guard else "")
        guard = (
            f"(CASE WHEN s.{v} IS NOT NULL AND t.{v} IS NOT NULL THEN ({newer}) "
            f"ELSE {guard or 'TRUE'} END)"
        )
    # A tombstone (`deleted` set, other fields null) marks the row deleted and keeps its
    # values; a later live record clears the mark (it sets every column).
    tombstone = ""
    if deleted is not None:
        sets = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in marks)
        tombstone = f"WHEN MATCHED AND s.{quote(deleted)} IS NOT NULL THEN UPDATE SET {sets} "
    source = source_select(staging, columns, types, dedupe_keys=keys, sequence=sequence)
    return (
        f"MERGE INTO {table_ref} t USING ({source}) s ON {on} "
        + tombstone
        + (f"WHEN MATCHED {'AND ' + guard + ' ' if guard else ''}THEN UPDATE SET {updates} "
           if updates else "")
        + f"WHEN NOT MATCHED THEN INSERT ({', '.join(cols)}) VALUES ({inserts})"
    )  # fmt: skip


def append(
    table_ref: str, staging: str, columns: Sequence[str], types: Sequence[ColumnType]
) -> str:
    cols = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {table_ref} ({cols}) {source_select(staging, columns, types)}"
