"""The Singer target: settings, start-up checks, state only after commit, and the CLI."""

from __future__ import annotations

import copy
import logging
import sys
import threading
import uuid
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import (
    InvalidJSONSchema,
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.sinks import Sink
from typing_extensions import override

from target_snowflake_finance import leftovers, preflight, shutdown
from target_snowflake_finance.audit import create_table_sql
from target_snowflake_finance.batch_files import BatchInputError, read_records
from target_snowflake_finance.batch_load import BatchLoader
from target_snowflake_finance.connector import Session
from target_snowflake_finance.errors import BatchLoadError, TargetConfigError
from target_snowflake_finance.exclusion import ExcludedRecords
from target_snowflake_finance.naming import COLUMN_CASES, NamingError, config_identifier, quote
from target_snowflake_finance.reader import BulkMessageReader, SingerInputError
from target_snowflake_finance.run_grants import RunGrants
from target_snowflake_finance.run_summary import LoadTally
from target_snowflake_finance.sdk_hooks import TargetHooks
from target_snowflake_finance.services import LoadServices
from target_snowflake_finance.sinks import InvalidRecordError, SnowflakeSink
from target_snowflake_finance.table_claims import TableClaims
from target_snowflake_finance.types import TIMESTAMP_TYPES
from target_snowflake_finance.unset_settings import drop_unset_defaulted, drop_unset_sdk_settings

STAGE_NAME = "TARGET_SNOWFLAKE_FINANCE_STAGE"
# The stream `meltano config test target-snowflake-finance` sends (one record): its table is
# dropped at the end of the run so the test leaves nothing behind.
MELTANO_TEST_STREAM = "meltano_test_stream"
# Records between checks of the SDK's max record age (minutes) on the record path.
AGE_CHECK_EVERY = 1000

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "account",
        th.StringType,
        required=True,
        description="Snowflake account identifier (e.g. `myorg-myaccount`).",
    ),
    th.Property("user", th.StringType, required=True, description="Snowflake user that loads."),
    th.Property(
        "role", th.StringType, description="Role to load with (default: the user's default role)."
    ),
    th.Property(
        "warehouse",
        th.StringType,
        required=True,
        description="Warehouse for COPY and MERGE; checked at start.",
    ),
    th.Property("database", th.StringType, required=True, description="Target database."),
    th.Property(
        "schema",
        th.StringType,
        default="PUBLIC",
        description="Default target schema; created if missing when manage_tables is true.",
    ),
    th.Property(
        "auth_method",
        th.StringType,
        default="key_pair",
        allowed_values=["key_pair", "pat", "password"],
        description=(
            "`key_pair` (default), `pat` (programmatic access token) or `password` (local "
            "development only)."
        ),
    ),
    th.Property(
        "private_key",
        th.StringType,
        secret=True,
        description="PKCS#8 private key as PEM text (encrypted or not), for key_pair.",
    ),
    th.Property(
        "private_key_path",
        th.StringType,
        description="Path to a PKCS#8 PEM (or DER) private key file, for key_pair.",
    ),
    th.Property(
        "private_key_passphrase",
        th.StringType,
        secret=True,
        description="Passphrase of an encrypted private key.",
    ),
    th.Property(
        "token",
        th.StringType,
        secret=True,
        description="Programmatic access token, for auth_method pat.",
    ),
    th.Property(
        "password",
        th.StringType,
        secret=True,
        description="Password, for auth_method password (local development only).",
    ),
    th.Property(
        "host",
        th.StringType,
        description="Override the Snowflake host (private link, or the local sandbox).",
    ),
    th.Property("port", th.IntegerType, description="Override the Snowflake port."),
    th.Property(
        "protocol",
        th.StringType,
        allowed_values=["https", "http"],
        description="Override the protocol (`http` only for the local sandbox).",
    ),
    th.Property(
        "load_method",
        th.StringType,
        default="upsert",
        allowed_values=["upsert", "append-only", "overwrite"],
        description=(
            "`upsert` (default: MERGE on the stream's keys, last record wins; fails for streams "
            "without keys), `append-only` (insert every record), `overwrite` (the run's first "
            "batch replaces the table's rows, in one transaction)."
        ),
    ),
    th.Property(
        "batch_size_rows",
        th.IntegerType,
        default=50000,
        description=(
            "Rows per load batch (one file, one COPY, one MERGE, one audit row), and the most "
            "rows all streams' batches hold together before the fullest is loaded early."
        ),
    ),
    th.Property(
        "batch_memory_mb",
        th.NumberType(minimum=1),
        default=150,
        description=(
            "Memory (MB) the records of all streams' batches being read may take together, "
            "estimated at ~90 bytes a field; past it the fullest batch is loaded early. Wide "
            "records (Meltano's `*` selection: ~540 fields an invoice) end batches before "
            "`batch_size_rows`. The process needs ~250 MB besides."
        ),
    ),
    th.Property(
        "table_mapping",
        th.ObjectType(
            additional_properties=th.ObjectType(
                th.Property("table", th.StringType),
                th.Property("columns", th.ObjectType(additional_properties=th.StringType)),
            )
        ),
        description=(
            "`{stream: {table, columns: {field: COLUMN}}}`: write into tables of your own design."
        ),
    ),
    th.Property(
        "manage_tables",
        th.BooleanType,
        default=True,
        description=(
            "true: create what is missing (schema, stage, audit, rejects and stream tables) and "
            "add new columns; false: create nothing: they must exist, checked before any data "
            "moves."
        ),
    ),
    th.Property(
        "stage",
        th.StringType,
        default=STAGE_NAME,
        description=(
            "Named internal stage (in `schema`) for the batch files; created if missing when "
            "manage_tables is true. With manage_tables false it must exist, with READ and WRITE "
            "granted to the role."
        ),
    ),
    th.Property(
        "create_streams",
        th.BooleanType,
        default=False,
        description=(
            "Create a Snowflake STREAM `<TABLE>_STREAM` on each loaded table (downstream change "
            "capture); needs CREATE STREAM on the schema."
        ),
    ),
    th.Property(
        "column_case",
        th.StringType,
        default="upper",
        allowed_values=list(COLUMN_CASES),
        description=(
            "`upper` (DocInvoiceAmt → DOCINVOICEAMT) or `snake` (DOC_INVOICE_AMT); also applied "
            "to table names."
        ),
    ),
    th.Property(
        "timestamp_type",
        th.StringType,
        default="TIMESTAMP_TZ",
        allowed_values=list(TIMESTAMP_TYPES),
        description="Snowflake type for `date-time` fields.",
    ),
    th.Property(
        "resume_warehouse",
        th.BooleanType,
        default=True,
        description=(
            "Resume a suspended warehouse whose AUTO_RESUME is off; false: fail with the fix "
            "instead."
        ),
    ),
    th.Property(
        "on_invalid_record",
        th.StringType,
        default="fail",
        allowed_values=["fail", "quarantine"],
        description=(
            "`fail` (stop, naming stream, key and reason) or `quarantine` (the record goes to the"
            " rejects table with its reason)."
        ),
    ),
    th.Property(
        "audit_table",
        th.StringType,
        default="_SDC_LOAD_AUDIT",
        description=(
            "Table with one row per batch: load id, stream, table, rows, replication key range, "
            "status, error, timings, attempts."
        ),
    ),
    th.Property(
        "rejects_table",
        th.StringType,
        default="_SDC_REJECTS",
        description="Table receiving quarantined records with their reason.",
    ),
    th.Property(
        "dead_letter_dir",
        th.StringType,
        default="dead_letter",
        description=(
            "Folder for batches that failed after their retries (owner-only files; reload with "
            "`target-snowflake-finance replay`)."
        ),
    ),
    th.Property(
        "add_record_metadata",
        th.BooleanType,
        default=True,
        description=(
            "Always on here: every row carries the `_SDC_*` metadata columns and `_SDC_LOAD_ID` "
            "(the audit trail relies on them)."
        ),
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=3,
        description=(
            "Retries per batch for transient failures (exponential backoff, fresh connection when"
            " needed)."
        ),
    ),
    th.Property(
        "orphan_cleanup_hours",
        th.IntegerType,
        default=24,
        description=(
            "At start, drop `_TSF_STG_*` staging tables, staged files and temp folders that an "
            "earlier, killed run left, once they are this many hours old (younger ones may "
            "belong to a run still going)."
        ),
    ),
).to_dict()


class TargetSnowflakeFinance(TargetHooks):
    """Exact, idempotent bulk loads into Snowflake with an audit trail."""

    name = "target-snowflake-finance"
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = SnowflakeSink
    capabilities = [*Target.capabilities, PluginCapabilities.BATCH]
    # msgspec parses lines ~5x faster than json (numbers still as Decimal); a profile showed
    # JSON parsing as the largest cost left once validation is fast (benchmarks/RESULTS.md).
    message_reader_class = BulkMessageReader

    @classmethod
    @override
    def invoke(cls, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # A setting to fix, input the tap must fix, an invalid record under
        # on_invalid_record=fail or a batch that failed after its retries (dead-lettered) is an
        # expected failure whose message says what to do: say it once, on one line, and exit 1;
        # tracebacks stay for what is a bug.
        try:
            super().invoke(*args, **kwargs)
        except (
            TargetConfigError,
            BatchLoadError,
            BatchInputError,
            SingerInputError,
            InvalidRecordError,
            NamingError,
            RecordsWithoutSchemaException,
            MissingKeyPropertiesError,
            InvalidJSONSchema,
        ) as exc:
            leftovers.clean_up_live()
            cls.logger.error("%s", " ".join(str(exc).split()))
            raise SystemExit(1) from None
        except Exception:
            leftovers.clean_up_live()
            raise
        except (shutdown.Terminated, KeyboardInterrupt) as exc:
            raise SystemExit(shutdown.finish(exc)) from None

    @override
    def install_signal_handlers(self) -> None:
        # Not the SDK's handler: it drains every sink again from inside the signal handler.
        shutdown.install(self.config)

    def __init__(self, *args: Any, config: Any = None, **kwargs: Any) -> None:
        if isinstance(config, dict):
            config = drop_unset_sdk_settings(config, self.logger)
            config = drop_unset_defaulted(config, self.config_jsonschema)
        self.load_id = str(uuid.uuid4())
        self._bookmarks: dict[str, str | None] = {}
        # Batches handed to the sinks' background loads since STATE last flushed them, and the
        # states waiting for their batches to commit (each with the batch counts it needs).
        self._batches_since_flush = 0
        self._pending_states: list[tuple[dict, list[tuple[BatchLoader, int]]]] = []
        self._tally_lock = threading.Lock()
        # States are written by the reading thread or by the loader thread whose commit covers
        # them, whichever comes first: one at a time, in order.
        self._state_lock = threading.RLock()
        self._started = False
        self._control: Session | None = None
        self._claims = TableClaims()
        self._direct_sinks: dict[str, SnowflakeSink] = {}
        self._unchecked_age = 0
        # Rows and estimated bytes in all streams' batches being read, at most (_accept).
        self._rows_held = 0
        self._bytes_held = 0
        self._excluded = ExcludedRecords()
        self._tally = LoadTally()
        self._meltano_test_table: str | None = None
        self._services: LoadServices | None = None
        super().__init__(*args, config=config, **kwargs)
        self._memory_budget = int(float(self.config["batch_memory_mb"]) * 1_000_000)
        # The connector logs "Connecting to GLOBAL Snowflake domain" and its version at INFO for
        # every connection (one per loader thread and reconnect), and its native core warns
        # "Failed to export telemetry" when a failed run closes its sessions, after (and so
        # above) the target's own message; connector 5 logs a refused login at ERROR before the
        # target's one line. `start` logs one connection line; errors name causes.
        for name in ("snowflake", "snowflake.connector", "sf_core"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        # A run that fails exits with its sessions open (Snowflake drops them); the connector's
        # exit-time FutureWarning about it would be printed below the target's message.
        warnings.filterwarnings(
            "ignore", message="Connection was not explicitly closed", category=FutureWarning
        )

    # Start-up

    @property
    def database(self) -> str:
        return config_identifier(str(self.config["database"]))

    @property
    def schema_name(self) -> str:
        return config_identifier(str(self.config["schema"]))

    def _ref(self, name: str) -> str:
        return f"{quote(self.database)}.{quote(self.schema_name)}.{quote(name)}"

    @property
    def stage_name(self) -> str:
        return config_identifier(str(self.config["stage"]))

    @property
    def stage_ref(self) -> str:
        return self._ref(self.stage_name)

    def table_name(self, setting: str) -> str:
        """The audit or rejects table's name (settings `audit_table`, `rejects_table`)."""
        return config_identifier(str(self.config[setting]))

    @property
    def dead_letter_dir(self) -> Path:
        """Where batches that failed to load are kept for `--replay` (setting `dead_letter_dir`)."""
        return Path(str(self.config["dead_letter_dir"])).expanduser()

    @property
    def audit_ref(self) -> str:
        return self._ref(self.table_name("audit_table"))

    @property
    def rejects_ref(self) -> str:
        return self._ref(self.table_name("rejects_table"))

    def start(self) -> None:
        """Once per run, before the first sink: every check first, then what must be created.

        With manage_tables false nothing is created: the schema, stage, audit and rejects tables
        must exist. With it true, only what is missing is created (a CREATE needs a grant).
        """
        if self._started:
            return
        session = Session(self.config)
        self._control = session
        found = preflight.inspect(self, session)
        if not found.ok:
            raise TargetConfigError(found.message())
        grants = RunGrants(found.role_grants, session, self.database, self.schema_name)
        if not found.schema_exists:
            session.ensure_schema()
            grants.own("SCHEMA", self.database, self.schema_name)
        if not found.stage_exists:
            session.execute(f"CREATE STAGE IF NOT EXISTS {self.stage_ref}")
            grants.own("STAGE", self.database, self.schema_name, self.stage_name)
        for name, columns in found.create_tables:
            session.execute(create_table_sql(self._ref(name), columns))
            grants.table_created(name)
        hours = float(self.config["orphan_cleanup_hours"])
        leftovers.remove_orphans(session, self.stage_ref, hours)
        self._services = self._load_services(grants)
        self._started = True
        self.logger.info(
            "Connected to Snowflake account %s as %s; load %s started into %s.%s",
            self.config.get("account"),
            self.config.get("user"),
            self.load_id,
            self.database,
            self.schema_name,
        )

    def _load_services(self, grants: RunGrants) -> LoadServices:
        return LoadServices(
            load_id=self.load_id,
            stage_ref=self.stage_ref,
            audit_ref=self.audit_ref,
            rejects_ref=self.rejects_ref,
            dead_letter_dir=self.dead_letter_dir,
            replication_key=self._bookmarks.get,
            claims=self._claims,
            grants=grants,
            batch_submitted=self.batch_submitted,
            batch_committed=self.batch_committed,
            batch_loaded=self.batch_loaded,
        )

    @property
    def services(self) -> LoadServices:
        """What every sink shares, given to each at construction (built by `start`)."""
        if self._services is None:
            raise RuntimeError("the target has not started (TargetSnowflakeFinance.start)")
        return self._services

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: Sequence[str] | None = None,
    ) -> Any:
        self.start()
        existing = self.active_sinks.get(stream_name)
        if (
            schema is not None
            and isinstance(existing, SnowflakeSink)
            and (existing.original_schema != schema or existing.key_properties != key_properties)
        ):
            # A new SCHEMA replaces the sink (the SDK's rule above): its batches read so far
            # commit before the new sink alters the table or loads, keeping the stream in order.
            self.drain_one(existing)
            existing.loader.wait_loaded()
        return super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )

    @override
    def require_sink(self, stream_name: str) -> None:
        if not self.sink_exists(stream_name):
            raise RecordsWithoutSchemaException(
                f"RECORD for stream {stream_name!r} arrived before its SCHEMA message: the tap "
                "must send SCHEMA first (or a stream map renamed the stream)"
            )

    @override
    def on_schema(self, message_dict: dict) -> None:
        stream = message_dict.get("stream", "")
        schema = message_dict.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            raise SingerInputError(
                f"SCHEMA message of stream {stream!r} has no 'properties' object: the tap must "
                "send a JSON Schema of an object with its fields under 'properties'"
            )
        bookmarks = message_dict.get("bookmark_properties") or []
        self._bookmarks[stream] = bookmarks[0] if bookmarks else None
        super().on_schema(message_dict)
        self._direct_sinks.pop(stream, None)
        sink = self.active_sinks.get(stream)
        if stream == MELTANO_TEST_STREAM and isinstance(sink, SnowflakeSink):
            self._meltano_test_table = sink.table_ref
        maps = self.mapper.stream_maps.get(stream) or []
        if (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream
            and not maps[0].flattening_enabled
            and isinstance(sink, SnowflakeSink)
        ):
            self._direct_sinks[stream] = sink

    # Records

    @override
    def on_record(self, message_dict: dict) -> None:
        """Every record goes to its sink's batch through `SnowflakeSink.accept`.

        The SDK's loop (copy, identity map, metadata, hooks, per record) was the largest cost of
        a bulk load in a profile (benchmarks/RESULTS.md); `accept` keeps its verdicts, tallies
        and counters and builds the metadata per batch. A stream whose only map is the identity
        skips the maps; stream maps and flattening transform the record first (`_mapped`).
        """
        sink = self._direct_sinks.get(message_dict.get("stream"))  # type: ignore[arg-type]
        if sink is not None and "record" in message_dict:
            self._excluded.passed += 1
            self._accept(sink, message_dict)
        else:
            self._mapped(message_dict)
        self._unchecked_age += 1
        if self._unchecked_age >= AGE_CHECK_EVERY:  # a clock read per record is measurable
            self._unchecked_age = 0
            self.check_record_age()

    def _mapped(self, message: dict) -> None:
        """Each of the stream's maps transforms a copy of the record (or drops it), as the
        SDK's record path does, and its result is accepted by the sink of the map's stream."""
        self._excluded.count(self.mapper, str(message.get("stream")))
        self.message_reader.assert_line_requires(message, requires={"stream", "record"})
        stream = message["stream"]
        if stream not in self.mapper.stream_maps:
            self.require_sink(stream)
        for stream_map in self.mapper.stream_maps[stream]:
            record = stream_map.transform(copy.copy(message["record"]))
            if record is None:  # the map filtered it out
                continue
            self.require_sink(stream_map.stream_alias)
            sink = self.get_sink(stream_map.stream_alias, record=record)
            assert isinstance(sink, SnowflakeSink)
            self._accept(sink, {**message, "record": record})

    def _bound_held(self, rows: int) -> None:
        """Hand over the fullest batches early while all streams' batches together hold more
        than `batch_size_rows` rows or `batch_memory_mb` of records: memory is those records
        (sinks.record_bytes), so a tap sending invoices, lines and allocations together must
        not hold three batches, and 540-field invoices (Meltano's `*` selection) not 50,000."""
        sinks = [s for s in self.active_sinks.values() if isinstance(s, SnowflakeSink)]
        held_rows = sum(s.current_size for s in sinks)
        held_bytes = sum(s.held_bytes for s in sinks)
        while held_rows > rows or held_bytes > self._memory_budget:
            if held_bytes > self._memory_budget:
                fullest = max(sinks, key=lambda s: s.held_bytes)
            else:
                fullest = max(sinks, key=lambda s: s.current_size)
            if not fullest.current_size:
                break
            held_rows -= fullest.current_size
            held_bytes -= fullest.held_bytes
            self.drain_one(fullest)
            self._emit_covered_states()
        self._rows_held, self._bytes_held = held_rows, held_bytes

    def _accept(self, sink: SnowflakeSink, message: dict) -> None:
        before = sink.held_bytes
        full = sink.accept(message)
        # Counted up per record, recounted only past a limit (batches drained meanwhile make
        # them overestimates).
        self._bytes_held += sink.held_bytes - before
        self._rows_held += 1
        if full:
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%s'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)
            self._emit_covered_states()
        if self._rows_held > sink.max_size or self._bytes_held > self._memory_budget:
            self._bound_held(sink.max_size)

    @override
    def on_batch(self, message_dict: dict) -> None:
        """A BATCH file's records take the RECORD path: same validation, dedupe, audit, state.

        (The SDK hands a whole file to `Sink.process_batch`, which skips all of that.)
        """
        stream = message_dict.get("stream")
        if stream not in self.mapper.stream_maps:
            raise BatchInputError(
                f"BATCH message for stream {stream!r} arrived before its SCHEMA message: the "
                "tap must send SCHEMA first"
            )
        for record in read_records(message_dict):
            self.on_record({"type": "RECORD", "stream": stream, "record": record})

    @override
    def drain_sinks(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        """Hand every sink's partial batch to its background load, then wait for all of them.

        Streams load in parallel in their sinks' own threads (pipeline.py), so the SDK's thread
        pool has nothing left to add.
        """
        # The SDK cleans up a sink replaced by a new SCHEMA only at the end of the input; drained
        # earlier (at a STATE), it is forgotten with its staging table and temp folder.
        replaced = list(sink_list) if sink_list is self.replaced_sinks else []
        sinks = replaced or list(sink_list)
        for sink in sinks:
            self.drain_one(sink)
        for sink in sinks:
            if isinstance(sink, SnowflakeSink):
                sink.loader.wait_loaded()
        if sink_list is not self.replaced_sinks:  # the SDK's second call: every sink waited
            self._batches_since_flush = 0
            with self._state_lock:
                self._pending_states.clear()  # all committed: drain_all writes the latest state
        for sink in replaced:
            if isinstance(sink, SnowflakeSink):
                sink.clean_up_now()

    @override
    def process_endofpipe(self) -> None:
        # Even with no input, a wrong key, account, warehouse or grant fails this run, not the
        # first one that gets data.
        self.start()
        super().process_endofpipe()
        self._excluded.check()
        if self._control is not None:
            if self._meltano_test_table is not None:
                self._control.execute(f"DROP TABLE IF EXISTS {self._meltano_test_table}")
                self.logger.info(
                    "Meltano's configuration test loaded its record; dropped %s again",
                    self._meltano_test_table,
                )
            self._control.close()
        self.logger.info("%s", self._tally.line(self.load_id))

    # State only after commit

    def batch_submitted(self) -> None:
        """A sink handed a batch to its background load (reading thread)."""
        self._batches_since_flush += 1
        self.check_loads()

    def batch_committed(self, table: str, rows: int, rejected: int) -> None:
        """A sink's batch committed (from its loader thread)."""
        with self._tally_lock:
            self._tally.add(table, rows, rejected)

    def _snowflake_sinks(self) -> list[SnowflakeSink]:
        sinks = [*self.replaced_sinks, *self.active_sinks.values()]
        return [s for s in sinks if isinstance(s, SnowflakeSink)]

    def check_loads(self) -> None:
        """Raise the first failure of any stream's background load in the reading thread."""
        for sink in self._snowflake_sinks():
            if sink.loader.load_failure is not None:
                raise sink.loader.load_failure

    @override
    def on_state(self, message_dict: dict) -> None:
        """Emit state as soon as the records before it are committed, not only at the end.

        The SDK emits the latest STATE only from drain_all, after waiting for every sink. Here,
        when a batch was handed over since the last such point, each sink's partial batch is
        handed over too, and the state waits for the batches it covers to commit (in the
        background) while reading goes on; it is written at the first message after that.
        """
        self.start()  # no state passes through before the checks
        super().on_state(message_dict)
        self.check_loads()
        if self._batches_since_flush > 0 and self.latest_state:
            sinks = self._snowflake_sinks()
            for sink in sinks:
                self.drain_one(sink)
            self._batches_since_flush = 0
            needs = [(sink.loader, sink.loader.batches_submitted) for sink in sinks]
            with self._state_lock:
                self._pending_states.append((copy.deepcopy(self.latest_state), needs))
        self._emit_covered_states()

    def batch_loaded(self) -> None:
        """A loader thread counted its commit: write the states it completes, unless a load
        failed (the reading thread raises that failure)."""
        if not any(sink.loader.load_failure is not None for sink in self._snowflake_sinks()):
            self._emit_covered_states()

    def _emit_covered_states(self) -> None:
        """Write the newest pending state whose batches have all committed."""
        with self._state_lock:
            covered = None
            while self._pending_states and all(
                loader.batches_committed >= count for loader, count in self._pending_states[0][1]
            ):
                covered = self._pending_states.pop(0)[0]
            if covered is not None:
                self.write_state(covered)

    @override
    def write_state(self, state: dict) -> None:
        with self._state_lock:
            if shutdown.STOPPING.is_set():  # nothing is committed after a stop signal
                return
            self._excluded.check()
            super().write_state(state)


def _subcommand(args: list[str], word: str) -> int | None:
    """Where `word` stands as a command in `args`: anywhere but as `--config`'s value."""
    # Meltano invokes commands as `target --config FILE replay`, a shell user as `target replay
    # --config FILE`.
    return next(
        (i for i, arg in enumerate(args) if arg == word and (i == 0 or args[i - 1] != "--config")),
        None,
    )


def cli() -> None:
    """Console script: `replay` and `check` go to their commands, everything else to the SDK CLI."""
    args = sys.argv[1:]
    at = _subcommand(args, "replay")
    if at is not None:
        from target_snowflake_finance.replay import main as replay_main

        sys.exit(replay_main(args[:at] + args[at + 1 :]))
    at = _subcommand(args, "check")
    if at is not None:
        from target_snowflake_finance.check import main as check_main

        sys.exit(check_main(args[:at] + args[at + 1 :]))
    TargetSnowflakeFinance.cli()


if __name__ == "__main__":
    cli()
