"""One stream's load: batch → Parquet → PUT → COPY INTO staging → MERGE + audit row."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import shutil
import time
import uuid
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord, MissingKeyPropertiesError
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

from target_snowflake_finance import leftovers, shutdown, sql
from target_snowflake_finance.audit import (
    STATUS_COMMITTED,
    STATUS_FAILED,
    BatchAudit,
    committed_sql,
    insert_audit_sql,
    record_json,
    write_dead_letter,
)
from target_snowflake_finance.batch import (
    DELETED_FIELD,
    LOAD_ID_FIELD,
    METADATA_FIELDS,
    SEQUENCE_FIELD,
    BatchMetadata,
    next_sequences,
    with_metadata,
)
from target_snowflake_finance.connector import Session
from target_snowflake_finance.errors import (
    BatchLoadError,
    Classification,
    TargetConfigError,
    classify,
    with_retries,
)
from target_snowflake_finance.naming import (
    NamingError,
    column_names,
    config_identifier,
    quote,
    table_name,
)
from target_snowflake_finance.pipeline import MAX_IN_FLIGHT, LoadPipeline
from target_snowflake_finance.privileges import table_privileges
from target_snowflake_finance.reader import SingerInputError
from target_snowflake_finance.sdk_hooks import SinkHooks
from target_snowflake_finance.streams import ensure_stream
from target_snowflake_finance.table_keys import keys_comment, recorded_keys, same_keys
from target_snowflake_finance.types import (
    ColumnType,
    check_value,
    column_type,
    incompatibility,
    to_arrow,
)
from target_snowflake_finance.validation import FastJSONSchemaValidator, nullable_schema

if TYPE_CHECKING:
    from target_snowflake_finance.target import TargetSnowflakeFinance


# The direct path adds to the SDK's record counter in steps (it logs at most once a minute).
COUNT_EVERY = 1000


class InvalidRecordError(Exception):
    """A record that cannot land, with `on_invalid_record: fail`."""


@dataclass
class Reject:
    record: dict[str, Any]
    reason: str


@dataclass
class PreparedBatch:
    """A batch converted by the reading thread, ready to stage and load in the background."""

    number: int
    records: list[dict[str, Any]]  # kept for the dead-letter file, should the load fail
    metadata: BatchMetadata | None
    rejects: list[Reject]
    loadable: int
    audit: BatchAudit
    slot: int  # which of the sink's staging tables it is copied into
    data_file: Path
    rejects_file: Path | None
    filled: bool = False  # copied into its staging table ahead of its load


class SnowflakeSink(SinkHooks, leftovers.Cleanable):
    """Loads one stream into one Snowflake table."""

    def __init__(
        self,
        target: TargetSnowflakeFinance,
        stream_name: str,
        schema: dict,
        key_properties: list[str] | None,
    ) -> None:
        self._target = target
        self._pending_reject: str | None = None
        self._tombstone_validator: FastJSONSchemaValidator | None = None
        super().__init__(target, stream_name, schema, key_properties)
        config = self.config
        self.load_id: str = target.load_id
        self.load_method: str = config["load_method"]
        self.on_invalid_record: str = config["on_invalid_record"]
        self.manage_tables: bool = config["manage_tables"]
        self.column_case: str = config["column_case"]
        self.timestamp_type: str = config["timestamp_type"].upper()
        self.max_retries: int = int(config["max_retries"])
        self.replication_key: str | None = target.bookmark_property(stream_name)
        mapping = (config.get("table_mapping") or {}).get(stream_name) or {}
        self.table = table_name(stream_name, mapping, self.column_case)
        self.fields = [*self.schema["properties"].keys()]
        if LOAD_ID_FIELD not in self.fields:
            self.fields.append(LOAD_ID_FIELD)
        overrides = {f: config_identifier(c) for f, c in (mapping.get("columns") or {}).items()}
        overrides.update({f: f.upper() for f in METADATA_FIELDS})
        try:
            self.columns = column_names(self.fields, self.column_case, overrides)
        except NamingError as e:
            raise TargetConfigError(f"stream {stream_name!r}: {e}") from None
        self.types: dict[str, ColumnType] = {
            f: column_type(self.schema["properties"].get(f, {}), self.timestamp_type)
            for f in self.fields
        }
        self.types[LOAD_ID_FIELD] = ColumnType("string", "VARCHAR")
        self.key_fields = list(self.key_properties)
        missing_keys = [k for k in self.key_fields if k not in self.schema["properties"]]
        if missing_keys:
            raise TargetConfigError(
                f"stream {stream_name!r}: key_properties {missing_keys} are not in its schema"
            )
        if self.load_method == "upsert" and not self.key_fields:
            raise TargetConfigError(
                f"stream {stream_name!r} has no key_properties, and load_method 'upsert' needs "
                "them to MERGE: set load_method to 'append-only' or 'overwrite', or have the "
                "tap declare keys"
            )
        self.session = Session(config)
        self.table_ref = self.session.table_ref(self.table)
        self._keys_seen = target.claim_table(self.table_ref, stream_name, self.key_fields)
        # Without manage_tables the role may create nothing: the batch is staged in a
        # TEMPORARY table, which needs no CREATE TABLE grant (Snowflake's CREATE TABLE access
        # control) and goes with the session. Unqualified: it lives in the session's schema.
        # It belongs to the loader's session, which fills it itself; otherwise the stager fills
        # one staging table while the loader merges from another (one per batch in flight).
        self.temporary_staging = not self.manage_tables
        slots = 1 if self.temporary_staging else MAX_IN_FLIGHT
        # Only word characters: the staging table is ours, and COPY tooling need not quote it.
        self.staging_tables = [
            leftovers.staging_name(self.table, uuid.uuid4().hex[:8].upper()) for _ in range(slots)
        ]
        self.staging_refs = [
            quote(name) if self.temporary_staging else self.session.table_ref(name)
            for name in self.staging_tables
        ]
        self._workdir = leftovers.new_workdir()
        self._cleaned = False
        leftovers.register(self)
        self._batch_counter = itertools.count(1)
        # Read per record on the fast path: computed once.
        self._max_size = int(config["batch_size_rows"])
        self._key_set = frozenset(self.key_fields)
        self._messages: list[dict[str, Any]] = []
        self._received_us: list[int] = []
        self._rejects: list[Reject] = []
        self._uncounted = 0
        # Background stage and load (pipeline.py), started with the first batch; counters the
        # target compares to know which STATE is covered by commits.
        self._pipeline: LoadPipeline[PreparedBatch] | None = None
        self._stager: Session | None = None
        self.batches_submitted = 0
        self.batches_committed = 0
        self._unremoved: set[str] = set()  # batches whose staged files are still in the stage

    # SDK hooks

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Always on: `_SDC_*` columns are part of the audit trail."""
        return True

    @property
    def max_size(self) -> int:
        return self._max_size

    @override
    def setup(self) -> None:
        """Check or prepare the table before any of this stream's data moves."""
        self._prepare_table()
        if self.config.get("create_streams"):
            ensure_stream(self.session, self.table)
        if not self.temporary_staging:
            for staging in self.staging_refs:
                self.session.execute(sql.create_staging(staging, self._types(), temporary=False))

    def _types(self) -> list[ColumnType]:
        return [self.types[f] for f in self.fields]

    def _column_list(self) -> list[str]:
        return [self.columns[f] for f in self.fields]

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        # The SDK's validator behind a compiled fast path (same verdicts and messages).
        try:
            if not self.validate_schema or self.validate_field_string_format:
                return super().get_validator()
            return FastJSONSchemaValidator(self.schema)
        except InvalidJSONSchema as e:
            cause = e.__cause__
            where = "/".join(str(p) for p in getattr(cause, "absolute_path", None) or [])
            detail = getattr(cause, "message", None) or str(e)
            raise SingerInputError(
                f"the SCHEMA of stream {self.stream_name!r} is not a valid JSON Schema "
                f"({detail}{' at ' + where if where else ''}): fix the schema the tap sends"
            ) from None

    def _is_tombstone(self, record: dict[str, Any]) -> bool:
        """A deletion marker: `_sdc_deleted_at` set, and what it carries valid (nulls allowed)."""
        if record.get(DELETED_FIELD) is None or self.record_validator is None:
            return False
        if self._tombstone_validator is None:
            self._tombstone_validator = FastJSONSchemaValidator(nullable_schema(self.schema))
        try:
            self._tombstone_validator.validate(record)
        except Exception:
            return False
        return True

    @override
    def check_record_keys(self, record: dict) -> None:
        missing = [k for k in self.key_fields if k not in record]
        if missing:
            raise MissingKeyPropertiesError(
                f"a record in stream {self.stream_name!r} lacks key properties {missing}: the "
                f"tap must send every key property ({self.key_fields}) in every record"
            )

    @override
    def validate_record(self, record: dict) -> dict:
        """The SDK's validation verdicts, without its traceback per invalid record.

        Timestamps are not parsed here (see `parse_timestamps`).
        """
        if self.record_validator is None:
            return record
        try:
            self.record_validator.validate(record)
            return record
        except InvalidRecord as e:
            if self._is_tombstone(record):
                return record
            # Name the field: the SDK's message alone ("'xx…' is too long") does not.
            path = [str(p) for p in getattr(e.__cause__, "absolute_path", None) or []]
            reason = f"field {'.'.join(path)!r}: {e.error_message}" if path else e.error_message
            if self.on_invalid_record != "quarantine":
                raise InvalidRecordError(self._invalid_message(record, reason)) from None
            self._pending_reject = reason
            return record

    @override
    def parse_timestamps(self, record: dict, schema: dict, treatment: Any) -> None:
        """Leave date-time text as it came: types.to_arrow converts whole columns at once.

        (The SDK parses every field of every record in Python, the hot spot of a bulk load.)
        """

    @override
    def start_batch(self, context: dict) -> None:
        """A batch keeps its RECORD messages and receipt times in arrival order, rejects apart."""
        self._messages = context["messages"] = []
        self._received_us = context["received_us"] = []
        self._rejects = context["rejects"] = []

    def accept(self, message: dict[str, Any]) -> bool:
        """The SDK's per-record path for a stream that no stream map transforms, minus its cost.

        The SDK copies each record, adds seven `_sdc_*` keys (two isoformat calls), validates,
        tallies and counts it: more CPU than the rest of the load (benchmarks/RESULTS.md). Here
        the record is kept as it came, with the same validation verdicts and messages, key check,
        tallies and record counter; its metadata becomes columns when the batch loads
        (batch.BatchMetadata). Anything unusual takes the SDK's own steps on the record as the
        SDK would have built it (`_as_sdk_record`). Returns whether the batch is full.
        """
        record = message["record"]
        context = self.batch_context(record)  # starts a batch (start_batch) when none is pending
        reject: str | None = None
        full: dict[str, Any] | None = None
        if self.record_validator is not None:
            try:
                self.record_validator.validate(record)
            except Exception:
                if not self._is_tombstone(record):
                    # Same verdict as the SDK: validate the record with its metadata keys.
                    full = self._as_sdk_record(record, message, context)
                    self.validate_record(full)
                    reject, self._pending_reject = self._pending_reject, None
        if not self._key_set <= record.keys():
            full = full or self._as_sdk_record(record, message, context)
            self.check_record_keys(full)
        self.tally_record_read()
        if reject is not None:
            self._rejects.append(Reject(full or record, reject))
        else:
            self._messages.append(message)
            self._received_us.append(time.time_ns() // 1000)
        self._uncounted += 1
        if self._uncounted >= COUNT_EVERY:
            self.count_records()
        return self.current_size >= self._max_size

    def count_records(self) -> None:
        """Add the records accepted since the last call to the SDK's record counter metric."""
        if self._uncounted:
            self.record_counter_metric.increment(self._uncounted)
            self._uncounted = 0

    def _as_sdk_record(
        self, record: dict[str, Any], message: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        return with_metadata(
            record,
            extracted_at=message.get("time_extracted"),
            received_us=time.time_ns() // 1000,
            batched_at=context["batch_start_time"],
            sequence=next_sequences(1),
            table_version=message.get("version"),
            sync_started_at=self.sync_started_at,
        )

    @override
    def process_record(self, record: dict, context: dict) -> None:
        """The SDK's path (stream maps configured): the record carries its metadata inline."""
        if self._pending_reject is not None:
            record[SEQUENCE_FIELD] = next_sequences(1)
            context["rejects"].append(Reject(record, self._pending_reject))
            self._pending_reject = None
            return
        context["messages"].append(
            {
                "record": record,
                "time_extracted": record.get("_sdc_extracted_at"),
                "version": record.get("_sdc_table_version"),
            }
        )
        context["received_us"].append(time.time_ns() // 1000)

    @override
    def process_batch(self, context: dict) -> None:
        self.count_records()
        messages: list[dict[str, Any]] = context.get("messages", [])
        records = [m["record"] for m in messages]
        metadata = BatchMetadata(
            extracted_at=[m.get("time_extracted") for m in messages],
            received_us=context.get("received_us", []),
            batched_at=context.get("batch_start_time") or dt.datetime.now(dt.UTC),
            table_version=[m.get("version") for m in messages],
            sequence_start=next_sequences(len(records)),
            sync_started_at=self.sync_started_at,
        )
        batch_id = context.get("batch_id") or str(uuid.uuid4())
        self._submit(self._prepare(records, batch_id, context.get("rejects"), None, metadata))

    @override
    def clean_up(self) -> None:
        self.count_records()  # before the SDK's clean_up logs the counter's last value
        if self._pipeline is not None:
            self._pipeline.close()  # the end of the input: what is queued (file removal) runs
        self.clean_up_now()
        super().clean_up()

    def clean_up_now(self) -> None:
        """Drop the staging table and the temp dir (also when the run failed); once."""
        if self._cleaned:
            return
        self._cleaned = True
        if self._pipeline is not None:
            self._pipeline.close(drop=True)  # a failed run: batches not loaded yet stay so
        if self._stager is not None:
            self._stager.close()
            self._stager = None
        if not shutdown.STOPPING.is_set():
            for batch_id in list(self._unremoved):
                self._remove_staged(batch_id)
        for staging in self.staging_refs:
            drop = functools.partial(self.session.execute, sql.drop_table(staging))
            leftovers.quietly("drop staging table", drop)
        self.session.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    # Table preparation

    def _prepare_table(self) -> None:
        """Create, extend or check the table; safe when other runs do the same at once.

        Another run may create the table (with its own columns) or add a column between our
        look and our DDL: then the table is read again, up to a few times.
        """
        for _ in range(4):
            if self._prepare_table_once():
                return
        raise TargetConfigError(
            f"table {self.table_ref} kept changing while stream {self.stream_name!r} prepared "
            "it (other runs altering it?); rerun"
        )

    def _prepare_table_once(self) -> bool:
        """One look at the table and the DDL it needs; False when it must be read again."""
        existing = self.session.existing_columns(self.table)
        if existing is None:
            if not self.manage_tables:
                raise TargetConfigError(
                    f"table {self.table_ref} for stream {self.stream_name!r} does not exist and "
                    "manage_tables is false: create it, map the stream to an existing table "
                    "with table_mapping, or set manage_tables to true"
                )
            columns = list(zip(self._column_list(), self._types(), strict=True))
            comment = keys_comment(self.key_fields)
            self.session.execute(sql.create_table(self.table_ref, columns, comment))
            self._target.table_created(self.table)
            return False  # a run that created it first may have other columns
        self._target.require_table_grants(
            self.table, table_privileges(self.load_method, bool(self.key_fields)), self.stream_name
        )
        self._check_keys()
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
        if missing and not self.manage_tables:
            names = ", ".join(f"{self.columns[f]} (field {f!r})" for f in missing)
            raise TargetConfigError(
                f"table {self.table_ref} lacks columns {names} for stream {self.stream_name!r} "
                "and manage_tables is false: add them, map the fields with "
                "table_mapping.columns, or set manage_tables to true"
            )
        if missing and not self._target.owns_table(self.table):
            adds = "; ".join(
                sql.add_column(self.table_ref, self.columns[f], self.types[f]) for f in missing
            )
            raise TargetConfigError(
                f"table {self.table_ref} lacks columns for stream {self.stream_name!r} and role "
                f"{self._target.role_name} cannot add them (ADD COLUMN needs OWNERSHIP of the "
                f"table); nothing was loaded. As its owner run: {adds}; or map the fields with "
                "table_mapping.columns"
            )
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
        recorded = self._keys_seen
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

    # Loading

    def _key_text(self, record: dict[str, Any]) -> str:
        return ", ".join(f"{k}={record.get(k)!r}" for k in self.key_fields) or "(no key)"

    def _invalid_message(self, record: dict[str, Any], reason: str) -> str:
        return (
            f"invalid record in stream {self.stream_name!r} (key {self._key_text(record)}): "
            f"{reason}. Fix the source, or set on_invalid_record to 'quarantine' to send such "
            "records to the rejects table"
        )

    @staticmethod
    def _values(records: list[dict[str, Any]], field: str) -> list[Any]:
        """One field of every record (None where absent), at C speed when every record has it."""
        try:
            return list(map(itemgetter(field), records))
        except KeyError:
            return [r.get(field) for r in records]

    def _columns_for(
        self, records: list[dict[str, Any]], metadata: BatchMetadata | None = None
    ) -> tuple[list[pa.Array], list[Reject]]:
        """Arrow columns for the records; values that cannot land exactly become rejects.

        With `metadata`, the `_sdc_*` columns come from it; without, from the records (replay).
        """
        bad: dict[int, str] = {}
        arrays: list[pa.Array] = []
        rows = len(records)
        values_of: dict[str, list[Any]] = {}
        if self.load_method != "append-only":
            # MERGE matches keys with `=`, and NULL never equals NULL: such a row would be
            # inserted again on every run.
            for k in self.key_fields:
                values = values_of[k] = self._values(records, k)
                if None not in values:
                    continue
                for i, v in enumerate(values):
                    if v is None and i not in bad:
                        bad[i] = f"key field {k!r} is null; {self.load_method} needs every key"
        for f in self.fields:
            if f == LOAD_ID_FIELD:
                arrays.append(pa.array([self.load_id] * rows, pa.string()))
                continue
            ctype = self.types[f]
            if metadata is not None:
                try:
                    column = metadata.column(f, ctype, rows)
                except Exception:  # a metadata value that does not fit: judge it per record
                    return self._columns_for(metadata.attach(records))
                if column is not None:
                    arrays.append(column)
                    continue
            values = values_of.get(f) or self._values(records, f)
            try:
                arrays.append(to_arrow(values, ctype))
            except Exception:
                for i, v in enumerate(values):
                    if i not in bad and (reason := check_value(v, ctype)):
                        bad[i] = f"field {f!r}: {reason}"
                arrays.append(pa.nulls(rows, ctype.arrow_type))
        if not bad:
            return arrays, []
        if metadata is not None:
            # Rejects keep the record as the SDK passed it on, metadata included.
            return self._columns_for(metadata.attach(records))
        rejects = [Reject(records[i], reason) for i, reason in sorted(bad.items())]
        if self.on_invalid_record != "quarantine":
            first = rejects[0]
            raise InvalidRecordError(self._invalid_message(first.record, first.reason))
        keep = [r for i, r in enumerate(records) if i not in bad]
        arrays, more = self._columns_for(keep)
        return arrays, rejects + more

    def load_batch(
        self,
        records: list[dict[str, Any]],
        *,
        batch_id: str,
        rejects: list[Reject] | None = None,
        dead_letter_file: str | None = None,
        metadata: BatchMetadata | None = None,
    ) -> BatchAudit:
        """Load one batch now (retrying transient failures); dead-letter it if it still fails.

        `metadata` holds the records' `_sdc_*` values (records from a replay carry them inline).
        """
        batch = self._prepare(records, batch_id, rejects, dead_letter_file, metadata)
        return self._load(batch, None)

    def _submit(self, batch: PreparedBatch) -> None:
        """Hand a converted batch to the stream's pipeline (stage, then load, in the background)."""
        if self._pipeline is None:
            self._pipeline = LoadPipeline(self.table, self._stage_ahead, self._load_queued)
        self.batches_submitted += 1
        self._target.batch_submitted()  # also raises another stream's failure, if any
        self._pipeline.submit(batch)

    def wait_loaded(self) -> None:
        """Until every batch handed over is committed; raises the first failure."""
        if self._pipeline is not None:
            self._pipeline.wait()

    @property
    def load_failure(self) -> BaseException | None:
        return self._pipeline.failure if self._pipeline is not None else None

    def _prepare(
        self,
        records: list[dict[str, Any]],
        batch_id: str,
        rejects: list[Reject] | None,
        dead_letter_file: str | None,
        metadata: BatchMetadata | None,
    ) -> PreparedBatch:
        """The reading thread's share of a batch: its columns, rejects, audit and Parquet file."""
        rejects = list(rejects or [])
        arrays, value_rejects = self._columns_for(records, metadata)
        rejects += value_rejects
        for reject in rejects:
            self.logger.warning(
                "quarantined a record of stream %r (key %s): %s",
                self.stream_name,
                self._key_text(reject.record),
                " ".join(reject.reason.split()),
            )
        low, high = self._key_range(arrays)
        audit = BatchAudit(
            load_id=self.load_id,
            batch_id=batch_id,
            stream=self.stream_name,
            table_name=self.table_ref,
            load_method=self.load_method,
            rows_received=len(records) + len(rejects) - len(value_rejects),
            replication_key=self.replication_key,
            min_replication_key=low,
            max_replication_key=high,
            dead_letter_file=dead_letter_file,
        )
        data_file = self._workdir / f"{batch_id}.parquet"
        names = [sql.staged(i) for i in range(len(self.fields))]
        pq.write_table(pa.Table.from_arrays(arrays, names=names), data_file)
        rejects_file = self._write_rejects(rejects, batch_id) if rejects else None
        audit.staged_at = dt.datetime.now(dt.UTC)
        audit.rows_rejected = len(rejects)
        number = next(self._batch_counter)
        return PreparedBatch(
            number=number,
            slot=(number - 1) % len(self.staging_refs),
            records=records,
            metadata=metadata,
            rejects=rejects,
            loadable=len(records) - len(value_rejects),
            audit=audit,
            data_file=data_file,
            rejects_file=rejects_file,
        )

    def _stage_ahead(self, batch: PreparedBatch) -> None:
        """Upload a batch's files for its first attempt and copy them into its staging table,
        on the stager's own connection, while the batch before it merges."""
        if self._stager is None:
            self._stager = Session(self.config)
        self._put(self._stager, batch, attempt=1)
        if not self.temporary_staging:
            self._fill_staging(self._stager, batch, attempt=1)
            batch.filled = True

    def _load_queued(self, batch: PreparedBatch, staging_error: BaseException | None) -> None:
        self._load(batch, staging_error, staged_ahead=staging_error is None)
        self.batches_committed += 1
        self._target.batch_loaded()

    def _load(
        self,
        batch: PreparedBatch,
        staging_error: BaseException | None,
        *,
        staged_ahead: bool = False,
    ) -> BatchAudit:
        """Load a prepared batch (retrying transient failures); dead-letter it if it still fails."""
        audit = batch.audit

        def attempt(n: int) -> int:
            if n > 1 and self._committed_before(audit):
                return batch.loadable
            audit.attempts = n
            ahead = staged_ahead and n == 1
            if not ahead:
                self._put(self.session, batch, attempt=n)
            return self._load_attempt(batch, n, filled=ahead and batch.filled)

        try:
            loaded, attempts = with_retries(
                attempt, max_retries=self.max_retries, on_transient=self._prepare_retry
            )
        except Exception as exc:
            records = batch.records
            if batch.metadata is not None:
                records = batch.metadata.attach(records)
            self._dead_letter(records, batch.rejects, audit, exc)
        finally:
            batch.data_file.unlink(missing_ok=True)
            if batch.rejects_file is not None:
                batch.rejects_file.unlink(missing_ok=True)
            # Every attempt's files (finance data) go, whether the batch landed or not.
            self._remove_staged(audit.batch_id)
        audit.attempts = attempts
        audit.rows_loaded = loaded
        self._target.batch_committed(self.table, loaded, len(batch.rejects))
        self.logger.info(
            "Batch %d of %s: %d rows into %s, %d rejected, %d attempt(s)",
            batch.number,
            self.stream_name,
            loaded,
            self.table_ref,
            len(batch.rejects),
            attempts,
        )
        return audit

    def _remove_staged(self, batch_id: str) -> None:
        """Remove a batch's staged files: later on the stager's connection when there is one."""
        stage = self._target.stage_ref

        def remove() -> None:
            session = self._stager or self.session
            leftovers.quietly(
                "remove staged files",
                lambda: session.execute(sql.remove(stage, f"{self.load_id}/{batch_id}")),
            )
            self._unremoved.discard(batch_id)

        if self._pipeline is not None and not self._cleaned:
            self._pipeline.later(remove)
        else:
            remove()

    def _key_range(self, arrays: list[pa.Array]) -> tuple[str | None, str | None]:
        """Min and max replication key of the batch, from its (already converted) column."""
        if not self.replication_key or self.replication_key not in self.fields:
            return None, None
        column = arrays[self.fields.index(self.replication_key)]
        if column.null_count == len(column):
            return None, None
        if pa.types.is_string(column.type):
            values = [v for v in column.to_pylist() if v is not None]
            return min(values), max(values)
        bounds = pc.min_max(column)
        return tuple(  # type: ignore[return-value]
            v.isoformat() if hasattr(v, "isoformat") else str(v)
            for v in (bounds["min"].as_py(), bounds["max"].as_py())
        )

    def _write_rejects(self, rejects: list[Reject], batch_id: str) -> Path:
        now = dt.datetime.now(dt.UTC)
        table = pa.table(
            {
                "LOAD_ID": [self.load_id] * len(rejects),
                "BATCH_ID": [batch_id] * len(rejects),
                "STREAM": [self.stream_name] * len(rejects),
                "TABLE_NAME": [self.table_ref] * len(rejects),
                "RECORD_KEY": [self._key_text(r.record) for r in rejects],
                "REASON": [r.reason for r in rejects],
                "RECORD": [record_json(r.record) for r in rejects],
                "REJECTED_AT": pa.array([now] * len(rejects), pa.timestamp("us", tz="UTC")),
            }
        )
        path = self._workdir / f"{batch_id}-rejects.parquet"
        pq.write_table(table, path)
        return path

    def _committed_before(self, audit: BatchAudit) -> bool:
        """Did an earlier attempt commit although it failed as far as we saw (lost COMMIT reply)?

        The audit row is written in the batch's own transaction, so it is there exactly when the
        rows, rejects and the overwrite's DELETE are: a retry would load the batch twice.
        """
        rows = self.session.execute(
            committed_sql(self._target.audit_ref),
            {"load_id": self.load_id, "batch_id": audit.batch_id},
        )
        if not rows or not int(rows[0][0] or 0):
            return False
        self.logger.warning(
            "Batch %s of %s committed although its last attempt reported a failure: not "
            "loading it again",
            audit.batch_id,
            self.stream_name,
        )
        # That attempt's overwrite happened: later batches of the run must not replace it.
        self._target.claim_overwrite(self.table_ref, self.load_method)
        return True

    def _prepare_retry(self, exc: BaseException, verdict: Classification, attempt: int) -> None:
        self.session.rollback_quietly()
        if verdict.reconnect:
            self.session.reconnect()
        if verdict.resume_warehouse and self.config["resume_warehouse"]:
            try:
                self.session.resume_warehouse()
            except Exception as e:
                self.logger.warning("Resuming the warehouse failed: %s", classify(e).reason)

    def _put(self, session: Session, batch: PreparedBatch, attempt: int) -> None:
        """Upload a batch's files to the stage, under a prefix of their own per attempt."""
        stage = self._target.stage_ref
        prefix = f"{self.load_id}/{batch.audit.batch_id}/{attempt}"
        self._unremoved.add(batch.audit.batch_id)
        session.execute(sql.put(batch.data_file, stage, prefix, "data"))
        if batch.rejects_file is not None:
            session.execute(sql.put(batch.rejects_file, stage, prefix, "rejects"))

    def _fill_staging(self, session: Session, batch: PreparedBatch, attempt: int) -> None:
        """Empty the batch's staging table and COPY its staged file in (outside a transaction:
        the table is this sink's own)."""
        staging = self.staging_refs[batch.slot]
        stage = self._target.stage_ref
        prefix = f"{self.load_id}/{batch.audit.batch_id}/{attempt}"
        if self.temporary_staging:
            # Recreated per attempt: a reconnect before a retry drops a temporary table (and the
            # local Snowflake cannot write a temporary and a permanent table in one transaction).
            session.execute(sql.create_staging(staging, self._types(), temporary=True))
        session.execute(sql.truncate(staging))
        copied = session.execute(sql.copy_into_staging(staging, stage, prefix))
        rows_copied = sum(int(r[3] or 0) for r in copied if len(r) > 3)
        if rows_copied != batch.loadable:
            raise BatchLoadError(f"COPY loaded {rows_copied} of {batch.loadable} rows into staging")

    def _load_attempt(self, batch: PreparedBatch, attempt: int, *, filled: bool) -> int:
        """One transaction: MERGE (or INSERT) from the staging table, rejects and the audit row."""
        audit, expected_rows = batch.audit, batch.loadable
        rejects_file = batch.rejects_file
        staging = self.staging_refs[batch.slot]
        stage = self._target.stage_ref
        prefix = f"{self.load_id}/{audit.batch_id}/{attempt}"
        s = self.session
        overwrite = False
        try:
            if not filled:
                self._fill_staging(s, batch, attempt)
            s.execute(sql.BEGIN)
            overwrite = self._target.claim_overwrite(self.table_ref, self.load_method)
            if overwrite:
                s.execute(sql.delete_all(self.table_ref))
            if self.key_fields and self.load_method != "append-only":
                s.execute(self._merge_sql(staging))
            else:
                s.execute(self._append_sql(staging))
            if rejects_file is not None:
                s.execute(sql.copy_rejects(self._target.rejects_ref, stage, prefix))
            audit.attempts = attempt
            audit.rows_loaded = expected_rows
            audit.status = STATUS_COMMITTED
            audit.finished_at = dt.datetime.now(dt.UTC)
            s.execute(insert_audit_sql(self._target.audit_ref), audit.params())
            s.execute(sql.COMMIT)
        except BaseException:
            s.rollback_quietly()
            if overwrite:
                self._target.release_overwrite(self.table_ref)
            raise
        return expected_rows

    def version_field(self) -> str | None:
        """The field whose value orders versions of a row: `SysRevID`, else the replication key.

        Both come from the source; the extracting host's clock (`_sdc_extracted_at`) only breaks
        ties, or decides when a row carries no version.
        """
        for f in self.fields:
            if f.lower() == "sysrevid":
                return f
        if self.replication_key in self.fields:
            return self.replication_key
        return None

    def _merge_sql(self, staging: str) -> str:
        """Upsert on the keys; the version, extraction time and tombstone columns present."""
        version = self.version_field()
        return sql.merge(
            self.table_ref,
            staging,
            self._column_list(),
            self._types(),
            [self.columns[k] for k in self.key_fields],
            sequence=self.columns[SEQUENCE_FIELD],
            version=self.columns[version] if version is not None else None,
            extracted_at=self.columns.get("_sdc_extracted_at"),
            deleted=self.columns.get(DELETED_FIELD),
            marks=[self.columns[f] for f in METADATA_FIELDS if f in self.columns],
        )

    def _append_sql(self, staging: str) -> str:
        return sql.append(self.table_ref, staging, self._column_list(), self._types())

    def _dead_letter(
        self,
        records: list[dict[str, Any]],
        rejects: list[Reject],
        audit: BatchAudit,
        exc: BaseException,
    ) -> NoReturn:
        verdict = classify(exc)
        error = f"{type(exc).__name__}: {exc}"
        directory = self._target.dead_letter_dir
        try:
            path = write_dead_letter(
                directory,
                {
                    "load_id": self.load_id,
                    "batch_id": audit.batch_id,
                    "stream": self.stream_name,
                    "table": self.table_ref,
                    "key_properties": self.key_fields,
                    "bookmark_properties": [self.replication_key] if self.replication_key else [],
                    "schema": self.original_schema,
                    "load_method": self.load_method,
                    "error": error,
                    "error_kind": verdict.reason,
                    "attempts": audit.attempts,
                    "failed_at": dt.datetime.now(dt.UTC).isoformat(),
                    "row_count": len(records),
                    "records": records,
                    "rejects": [{"reason": r.reason, "record": r.record} for r in rejects],
                },
            )
        except OSError as e:
            raise BatchLoadError(
                f"stream {self.stream_name!r}: batch {audit.batch_id} could not be loaded into "
                f"{self.table_ref} ({verdict.reason}): {error}; and dead_letter_dir {directory} "
                f"is not writable ({e.strerror}): fix dead_letter_dir; the batch is not saved, "
                "rerun from the last state"
            ) from exc
        audit.status = STATUS_FAILED
        audit.error = error
        audit.dead_letter_file = str(path)
        audit.rows_loaded = 0
        audit.finished_at = dt.datetime.now(dt.UTC)
        try:
            self.session.reconnect()
            self.session.execute(insert_audit_sql(self._target.audit_ref), audit.params())
        except Exception as e:
            self.logger.warning(
                "Could not record the failed batch in the audit table: %s", classify(e).reason
            )
        raise BatchLoadError(
            f"stream {self.stream_name!r}: batch {audit.batch_id} could not be loaded into "
            f"{self.table_ref} ({verdict.reason}): {error}. It was written to {path}; fix the "
            "cause and run `target-snowflake-finance replay --config ...`"
        ) from exc
