"""TapEpicorKinetic: settings, the stream list, and the shared HTTP session, auth and metadata."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import typing as t
from functools import cached_property

import requests
from singer_sdk import Stream
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_epicor_kinetic.baq import BaqStream
from tap_epicor_kinetic.client import EpicorStream
from tap_epicor_kinetic.columns import add_served_columns
from tap_epicor_kinetic.output import FastWriter
from tap_epicor_kinetic.run_log import FIRST_START_ONLY, RUN
from tap_epicor_kinetic.schema import add_ud_fields, bundled_schema, restore_decimal_facets
from tap_epicor_kinetic.sdk_hooks import TapHooks, selected_schema
from tap_epicor_kinetic.selection import NothingToExtractError, check_streams_to_extract
from tap_epicor_kinetic.services import Services
from tap_epicor_kinetic.settings import CONFIG_SCHEMA
from tap_epicor_kinetic.streams import STREAM_TYPES
from tap_epicor_kinetic.unset_settings import drop_unset_defaulted, drop_unset_sdk_settings

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python < 3.12
    from typing_extensions import override

STREAM_NAMES = tuple(stream.stream_name() for stream in STREAM_TYPES)
# After SIGTERM/SIGINT the tap exits within this long, whatever it is waiting for.
TERMINATION_GRACE_SECONDS = 20.0


class TapEpicorKinetic(TapHooks):
    """Singer tap for Epicor Kinetic finance data over REST v2 / OData v4."""

    name = "tap-epicor-kinetic"
    # msgspec encodes records several times faster than the default writer (benchmarks/).
    message_writer_class = FastWriter

    def __init__(self, *args: t.Any, config: t.Any = None, **kwargs: t.Any) -> None:
        if isinstance(config, dict):
            config = drop_unset_sdk_settings(config, self.logger)
            config = drop_unset_defaulted(config, self.config_jsonschema)
        super().__init__(*args, config=config, **kwargs)

    @classmethod
    @contextlib.contextmanager
    def _expected_failures(cls) -> t.Iterator[None]:
        """A refused credential, an exhausted retry budget or a bad setting is an expected
        failure whose message names the setting and the fix: say it once, exit 1, and keep
        tracebacks for what is a bug."""
        try:
            yield
        except (FatalAPIError, NothingToExtractError) as exc:
            cls.logger.error("%s", exc)
            raise SystemExit(1) from None
        except ConfigValidationError as exc:
            # The SDK would end with a bare "Config validation failed"; end with what to fix.
            for error in exc.errors or [str(exc)]:
                cls.logger.error("Setting error: %s", error)
            raise SystemExit(1) from None

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:  # type: ignore[override]
        with cls._expected_failures():
            super().invoke(*args, **kwargs)
            if RUN.records or RUN.requests:  # a sync ran (not --about or --discover)
                cls.logger.info("%s", RUN.summary())

    @classmethod
    @override
    def cb_discover(cls, ctx: t.Any, param: t.Any, value: bool) -> None:
        # `--discover` runs in click's option callback, before `invoke`; Meltano runs it before
        # every `meltano run`, so its failures need the same one line.
        with cls._expected_failures():
            super().cb_discover(ctx, param, value)

    @classmethod
    @override
    def cb_test(cls, ctx: t.Any, param: t.Any, value: str) -> None:
        # `--test` (a connection test) also runs in a callback before `invoke`.
        with cls._expected_failures():
            super().cb_test(ctx, param, value)

    @override
    def on_termination(self, signum: int) -> None:
        # The SDK logs "Gracefully shutting down" and exits 0, so an orchestrator that stops a
        # run sees success for a partial extract. Write the state of what was emitted (the
        # records before it are flushed first), then exit 128 + signal: 143 for SIGTERM.
        code = 128 + signum
        if self._terminating:
            os._exit(code)  # a second signal: stop now
        self._terminating = True
        name = signal.Signals(signum).name
        # Anything the stop waits for (a page in flight, a stalled answer) is cut short.
        watchdog = threading.Timer(TERMINATION_GRACE_SECONDS, os._exit, args=(code,))
        watchdog.daemon = True
        watchdog.start()
        with contextlib.suppress(Exception):  # e.g. a signal in the middle of a blocked write
            self.state_writer.write_state(self.state)
        self.logger.error(
            "Stopped by %s: the extract is incomplete; the last STATE written covers every "
            "record before it, so the next run continues from there. Exiting %d.",
            name,
            code,
        )
        sys.exit(code)

    @override
    def check_settings(self, errors: list[str]) -> list[str]:
        # Runs when the tap is built to sync (not for --about or an offline --discover): every
        # setting is checked here, before any request and before any "error while syncing".
        services = self.services
        checks: list[t.Callable[[], object]] = [
            lambda: services.companies,
            lambda: services.base_url if services.online else None,
            lambda: services.zone,
            lambda: services.start_date,
            lambda: services.page_size,
            lambda: services.max_concurrent_requests,
            lambda: services.credentials.validate(),  # noqa: PLW0108 (credentials may raise)
        ]
        for check in checks:
            try:
                check()
            except (ConfigValidationError, ValueError) as exc:
                errors.append(str(exc))
        if errors:
            errors = list(dict.fromkeys(errors))  # start_date repeats a server_timezone error
            raise ConfigValidationError("; ".join(errors), errors=errors)
        return errors

    @override
    def before_sync_all(self) -> None:
        check_streams_to_extract(self.streams.values(), self.mapper, self.logger)

    _terminating = False

    config_jsonschema = CONFIG_SCHEMA

    # --- What the streams share ---------------------------------------------------------------

    @cached_property
    def services(self) -> Services:
        """Settings, session, auth, retries, clock and $metadata: built once, given to streams."""
        return Services(self.config, self.logger)

    @property
    def http_session(self) -> requests.Session:
        """The session every data request goes through (tests and benchmarks hook into it)."""
        return self.services.http_session

    # --- Streams ----------------------------------------------------------------------------

    def _stream(self, stream_type: type[EpicorStream]) -> EpicorStream:
        """The stream with its curated schema, UD fields if asked, then every other column."""
        schema = bundled_schema(stream_type.stream_name())
        wanted = self._selected_services()
        in_use = wanted is None or stream_type.service in wanted
        read_meta = bool(self.config.get("base_url")) and in_use
        meta = self.services.service_metadata(stream_type.service) if read_meta else None
        entity = stream_type.entity_type_in(meta) if meta else None
        if entity is None:
            return stream_type(tap=self, schema=schema)
        ud: list[str] = []
        if self.config.get("include_ud_fields"):
            ud = add_ud_fields(schema, entity)
            if ud:
                self.logger.info(
                    "Stream '%s': user-defined fields %s", stream_type.stream_name(), ", ".join(ud)
                )
        extra = add_served_columns(schema, entity, stream_type.renames)
        return stream_type(
            tap=self, schema=schema, extra_fields=frozenset(extra), ud_fields=frozenset(ud)
        )

    def _selected_services(self) -> set[str] | None:
        """Services of the streams a given catalog selects; None when discovering (all of them).

        A sync reads `$metadata` only for these: an unselected stream's service costs a request
        and could fail the run for data nobody asked for.
        """
        catalog = self.input_catalog
        if catalog is None:
            return None
        wanted = set()
        for stream_type in STREAM_TYPES:
            entry = catalog.get(stream_type.stream_name())
            if entry is None:
                continue
            root = entry.metadata.root
            if root.selected or (root.selected is None and root.selected_by_default):
                wanted.add(stream_type.service)
        return wanted

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        # The SDK orders streams by name; DESIGN §3 syncs dimensions first (GL, vendors, parts).
        streams = super().streams
        for stream in streams.values():
            stream.logger.addFilter(FIRST_START_ONLY)  # (a no-op when already added)
        order = {name: index for index, name in enumerate(STREAM_NAMES)}
        if list(streams) != sorted(streams, key=lambda name: order.get(name, len(order))):
            ordered = sorted(streams.items(), key=lambda item: order.get(item[0], len(order)))
            streams.clear()
            streams.update(ordered)
        return streams

    @property
    @override
    def catalog_dict(self) -> dict[str, t.Any]:
        # The discovered catalog keeps each decimal's precision/scale too (the Catalog drops them).
        catalog = super().catalog_dict
        for entry in catalog.get("streams", []):
            stream = self.streams.get(entry.get("tap_stream_id", ""))
            if stream is not None:
                restore_decimal_facets(entry["schema"], stream.schema)
        return catalog

    @override
    def setup_mapper(self) -> None:
        super().setup_mapper()
        # The mapper's schemas come from the Catalog, which drops `precision`/`scale`: put them
        # back so SCHEMA messages declare NUMBER(p,s) for every decimal.
        for entry in self.catalog.streams:
            name = entry.stream or entry.tap_stream_id
            stream = self.streams.get(name)
            if stream is None:
                continue
            schema = selected_schema(
                name, entry.schema.to_dict(), entry.metadata.resolve_selection()
            )
            if restore_decimal_facets(schema, stream.schema):
                self.mapper.register_raw_stream_schema(name, schema, entry.key_properties)

    @override
    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = [self._stream(stream_type) for stream_type in STREAM_TYPES]
        taken = set(STREAM_NAMES)
        for index, definition in enumerate(self.config.get("baq_streams") or []):
            name = str(definition.get("name") or "")
            if not name or name in taken:
                msg = (
                    f"baq_streams[{index}].name: {name!r} is empty or already used; give each "
                    "BAQ stream its own name."
                )
                raise ConfigValidationError(msg, errors=[msg])
            taken.add(name)
            streams.append(BaqStream(tap=self, definition=definition))
        self._check_replication_keys(streams)
        if self.config.get("base_url"):
            # Announce the key a sync will use: an override the instance lacks falls back.
            for stream in streams:
                if (
                    isinstance(stream, EpicorStream)
                    and not isinstance(stream, BaqStream)
                    and stream.replication_key not in (None, stream.default_replication_key)
                ):
                    stream.prepare()
        return streams

    def _check_replication_keys(self, streams: list[Stream]) -> None:
        """Name an override for an unknown stream; say that child streams follow their parent."""
        by_name = {stream.name: stream for stream in streams}
        for name in self.config.get("replication_keys") or {}:
            stream = by_name.get(name)
            if stream is None:
                msg = (
                    f"replication_keys.{name}: there is no stream {name!r}; use one of "
                    f"{', '.join(n for n, s in by_name.items() if s.parent_stream_type is None)}."
                )
                raise ConfigValidationError(msg, errors=[msg])
            if stream.parent_stream_type is not None:
                self.logger.warning(
                    "replication_keys.%s is ignored: child streams are read with their parent.",
                    name,
                )


if __name__ == "__main__":
    logging.basicConfig()
    TapEpicorKinetic.cli()
