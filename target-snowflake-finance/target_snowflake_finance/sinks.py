"""One stream's sink: records validated and batched, the table prepared; batch_load.py loads."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord, MissingKeyPropertiesError
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

from target_snowflake_finance import leftovers
from target_snowflake_finance.batch import (
    DELETED_FIELD,
    BatchMetadata,
    next_sequences,
    with_metadata,
)
from target_snowflake_finance.batch_columns import InvalidRecordError, Reject, invalid_message
from target_snowflake_finance.batch_load import BatchLoader, PreparedBatch
from target_snowflake_finance.connector import Session
from target_snowflake_finance.errors import TargetConfigError
from target_snowflake_finance.naming import table_name
from target_snowflake_finance.reader import SingerInputError
from target_snowflake_finance.sdk_hooks import SinkHooks
from target_snowflake_finance.services import LoadServices
from target_snowflake_finance.streams import ensure_stream
from target_snowflake_finance.table_setup import TableSetup, stream_columns
from target_snowflake_finance.validation import FastJSONSchemaValidator, nullable_schema

if TYPE_CHECKING:
    from target_snowflake_finance.target import TargetSnowflakeFinance

__all__ = ["InvalidRecordError", "Reject", "SnowflakeSink"]


# The record path adds to the SDK's record counter in steps (it logs at most once a minute).
COUNT_EVERY = 1000
#: What a record waiting in a batch takes as Python objects: its message, and a slot and a value
#: per field (decoded Kinetic records measured 57-98 bytes a field: benchmarks/RESULTS.md §12).
RECORD_BYTES = 300
FIELD_BYTES = 90


def record_bytes(record: dict[str, Any]) -> int:
    """Estimated memory of one record held in a batch (the field count is free to read)."""
    return RECORD_BYTES + FIELD_BYTES * len(record)


class SnowflakeSink(SinkHooks, leftovers.Cleanable):
    """Loads one stream into one Snowflake table."""

    def __init__(
        self,
        target: TargetSnowflakeFinance,
        stream_name: str,
        schema: dict,
        key_properties: list[str] | None,
    ) -> None:
        self._tombstone_validator: FastJSONSchemaValidator | None = None
        super().__init__(target, stream_name, schema, key_properties)
        config = self.config
        # The run's shared values and bookkeeping, given once: the sink never calls the target.
        self.services: LoadServices = target.services
        self.load_method: str = config["load_method"]
        self.on_invalid_record: str = config["on_invalid_record"]
        self.replication_key: str | None = self.services.replication_key(stream_name)
        mapping = (config.get("table_mapping") or {}).get(stream_name) or {}
        case = config["column_case"]
        self.table = table_name(stream_name, mapping, case)
        fields, columns, types = stream_columns(
            stream_name, self.schema["properties"], mapping, case, config["timestamp_type"].upper()
        )
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
        keys_seen = self.services.claims.claim_table(self.table_ref, stream_name, self.key_fields)
        # Made ready (created, extended or checked) in `setup`.
        self.table_setup = TableSetup(
            session=self.session,
            services=self.services,
            logger=self.logger,
            stream_name=stream_name,
            table=self.table,
            table_ref=self.table_ref,
            fields=fields,
            columns=columns,
            types=types,
            key_fields=self.key_fields,
            load_method=self.load_method,
            manage_tables=config["manage_tables"],
            keys_seen=keys_seen,
        )
        self.loader = BatchLoader(
            services=self.services,
            config=config,
            session=self.session,
            stream_name=stream_name,
            table=self.table,
            schema=self.original_schema,
            logger=self.logger,
        )
        leftovers.register(self)
        # Read per record on the fast path: computed once.
        self._max_size = int(config["batch_size_rows"])
        self._key_set = frozenset(self.key_fields)
        self._messages: list[dict[str, Any]] = []
        self._received_us: list[int] = []
        self._rejects: list[Reject] = []
        self._uncounted = 0
        #: Estimated memory of the records in the batch being read (record_bytes).
        self.held_bytes = 0

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
        table = self.table_setup
        table.prepare()
        if self.config.get("create_streams"):
            ensure_stream(self.session, self.table)
        loader = self.loader
        loader.start(
            table.plan(self.replication_key, loader.staging_refs, loader.temporary_staging)
        )

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

    def check_record_keys(self, record: dict) -> None:
        """Refuse a record without its key properties, naming the stream and the fix."""
        missing = [k for k in self.key_fields if k not in record]
        if missing:
            raise MissingKeyPropertiesError(
                f"a record in stream {self.stream_name!r} lacks key properties {missing}: the "
                f"tap must send every key property ({self.key_fields}) in every record"
            )

    def _invalid_reason(self, record: dict[str, Any]) -> str | None:
        """Why a record (its metadata inline) is invalid, naming the field; None when it is valid
        or a tombstone. The SDK's verdicts, without its traceback per invalid record; raises
        unless on_invalid_record is `quarantine`."""
        assert self.record_validator is not None
        try:
            self.record_validator.validate(record)
            return None
        except InvalidRecord as e:
            if self._is_tombstone(record):
                return None
            # Name the field: the SDK's message alone ("'xx…' is too long") does not.
            path = [str(p) for p in getattr(e.__cause__, "absolute_path", None) or []]
            reason = f"field {'.'.join(path)!r}: {e.error_message}" if path else e.error_message
            if self.on_invalid_record != "quarantine":
                raise InvalidRecordError(
                    invalid_message(self.stream_name, self.key_fields, record, reason)
                ) from None
            return reason

    @override
    def start_batch(self, context: dict) -> None:
        """A batch keeps its RECORD messages and receipt times in arrival order, rejects apart."""
        self._messages = context["messages"] = []
        self._received_us = context["received_us"] = []
        self._rejects = context["rejects"] = []
        self.held_bytes = 0

    def accept(self, message: dict[str, Any]) -> bool:
        """Every record's way into the batch (after the target's stream maps, if any).

        The SDK's own record path copies each record, adds seven `_sdc_*` keys (two isoformat
        calls), validates, tallies and counts it: more CPU than the rest of the load
        (benchmarks/RESULTS.md). Here the record is kept as it came, with the same validation
        verdicts and messages, key check, tallies and record counter; its metadata becomes
        columns when the batch loads (batch.BatchMetadata). Anything unusual is judged on the
        record as the SDK would have built it (`_as_sdk_record`). Returns whether the batch is
        full.
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
                    reject = self._invalid_reason(full)
        if not self._key_set <= record.keys():
            full = full or self._as_sdk_record(record, message, context)
            self.check_record_keys(full)
        self.tally_record_read()
        self.held_bytes += record_bytes(record)
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
    def process_batch(self, context: dict) -> None:
        self.count_records()
        self.held_bytes = 0
        # Converted here; the records themselves are gone before the hand-over may block.
        self.loader.submit(self._prepare_drained(context))

    def _prepare_drained(self, context: dict) -> PreparedBatch:
        messages: list[dict[str, Any]] = context.pop("messages", [])
        self._messages = []
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
        return self.loader.prepare(records, batch_id, context.get("rejects"), None, metadata)

    @override
    def clean_up(self) -> None:
        self.count_records()  # before the SDK's clean_up logs the counter's last value
        self.loader.close()
        self.clean_up_now()
        super().clean_up()

    def clean_up_now(self) -> None:
        """Drop the staging tables and the temp dir (also when the run failed); once."""
        self.loader.clean_up_now()
