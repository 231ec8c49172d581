"""EpicorStream: one Epicor entity set as a Singer stream, coordinating the modules doing the work.

The stream holds what describes it (service, entity set, keys, replication key, selection) and
the SDK's hooks; the work is done by paging.py (requests, keyset pages), children.py (child
streams from the parent's page), state.py (where a sync starts), positions.py (keyset positions,
what moves the bookmark), documents.py (documents in entry, tombstones), columns.py ($select,
the key against $metadata) and output.py (records and RECORD lines). Settings and connections
come from services.py.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from functools import cached_property
from urllib.parse import quote

import requests
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.types import Context
from singer_sdk.singerlib import MetadataMapping, RecordMessage

from tap_epicor_kinetic import (
    children,
    columns,
    deletions,
    documents,
    output,
    paging,
    positions,
    state,
)
from tap_epicor_kinetic.errors import check_response
from tap_epicor_kinetic.odata import Scalar
from tap_epicor_kinetic.positions import Position
from tap_epicor_kinetic.records import ConversionError, RecordPlan
from tap_epicor_kinetic.run_log import RUN
from tap_epicor_kinetic.sdk_hooks import StreamHooks
from tap_epicor_kinetic.timeutil import looks_like_datetime, utc_now

if t.TYPE_CHECKING:
    from tap_epicor_kinetic.odata import EntityType, ServiceMetadata
    from tap_epicor_kinetic.services import Services
    from tap_epicor_kinetic.tap import TapEpicorKinetic

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python < 3.12
    from typing_extensions import override


class EpicorStream(StreamHooks):
    """One Epicor entity set (or, for child streams, one navigation property of the parent)."""

    #: Epicor service, e.g. `Erp.BO.APInvoiceSvc`.
    service: t.ClassVar[str] = ""
    #: Entity set of a header stream, or navigation property of a child stream.
    entity_set: t.ClassVar[str] = ""
    #: OData property name → emitted field name, where OData renames a column (reference §2).
    renames: t.ClassVar[dict[str, str]] = {}
    #: Child column (OData name) → parent column (OData name) filled in from the parent row.
    parent_keys: t.ClassVar[dict[str, str]] = {}
    #: Replication key unless `replication_keys` overrides it; None for child streams. Stock
    #: Kinetic has no UpdatedOn on any table: SysRevID, a database-wide rowversion, is on all.
    default_replication_key: t.ClassVar[str | None] = "SysRevID"
    #: Unique per row version; breaks replication-key ties and is the fallback key.
    tiebreak_column: t.ClassVar[str] = "SysRevID"
    #: Date column that start_date limits when the replication key is not a date (None: masters,
    #: read in full).
    start_date_column: t.ClassVar[str | None] = None
    #: Header column and value of documents still in entry, re-read every run with their children
    #: (a change to a child row does not write the header); None for masters.
    open_column: t.ClassVar[str | None] = None
    open_value: t.ClassVar[bool] = True
    #: (service, entity set) the documents in entry are re-read from, when another service than
    #: the incremental one holds them (payments: PaymentEntries); None: the stream's own.
    open_source: t.ClassVar[tuple[str, str] | None] = None

    is_sorted = True
    # to_record already emits JSON types for schema fields only (decimal text, ISO dates); the
    # SDK's per-value conformance pass was 38% of the tap's CPU in a profile (benchmarks/).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(
        self,
        tap: TapEpicorKinetic,
        schema: dict[str, t.Any],
        name: str | None = None,
        extra_fields: frozenset[str] = frozenset(),
        ud_fields: frozenset[str] = frozenset(),
    ) -> None:
        """Create the stream with its schema: curated columns, then `extra_fields` ($metadata)."""
        #: Fields from $metadata outside the curated schema: extracted only when selected.
        self.extra_fields = extra_fields
        #: UD fields added by include_ud_fields: always extracted.
        self.ud_fields = ud_fields
        #: Whether the SDK's metadata has had mark_defaults applied (once, when first built).
        self._defaults_marked = False
        #: Settings, session, auth, retries, server clock and $metadata, shared by every stream.
        self.services: Services = tap.services
        super().__init__(tap=tap, schema=schema, name=name)
        configured = self.services.config.get("replication_keys") or {}
        self.replication_key = (
            configured.get(self.name, self.default_replication_key)
            if self.parent_stream_type is None
            else None
        ) or None
        if self.parent_stream_type is not None:
            # One bookmark-free state entry per child stream, not one per parent context.
            self.state_partitioning_keys = []
        #: A child's rows from the page of parents being emitted (children.emit hands them over).
        self.parent_rows: list[dict[str, t.Any]] = []
        #: When the page being emitted arrived: the records' time_extracted.
        self.extracted_at: dt.datetime | None = None
        #: Whether the record being emitted may move the bookmark, and its tie-break.
        self.cursor = positions.Cursor()
        #: A configured replication key not in the bundled schema, added until $metadata says.
        self.placeholder_key: str | None = None
        if self.replication_key and self.replication_key not in self.schema["properties"]:
            self.schema["properties"][self.replication_key] = {
                "type": ["string", "null"],
                "format": "date-time",
                "description": f"{self.replication_key} (replication key; type from $metadata).",
            }
            self.placeholder_key = self.replication_key
        self.entity_type: EntityType | None = None
        self._prepared = False
        self._schema_written = False

    # --- URL, headers, session, auth (shared through services) -----------------------------------

    @property
    @override
    def url_base(self) -> str:
        return self.services.base_url + "/api/v2/odata"

    @property
    def path(self) -> str:  # type: ignore[override]
        """`{service}/{entity_set}`: names the endpoint in metrics and messages."""
        return f"{self.service}/{self.entity_set}"

    def entity_url(self, company: str, source: tuple[str, str] | None = None) -> str:
        """`{base_url}/api/v2/odata/{company}/{service}/{entity_set}` (or of `source`)."""
        service, entity_set = source or (self.service, self.entity_set)
        return f"{self.url_base}/{quote(company, safe='')}/{service}/{entity_set}"

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "User-Agent": self.user_agent}

    @property
    @override
    def requests_session(self) -> requests.Session:
        return self.services.http_session

    @property
    @override
    def authenticator(self) -> requests.auth.AuthBase:  # type: ignore[override]
        return self.services.authenticator

    @property
    @override
    def timeout(self) -> int:
        return int(self.services.request_timeout)

    @override
    def build_prepared_request(self, *args: t.Any, **kwargs: t.Any) -> requests.PreparedRequest:
        # The SDK would also set the shared session's `auth`, which would then sign the token
        # requests themselves; the authenticator is applied once, in `send` (sdk_hooks.py).
        request = requests.Request(*args, **kwargs)
        request.headers.setdefault("User-Agent", self.user_agent)
        return self.requests_session.prepare_request(request)

    @override
    def validate_response(self, response: requests.Response) -> None:
        check_response(response, what=f"Stream '{self.name}'")

    @override
    def response_error_message(self, response: requests.Response) -> str:
        # The SDK's default appends the body and header names; ours is in errors.check_response.
        return f"Stream '{self.name}': HTTP {response.status_code}"

    # --- Children come from the parent's page, never from their own requests ---------------------

    @override
    def schema_due(self) -> bool:
        # Stream.sync() writes SCHEMA on every call, and a child is synced once per parent page:
        # one SCHEMA per run is enough.
        if self._schema_written and self.parent_stream_type is not None:
            return False
        self._schema_written = True
        return True

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # A child is synced once per parent page: a new table version per page would make a
        # target that honours ACTIVATE_VERSION delete every other page's rows.
        if self.parent_stream_type is not None:
            return False
        return bool(super().emit_activate_version_messages)

    @override
    def finalize_state_progress_markers(self, state: dict[str, t.Any] | None = None) -> None:
        # The SDK calls this once after each top-level stream's sync (`sync` itself is final).
        super().finalize_state_progress_markers(state)
        if self.parent_stream_type is None and not state:
            # Children are synced page by page inside their parent: they end when it does.
            for stream in [self, *self.active_descendants()]:
                if stream.selected:
                    self.logger.info("%s", RUN.ended(stream.name))

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        # Children are emitted per page by emit_children, not synced once per parent row.
        return iter(())

    def active_children(self) -> list[EpicorStream]:
        """The child streams to extract: selected, or with a selected child of their own."""
        return children.active(self)

    def active_descendants(self) -> list[EpicorStream]:
        """The active children, their active children, and so on."""
        return children.descendants(self)

    def expand_clause(self) -> str | None:
        """`APInvDtls($select=…;$expand=APInvExps($select=…))` for the active children."""
        return children.expand_clause(self)

    def children_problem(self, rows: list[dict[str, t.Any]]) -> str | None:
        """Why the expanded children of `rows` are not lists of rows; None when they are."""
        return children.expansion_problem(self, rows)

    def complete_children(
        self, rows: list[dict[str, t.Any]], company: str, context: Context | None
    ) -> list[dict[str, t.Any]]:
        """`rows` with every expanded collection that may be cut short read again in full."""
        return children.complete(self, rows, company, context)

    def emit_children(self, rows: list[dict[str, t.Any]], context: Context | None) -> None:
        """Emit the child rows nested in one page of parents, before the parents."""
        children.emit(self, rows, context)

    # --- Columns, values -------------------------------------------------------------------------

    @property
    @override
    def metadata(self) -> MetadataMapping:
        if not self._defaults_marked:
            metadata = super().metadata
            self._defaults_marked = True
            columns.mark_defaults(
                metadata, self.schema["properties"], self.extra_fields, self.ud_fields
            )
        return super().metadata

    def odata_name(self, field: str) -> str:
        """The OData property name of an emitted field."""
        for odata_name, emitted in self.renames.items():
            if emitted == field:
                return odata_name
        return field

    def select_columns(self) -> list[str]:
        """`$select`: the selected schema fields plus keys and paging columns, as OData names."""
        return columns.select(self)

    def ordering_fields(self) -> list[str]:
        """Emitted names of the keyset ordering: replication key, then the tie-break column(s)."""
        tiebreak = self.tiebreak_fields()
        if self.replication_key:
            return [self.replication_key, *[f for f in tiebreak if f != self.replication_key]]
        return tiebreak

    def tiebreak_fields(self) -> list[str]:
        """Unique per row: SysRevID for BO entities."""
        return [self.tiebreak_column]

    # --- Records out (output.py) ------------------------------------------------------------------

    @cached_property
    def record_plan(self) -> RecordPlan:
        """How rows become records: built on first use, after prepare() settled the columns."""
        return output.record_plan(self)

    def to_record(self, row: dict[str, t.Any]) -> dict[str, t.Any]:
        """One OData row → one record of the selected fields: renamed, decimal text, offsets.

        A value that cannot be converted exactly stops the run naming the row and field.
        """
        try:
            return self.record_plan.apply(row)
        except ConversionError as exc:
            raise output.conversion_error(self, row, exc) from None

    @override
    def write_records(self, record: dict[str, t.Any]) -> bool:
        return output.write_records(self, record)

    @override
    def record_messages(self, record: dict[str, t.Any]) -> t.Iterator[RecordMessage]:
        return output.record_messages(self, record)

    # --- Preparing against the instance's $metadata ----------------------------------------------

    @classmethod
    def stream_name(cls) -> str:
        """The stream name, read from the class (the SDK types `name` as instance-only)."""
        return str(cls.name)  # type: ignore[misc]

    @classmethod
    def entity_type_in(cls, meta: ServiceMetadata) -> EntityType | None:
        """This stream's EDM entity type in `meta` (found through the parent for children)."""
        parent = t.cast("type[EpicorStream] | None", cls.parent_stream_type)
        if parent is None:
            return meta.entity_set_type(cls.entity_set)
        parent_type = parent.entity_type_in(meta)
        return meta.navigation_type(parent_type, cls.entity_set) if parent_type else None

    def resolve_entity_type(self) -> EntityType | None:
        """This stream's EDM entity type on this instance (None without $metadata)."""
        meta = self.services.service_metadata(self.service)
        return self.entity_type_in(meta) if meta is not None else None

    def prepare(self) -> None:
        """Check the replication key against $metadata (fallback SysRevID) before syncing."""
        if self._prepared:
            return
        self._prepared = True
        self.entity_type = self.resolve_entity_type()
        if self.replication_key and self.entity_type is not None:
            columns.settle_replication_key(self, self.entity_type)

    @override
    def get_replication_key_signpost(self, context: Context | None) -> t.Any:
        # The first hook of Stream.sync(): resolve the effective replication key here, so the
        # SCHEMA message and the starting bookmark already use it. No signpost: each sync's
        # window is bounded by page_rows instead.
        self.prepare()
        return None

    # --- State: positions and the bookmark (positions.py, state.py) ----------------------------

    def position(self, row: dict[str, t.Any]) -> Position:
        """Where a raw row sits in the keyset ordering."""
        return positions.position(self, row)

    def position_value(self, value: t.Any) -> Scalar:
        """An ordering column's raw value, comparable."""
        return positions.position_value(self, value)

    @override
    def bookmark_may_move(self) -> bool:
        # Not for a row stamped after the server's clock (see clock.py), a row re-read below
        # the bookmark (late commits) or a re-read open document: the bookmark stays.
        return self.cursor.may_move()

    @override
    def bookmark_moved(self, context: Context | None) -> None:
        if self.replication_key and self.cursor.tiebreak is not None:
            self.get_context_state(context)[state.TIEBREAK_STATE_KEY] = dict(self.cursor.tiebreak)

    @override
    def state_due(self) -> bool:
        # The SDK ends every child sync with a STATE, and children are synced once per page of
        # parents: one STATE per page, each carrying the whole state (open documents' child keys
        # included, megabytes on a large company), made the output grow with pages x state.
        # Inside a page the child's STATE is written at most every CHILD_STATE_INTERVAL_S (a
        # long first load still saves progress); otherwise its bookmark travels in the parent's
        # next STATE (every STATE_MSG_FREQUENCY parent records and at the end of its sync).
        if self.parent_stream_type is not None and self.parent_rows and state.STATE_CLOCK.recent():
            return False
        state.STATE_CLOCK.written()
        return True

    @override
    def compare_start_date(self, value: str, start_date_value: str) -> str:
        # start_date only bounds date-time keys; a SysRevID bookmark is not a date.
        if not self.is_timestamp_replication_key or not looks_like_datetime(value):
            return value
        return super().compare_start_date(value, start_date_value)

    # --- Requests and paging (paging.py) ---------------------------------------------------------

    def get_rows(
        self, url: str, params: dict[str, t.Any], context: Context | None
    ) -> list[dict[str, t.Any]]:
        """GET with the shared retries: the rows of the answer, numbers as Decimal."""
        return paging.get_rows(self, url, params, context)

    def page_rows(
        self, company: str, context: Context | None
    ) -> t.Iterator[list[dict[str, t.Any]]]:
        """Pages of raw rows, keyset-paged inside the window fixed when the sync starts."""
        return paging.page_rows(self, company, context)

    def keyed_pages(
        self,
        company: str,
        filter_: str,
        context: Context | None,
        *,
        source: tuple[str, str] | None = None,
    ) -> t.Iterator[list[dict[str, t.Any]]]:
        """Pages of the rows matching `filter_`, keyset-paged on the primary key."""
        return paging.keyed_pages(self, company, filter_, context, source=source)

    def primary_columns(self) -> list[str]:
        """The primary key as OData column names."""
        return [self.odata_name(k) for k in self.primary_keys or []]

    # --- Documents: keys and tombstones (documents.py re-reads the open ones) --------------------

    def document_key(self, row: dict[str, t.Any]) -> tuple[t.Any, ...]:
        """The primary key of a raw row, JSON-safe."""
        return tuple(positions.json_safe(row.get(c)) for c in self.primary_columns())

    def write_tombstones(self, keys: list[tuple[t.Any, ...]], deleted_at: str) -> None:
        """Write one tombstone record per primary key (child streams; headers yield theirs)."""
        if not keys:
            return
        self.write_schema()
        fields = list(self.primary_keys or [])
        for key in keys:
            self.write_record(deletions.tombstone(fields, key, deleted_at))

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        if self.parent_stream_type is not None:
            yield from children.child_records(self, context)
            return
        self.prepare()
        company = str((context or {}).get("Company") or self.services.companies[0])
        started = utc_now()
        open_documents = documents.OpenDocuments(self, context) if documents.tracked(self) else None
        for rows in self.page_rows(company, context):
            self.extracted_at = utc_now()
            self.emit_children(rows, context)
            if open_documents:
                open_documents.note(rows)
            for row in positions.rows_with_cursor(self, rows):
                record = self.to_record(row)
                if not self.selected and self.replication_key:
                    # Only children are selected: keep the bookmark moving all the same.
                    self.move_bookmark(record, context)
                yield record
        # Documents read again (open or looked up) never move the bookmark.
        self.cursor = positions.Cursor(hold=True)
        try:
            if open_documents:
                yield from open_documents.reread(company, context)
        finally:
            self.cursor = positions.Cursor()
            self.extracted_at = None
        state.record_run(self, context, started)

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        if self.parent_stream_type is not None:
            return None
        return [{"Company": company} for company in self.services.companies]
