"""Every use of a singer-sdk private name in the target, each behind a name of ours.

singer-sdk offers no public hook for what the target changes (the record path, state after
commit, its own signal handling, draining in the background), so the target overrides or reads a
few of its underscore names. They live here only, each with what it relies on, and
tests/test_sdk_hooks.py fails when a singer-sdk release changes one of those behaviours. The rest
of the package uses the public names defined below.
"""

from __future__ import annotations

from collections.abc import Iterable

from singer_sdk import Target
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.sinks import BatchSink, Sink
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

# The record metadata the SDK adds (Sink._add_sdc_metadata_to_record), in its key order: the
# target builds the same columns per batch, and the same keys in rejects and dead letters
# (batch.py), so its rows and files look as the SDK's record path would have made them.
SDK_METADATA_FIELDS = (
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_deleted_at",
    "_sdc_sequence",
    "_sdc_table_version",
    "_sdc_sync_started_at",
)


class SinkHooks(BatchSink):
    """The sink's side: the SDK's batch context and validator, behind public names."""

    @property
    def record_validator(self) -> BaseJSONSchemaValidator | None:
        """Relies on `Sink._validator`: set once from `get_validator()` in `Sink.__init__`, None
        when validation is off. The target's record path validates with it, as the SDK's does."""
        return self._validator

    def batch_context(self, record: dict) -> dict:
        """Relies on `BatchSink._get_context`: the pending batch's context, created through
        `start_batch` when none is pending (what the SDK's record path calls per record)."""
        return self._get_context(record)


class TargetHooks(Target):
    """The target's side: message handlers, drain and state writing behind names of ours."""

    @property
    def active_sinks(self) -> dict[str, Sink]:
        """Relies on `Target._sinks_active`: the current sink per stream name."""
        return self._sinks_active

    @property
    def replaced_sinks(self) -> list[Sink]:
        """Relies on `Target._sinks_to_clear`: sinks a new SCHEMA replaced, drained first (with
        parallelism 1, this very list) by `drain_all`, cleaned up only at the end of input."""
        return self._sinks_to_clear

    @property
    def latest_state(self) -> dict | None:
        """Relies on `Target._latest_state`: the last STATE value received (None before one)."""
        return self._latest_state

    def check_record_age(self) -> None:
        """Relies on `Target._handle_max_record_age`: drain everything when the oldest record
        waiting is older than the SDK's limit (the SDK checks after each of its own records)."""
        self._handle_max_record_age()

    @override
    def _setup_signal_handlers(self) -> None:
        # Called from `PluginBase.__init__`; the SDK's handler drains every sink again from
        # inside the signal handler.
        self.install_signal_handlers()

    def install_signal_handlers(self) -> None:
        """Install SIGTERM/SIGINT handling (overridden by the target)."""
        super()._setup_signal_handlers()

    @override
    def _assert_sink_exists(self, stream_name: str) -> None:
        # Called for a RECORD whose stream has no sink (no SCHEMA yet).
        self.require_sink(stream_name)

    def require_sink(self, stream_name: str) -> None:
        """Refuse a RECORD before its SCHEMA (overridden by the target)."""
        super()._assert_sink_exists(stream_name)

    @override
    def _process_schema_message(self, message_dict: dict) -> None:
        # The reader's callback for SCHEMA lines (`Target.listen` → `process_lines`).
        self.on_schema(message_dict)

    def on_schema(self, message: dict) -> None:
        """A SCHEMA message: the SDK's handling (new or replaced sink)."""
        super()._process_schema_message(message)

    @override
    def _process_record_message(self, message_dict: dict) -> None:
        # The reader's callback for RECORD lines.
        self.on_record(message_dict)

    def on_record(self, message: dict) -> None:
        """A RECORD message: the SDK's path (maps, metadata, validation, drain when full)."""
        super()._process_record_message(message)

    @override
    def _process_batch_message(self, message_dict: dict) -> None:
        # The reader's callback for BATCH lines.
        self.on_batch(message_dict)

    def on_batch(self, message: dict) -> None:
        """A BATCH message: the SDK hands the files to `Sink.process_batch_files`."""
        super()._process_batch_message(message)

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        # The reader's callback for STATE lines; the SDK keeps the value as `_latest_state`.
        self.on_state(message_dict)

    def on_state(self, message: dict) -> None:
        """A STATE message: the SDK keeps it as the latest state (written by drain_all)."""
        super()._process_state_message(message)

    @override
    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        # `drain_all` (final in the SDK) calls this twice: replaced sinks, then active ones.
        self.drain_sinks(sink_list, parallelism)

    def drain_sinks(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        """Drain the sinks (the SDK: one at a time or in a thread pool)."""
        super()._drain_all(sink_list, parallelism)

    @override
    def _write_state_message(self, state: dict) -> None:
        # `drain_all` writes the latest state through this once every sink drained.
        self.write_state(state)

    def write_state(self, state: dict) -> None:
        """Write a STATE line to stdout (the SDK's way)."""
        super()._write_state_message(state)


def process_unknown_message(reader: GenericSingerReader, message: dict) -> None:
    """Relies on the reader's `_process_unknown_message`: the SDK's handling of a message type
    it has no callback for (raises for an unknown type), kept for the reader's fast loop."""
    reader._process_unknown_message(message)
