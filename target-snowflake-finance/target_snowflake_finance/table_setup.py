"""A stream's table made ready before any of its data moves: created, extended or checked.

Safe when other runs do the same at once: another run may create the table (with its own
columns) or add a column between our look and our DDL; the table is then read again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from target_snowflake_finance import sql
from target_snowflake_finance.batch import LOAD_ID_FIELD, METADATA_FIELDS
from target_snowflake_finance.connector import Session
from target_snowflake_finance.errors import TargetConfigError, classify
from target_snowflake_finance.naming import NamingError, column_names, config_identifier, quote
from target_snowflake_finance.privileges import table_privileges
from target_snowflake_finance.services import LoadServices
from target_snowflake_finance.table_keys import keys_comment, recorded_keys, same_keys
from target_snowflake_finance.table_plan import TablePlan
from target_snowflake_finance.types import ColumnType, column_type, incompatibility

# Looks at a table that keeps changing under us before giving up.
ATTEMPTS = 4


def stream_columns(
    stream_name: str,
    properties: Mapping[str, Any],
    mapping: Mapping[str, Any],
    column_case: str,
    timestamp_type: str,
) -> tuple[list[str], dict[str, str], dict[str, ColumnType]]:
    """A stream's fields (plus `_sdc_load_id`), their column names and types, from its schema
    and its `table_mapping` entry."""
    fields = [*properties.keys()]
    if LOAD_ID_FIELD not in fields:
        fields.append(LOAD_ID_FIELD)
    overrides = {f: config_identifier(c) for f, c in (mapping.get("columns") or {}).items()}
    overrides.update({f: f.upper() for f in METADATA_FIELDS})
    try:
        columns = column_names(fields, column_case, overrides)
    except NamingError as e:
        raise TargetConfigError(f"stream {stream_name!r}: {e}") from None
    types = {f: column_type(properties.get(f, {}), timestamp_type) for f in fields}
    types[LOAD_ID_FIELD] = ColumnType("string", "VARCHAR")
    return fields, columns, types


@dataclass
class TableSetup:
    """Prepares one stream's table; `columns` and `types` follow the table as it is found."""

    session: Session
    services: LoadServices
    logger: logging.Logger
    stream_name: str
    table: str
    table_ref: str
    fields: list[str]
    columns: dict[str, str]
    types: dict[str, ColumnType]
    key_fields: list[str]
    load_method: str
    manage_tables: bool
    #: The keys this stream had earlier in this run (None: read the table's comment).
    keys_seen: list[str] | None

    def prepare(self) -> None:
        """Create, extend or check the table, reading it again while other runs change it."""
        for _ in range(ATTEMPTS):
            if self._prepare_once():
                return
        raise TargetConfigError(
            f"table {self.table_ref} kept changing while stream {self.stream_name!r} prepared "
            "it (other runs altering it?); rerun"
        )

    def plan(
        self, replication_key: str | None, staging_refs: list[str], temporary_staging: bool
    ) -> TablePlan:
        """How batches land in the table as `prepare` found or made it."""
        return TablePlan.build(
            table_ref=self.table_ref,
            fields=self.fields,
            columns=self.columns,
            types=self.types,
            key_fields=self.key_fields,
            load_method=self.load_method,
            replication_key=replication_key,
            staging_refs=staging_refs,
            temporary_staging=temporary_staging,
        )

    def _prepare_once(self) -> bool:
        """One look at the table and the DDL it needs; False when it must be read again."""
        existing = self.session.existing_columns(self.table)
        if existing is None:
            self._create()
            return False  # a run that created it first may have other columns
        self.services.grants.require_table(
            self.table, table_privileges(self.load_method, bool(self.key_fields)), self.stream_name
        )
        self._check_keys()
        missing = self._match(existing)
        self._check_can_add(missing)
        return self._add(missing)

    def _create(self) -> None:
        if not self.manage_tables:
            raise TargetConfigError(
                f"table {self.table_ref} for stream {self.stream_name!r} does not exist and "
                "manage_tables is false: create it, map the stream to an existing table "
                "with table_mapping, or set manage_tables to true"
            )
        columns = [(self.columns[f], self.types[f]) for f in self.fields]
        comment = keys_comment(self.key_fields)
        self.session.execute(sql.create_table(self.table_ref, columns, comment))
        self.services.grants.table_created(self.table)

    def _match(self, existing: Mapping[str, ColumnType]) -> list[str]:
        """Match each field to the table's column; returns the fields it lacks, raises when a
        column cannot take its field's values."""
        by_upper = {name.upper(): (name, ctype) for name, ctype in existing.items()}
        missing, conflicts = [], []
        for f in self.fields:
            column = self.columns[f]
            name, found = (
                (column, existing[column])
                if column in existing
                else by_upper.get(column.upper(), (None, None))
            )
            if found is None or name is None:
                missing.append(f)
                continue
            # A user's table may have quoted lower- or mixed-case names: Snowflake matches
            # quoted names exactly (000904 otherwise), so the SQL names the column as it is.
            self.columns[f] = name
            reason = incompatibility(found, self.types[f])
            if reason:
                conflicts.append(f"column {column} (field {f!r}): {reason}")
            elif found.kind == self.types[f].kind == "number":
                # Stage and check values against the column as it is (e.g. a user's
                # NUMBER(18,3)): a value that does not fit becomes an invalid record.
                self.types[f] = found
        if conflicts:
            raise TargetConfigError(
                f"table {self.table_ref} cannot take stream {self.stream_name!r} without losing "
                "data; nothing was loaded. " + "; ".join(conflicts) + ". Change the column "
                "type yourself (e.g. add a new column and backfill) or map the field to another "
                "column with table_mapping"
            )
        return missing

    def _check_can_add(self, missing: list[str]) -> None:
        """Refuse, naming the fix, when the missing columns may not be added."""
        if missing and not self.manage_tables:
            names = ", ".join(f"{self.columns[f]} (field {f!r})" for f in missing)
            raise TargetConfigError(
                f"table {self.table_ref} lacks columns {names} for stream {self.stream_name!r} "
                "and manage_tables is false: add them, map the fields with "
                "table_mapping.columns, or set manage_tables to true"
            )
        if missing and not self.services.grants.owns_table(self.table):
            adds = "; ".join(
                sql.add_column(self.table_ref, self.columns[f], self.types[f]) for f in missing
            )
            role = self.services.grants.role_name
            raise TargetConfigError(
                f"table {self.table_ref} lacks columns for stream {self.stream_name!r} and role "
                f"{role} cannot add them (ADD COLUMN needs OWNERSHIP of the "
                f"table); nothing was loaded. As its owner run: {adds}; or map the fields with "
                "table_mapping.columns"
            )

    def _add(self, missing: list[str]) -> bool:
        """ALTER TABLE ADD COLUMN for each missing field; False when another run added one."""
        for f in missing:
            self.logger.info(
                "Adding column %s %s to %s", self.columns[f], self.types[f].sql, self.table_ref
            )
            column = quote(self.columns[f])
            try:
                self.session.execute(sql.add_column(self.table_ref, self.columns[f], self.types[f]))
            except Exception as e:
                if "already exists" not in str(e).lower():
                    raise
                self.logger.info("Column %s was added by another run meanwhile", column)
                return False
        return True

    def _check_keys(self) -> None:
        """Refuse an upsert on other keys than the table was loaded with (earlier or this run).

        A MERGE on new keys would overwrite rows that only share the new key and duplicate the
        rest. `overwrite` replaces the rows, so it may change keys (the comment follows).
        """
        recorded = self.keys_seen
        if recorded is None:
            rows = self.session.execute(
                sql.table_comment(self.session.database),
                {"schema": self.session.schema, "table": self.table},
            )
            recorded = recorded_keys(rows[0][0] if rows else None)
        if recorded is not None and same_keys(recorded, self.key_fields):
            return
        if recorded is not None and self.load_method == "upsert":
            raise TargetConfigError(
                f"stream {self.stream_name!r} now has key_properties {self.key_fields}, but "
                f"table {self.table_ref} was loaded with {recorded}: an upsert on other keys "
                "would overwrite and duplicate rows; nothing was loaded. Run once with "
                "load_method 'overwrite' (replaces the table's rows), or map the stream to a "
                "new table with table_mapping"
            )
        if self.manage_tables:
            # Best effort: COMMENT needs OWNERSHIP, which a table someone else created may
            # not give; the keys are then checked within each run only.
            try:
                self.session.execute(
                    sql.comment_on_table(self.table_ref, keys_comment(self.key_fields))
                )
            except Exception as e:
                self.logger.warning(
                    "Could not record the keys of %s in its comment (%s): a change of "
                    "key_properties between runs cannot be caught for this table",
                    self.table_ref,
                    classify(e).reason,
                )
