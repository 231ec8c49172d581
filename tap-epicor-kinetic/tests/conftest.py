"""Helpers for the tap tests: run a sync in-process or through the CLI and collect its messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from tap_epicor_kinetic.streams import STREAM_TYPES
from tap_epicor_kinetic.tap import TapEpicorKinetic

#: Every stream's class by name: key fields and OData renames come from the tap itself.
STREAM_CLASSES = {stream.stream_name(): stream for stream in STREAM_TYPES}


@dataclass
class SyncResult:
    """What a sync wrote to stdout, split by message type."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE value."""
        return self.states[-1]

    def counts(self) -> dict[str, int]:
        """Records per stream."""
        return {name: len(rows) for name, rows in self.records.items() if rows}

    @classmethod
    def parse(cls, text: str) -> SyncResult:
        """Parse Singer messages (one JSON object per line)."""
        result = cls()
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            message = json.loads(line)
            if message["type"] == "RECORD":
                result.records[message["stream"]].append(message["record"])
            elif message["type"] == "SCHEMA":
                result.schemas[message["stream"]] = message
            elif message["type"] == "STATE":
                result.states.append(message["value"])
        return result


def sync(
    config: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    record_limit: int | None = None,
    on_response: Callable[[requests.Response], None] | None = None,
) -> SyncResult:
    """Run the tap in-process against the sandbox (real HTTP) and collect its output.

    `record_limit` stops each stream after that many records, the way an interrupted run stops;
    `on_response` sees every HTTP response the tap receives (to observe its requests).
    """
    tap = TapEpicorKinetic(config=config, state=state, catalog=catalog, parse_env_config=False)
    if on_response is not None:
        tap.http_session.hooks["response"].append(lambda r, *_, **__: on_response(r))
    out = io.StringIO()
    with redirect_stdout(out):
        if record_limit is None:
            tap.sync_all()
        else:
            tap.run_sync_dry_run(dry_run_record_limit=record_limit)
    return SyncResult.parse(out.getvalue())


def select_only(config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """A catalog from discovery with only `streams` selected."""
    tap = TapEpicorKinetic(config=config, parse_env_config=False)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


@dataclass
class CliRun:
    """A finished `tap-epicor-kinetic` process."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(tmp_path: Path, config: dict[str, Any], *args: str) -> CliRun:
    """Run the console script as a user would, with the config in a file."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    script = Path(sys.executable).with_name("tap-epicor-kinetic")
    proc = subprocess.run(
        [str(script), "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def data_requests(counters: dict[str, Any], route_part: str) -> int:
    """Requests (any status) counted by the sandbox on routes containing `route_part`."""
    return sum(
        sum(statuses.values())
        for route, statuses in counters["by_route"].items()
        if route_part in route
    )


def key_fields(stream: str, *, odata: bool = False) -> tuple[str, ...]:
    """A stream's key fields without `Company` (one per sandbox); OData names for truth rows."""
    cls = STREAM_CLASSES[stream]
    to_odata = {emitted: name for name, emitted in cls.renames.items()}
    return tuple(
        to_odata.get(k, k) if odata else k for k in cls.primary_keys or () if k != "Company"
    )


def row_keys(
    stream: str, rows: list[dict[str, Any]], *, odata: bool = False
) -> list[tuple[Any, ...]]:
    """The key of each row, in order: emitted records, or the sandbox's truth with `odata=True`."""
    names = key_fields(stream, odata=odata)
    return [tuple(row[n] for n in names) for row in rows]


class TapRunner:
    """The helpers above as one fixture (test modules cannot import conftest in importlib mode)."""

    SyncResult = SyncResult
    sync = staticmethod(sync)
    select_only = staticmethod(select_only)
    run_cli = staticmethod(run_cli)
    data_requests = staticmethod(data_requests)
    key_fields = staticmethod(key_fields)
    row_keys = staticmethod(row_keys)
    streams = tuple(STREAM_CLASSES)


@pytest.fixture
def tap_runner() -> type[TapRunner]:
    """Run the tap and read the sandbox counters."""
    return TapRunner


@pytest.fixture
def small_sandbox(epicor_sandbox_factory: Any) -> Any:
    """A private emulator with little data, for tests that change data or set faults."""
    return epicor_sandbox_factory(invoices=40)
