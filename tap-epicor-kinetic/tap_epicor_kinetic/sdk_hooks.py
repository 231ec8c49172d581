"""Every singer-sdk private name the tap uses, in one place, each with what it relies on and why.

singer-sdk keeps underscore names out of its public API: a minor release may rename them or
change what they do. The tap's classes derive from the two mixins here, which override or call
those names and hand the decisions to public methods of the tap's own. tests/test_sdk_hooks.py
fails when one of them changes in the SDK.
"""

from __future__ import annotations

import typing as t

from singer_sdk import RESTStream, Tap
from singer_sdk.helpers._catalog import get_selected_schema

if t.TYPE_CHECKING:
    from types import FrameType

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.io_base import GenericSingerWriter
    from singer_sdk.singerlib import RecordMessage, SelectionMask

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python < 3.12
    from typing_extensions import override


def selected_schema(name: str, schema: dict[str, t.Any], mask: SelectionMask) -> dict[str, t.Any]:
    """A copy of `schema` without the fields `mask` deselects.

    `helpers._catalog.get_selected_schema` is what the SDK's mapper registers a catalog's
    schemas with (`register_raw_streams_from_catalog`); the tap registers its own with the same
    function, so the two differ only in the facets the tap puts back.
    """
    return get_selected_schema(name, schema, mask)


class TapHooks(Tap):
    """The SDK tap's private methods the tap overrides, each handing over to a public one."""

    def on_termination(self, signum: int) -> None:
        """SIGTERM/SIGINT arrived (the SDK's default: write the state, log, exit 0)."""
        Tap._handle_termination(self, signum, None)

    def check_settings(self, errors: list[str]) -> list[str]:
        """Settings checks beyond the JSON schema's; `errors` are the schema's (none: raised)."""
        return errors

    def before_sync_all(self) -> None:
        """Runs first in `sync_all`, before any state is written."""

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        # PluginBase.__init__ installs this as the SIGTERM/SIGINT handler (`signal.signal`).
        # The SDK's writes the state and exits 0, so a stopped run would look successful.
        self.on_termination(signum)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # PluginBase.__init__ calls this with raise_errors=True when the plugin is built to run
        # (not for --about or an offline --discover): the one place all settings are checked
        # before anything else happens. It raises ConfigValidationError on schema errors.
        errors = super()._validate_config(raise_errors=raise_errors)
        return self.check_settings(errors) if raise_errors else errors

    @override
    def _set_compatible_replication_methods(self) -> None:
        # Tap.sync_all (final) calls this first, before it writes any state: the one hook at the
        # start of a sync.
        self.before_sync_all()
        super()._set_compatible_replication_methods()


class StreamHooks(RESTStream[t.Any]):
    """The SDK stream's private methods and attributes the tap uses, behind public names.

    The tap syncs a child stream once per page of its parent (`Stream.sync` with the rows set
    beforehand): the SDK's per-sync messages (SCHEMA, STATE) would repeat per page, which the
    policy methods below let the stream limit.
    """

    # --- Policy: the subclass decides -------------------------------------------------------

    def schema_due(self) -> bool:
        """Whether this sync() writes a SCHEMA message (the SDK: every call)."""
        return True

    def state_due(self) -> bool:
        """Whether a STATE message the SDK asks for is written now (the SDK: always)."""
        return True

    def bookmark_may_move(self) -> bool:
        """Whether the record being emitted may move the bookmark (the SDK: always)."""
        return True

    def bookmark_moved(self, context: Context | None) -> None:
        """The SDK has just moved the bookmark to the record's value."""

    def write_records(self, record: dict[str, t.Any]) -> bool:
        """Write `record`'s RECORD lines another way; False: the SDK's way."""
        return False

    def record_messages(self, record: dict[str, t.Any]) -> t.Iterator[RecordMessage]:
        """The RECORD messages of one record (the SDK's: see `_generate_record_messages`)."""
        yield from super()._generate_record_messages(record)

    # --- What the tap calls ------------------------------------------------------------------

    @property
    def message_writer(self) -> GenericSingerWriter:
        """The tap's writer: `Stream._tap` is the tap that built the stream (private)."""
        return self._tap.message_writer

    @property
    def stream_version(self) -> int | None:
        """The table version of a FULL_TABLE sync (`Stream._stream_version`, private), or None.

        Stream.sync sets it before ACTIVATE_VERSION; the SDK's RECORD messages carry it.
        """
        return self._stream_version

    def send(
        self, prepared: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        """One request through `RESTStream._request`: the authenticator, the shared session
        with the stream's timeout, the SDK's request-duration metric, then validate_response.
        The retries are the tap's (retry.py), not the SDK's backoff around it."""
        return self._request(prepared, context)

    def write_schema(self) -> None:
        """Write the SCHEMA message(s), through the stream maps (tombstones of a child)."""
        self._write_schema_message()

    def write_record(self, record: dict[str, t.Any]) -> None:
        """Write one record outside `get_records` (tombstones of a child)."""
        self._write_record_message(record)

    def move_bookmark(self, record: dict[str, t.Any], context: Context | None) -> None:
        """Move the bookmark as if `record` had been emitted (a parent read for its children)."""
        self._increment_stream_state(record, context=context)

    # --- The SDK's private methods, overridden ----------------------------------------------

    @override
    def _write_schema_message(self) -> None:
        # Stream.sync writes SCHEMA on every call when the stream is selected.
        if self.schema_due():
            super()._write_schema_message()

    @override
    def _write_state_message(self) -> None:
        # Stream._sync_records writes STATE every STATE_MSG_FREQUENCY records and at the end of
        # each sync(); a STATE skipped here leaves `state_manager.is_flushed` False, so the next
        # one written carries it.
        if self.state_due():
            super()._write_state_message()

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        # Stream._sync_records calls this after each selected record is written; the SDK's
        # version moves the bookmark to the record's replication key value (INCREMENTAL only).
        if not self.bookmark_may_move():
            return
        super()._increment_stream_state(latest_record, context=context)
        self.bookmark_moved(context)

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        # Stream._sync_records calls this for each selected record; it must clear
        # `state_manager.is_flushed` as the SDK's does, or the next STATE would not be written.
        if self.write_records(record):
            self.state_manager.is_flushed = False
            return
        super()._write_record_message(record)

    @override
    def _generate_record_messages(self, record: dict[str, t.Any]) -> t.Iterator[RecordMessage]:
        # The SDK's `_write_record_message` writes what this yields; the SDK's version drops
        # deselected fields and conforms types before the stream maps.
        return self.record_messages(record)
