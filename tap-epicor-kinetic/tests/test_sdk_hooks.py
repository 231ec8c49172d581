"""The singer-sdk private names sdk_hooks.py relies on: still there, still called where relied on.

Each hook has a signature check (the name and parameters), a check that the SDK still calls it
from where the tap relies on, and, where cheap, the behaviour seen through a real sync.
"""

from __future__ import annotations

import datetime as dt
import inspect
import io
import json
from contextlib import redirect_stdout
from typing import Any

import pytest
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers import _catalog
from singer_sdk.plugin_base import PluginBase
from singer_sdk.singerlib import RecordMessage
from tap_epicor_kinetic.output import FastWriter
from tap_epicor_kinetic.selection import NothingToExtractError
from tap_epicor_kinetic.tap import TapEpicorKinetic

OFFLINE = {"company": "EPIC06", "api_key": "k", "username": "u", "password": "p"}
INVOICE_FAMILY = {
    "ap_invoices",
    "ap_invoice_lines",
    "ap_invoice_gl_allocations",
    "ap_invoice_taxes",
    "ap_invoice_misc_charges",
    "ap_invoice_header_allocations",
}


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _source(function: Any) -> str:
    return inspect.getsource(function)


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    [
        (Stream, "_write_schema_message", ["self"]),
        (Stream, "_write_state_message", ["self"]),
        (Stream, "_increment_stream_state", ["self", "latest_record", "context"]),
        (Stream, "_write_record_message", ["self", "record"]),
        (Stream, "_generate_record_messages", ["self", "record"]),
        (RESTStream, "_request", ["self", "prepared_request", "context"]),
        (PluginBase, "_handle_termination", ["self", "signum", "frame"]),
        (PluginBase, "_validate_config", ["self", "raise_errors"]),
        (Tap, "_set_compatible_replication_methods", ["self"]),
        (_catalog, "get_selected_schema", ["stream_name", "schema", "mask"]),
    ],
)
def test_each_private_name_the_hooks_use_still_has_its_signature(
    owner: Any, name: str, parameters: list[str]
) -> None:
    assert _parameters(getattr(owner, name)) == parameters


def test_the_private_attributes_the_hooks_read_are_set_by_the_stream() -> None:
    tap = TapEpicorKinetic(config=OFFLINE, parse_env_config=False, validate_config=False)
    stream = tap.streams["ap_invoices"]
    assert stream._tap is tap
    assert stream._stream_version is None
    assert stream.message_writer is tap.message_writer
    assert stream.stream_version is None


def test_the_sdk_still_calls_the_hooks_where_the_tap_relies_on_it() -> None:
    sync = _source(Stream.sync)
    assert "self._write_schema_message()" in sync
    records = _source(Stream._sync_records)
    # Per selected record: written, then the bookmark moved; STATE every N records and at the
    # end of each sync() (a child's per-page sync included).
    written = records.index("self._write_record_message(record)")
    moved = records.index("self._increment_stream_state(record, context=current_context)")
    assert written < moved
    assert records.count("self._write_state_message()") >= 2
    # A skipped STATE stays pending: the next one written carries it.
    assert "if not self.state_manager.is_flushed:" in _source(Stream._write_state_message)
    assert "self.state_manager.is_flushed = False" in _source(Stream._write_record_message)
    assert "self._generate_record_messages(record)" in _source(Stream._write_record_message)
    # RESTStream._request: the authenticator, the session's send, then validate_response.
    request = _source(RESTStream._request)
    assert request.index("self.authenticator(") < request.index("self.requests_session.send(")
    assert "self.validate_response(response)" in request
    # sync_all starts with the hook, before it writes any state.
    sync_all = _source(Tap.sync_all)
    assert sync_all.index("self._set_compatible_replication_methods()") < sync_all.index(
        "write_state"
    )
    plugin_init = _source(PluginBase.__init__)
    assert "self._validate_config(raise_errors=" in plugin_init
    assert "self._setup_signal_handlers()" in plugin_init
    handlers = _source(PluginBase._setup_signal_handlers)
    assert "signal.signal(signal.SIGTERM, self._handle_termination)" in handlers


def test_settings_are_checked_through_the_validate_config_hook() -> None:
    config = {**OFFLINE, "base_url": "https://erp.example.com/ERP11", "page_size": 0}
    with pytest.raises(ConfigValidationError) as raised:
        TapEpicorKinetic(config=config, parse_env_config=False)
    assert "page_size: must be at least 1." in raised.value.errors


def test_nothing_selected_stops_sync_all_before_any_state() -> None:
    tap = TapEpicorKinetic(config=OFFLINE, parse_env_config=False, validate_config=False)
    for stream in tap.streams.values():
        stream.selected = False
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(NothingToExtractError):
        tap.sync_all()
    assert out.getvalue() == ""


def test_the_fast_record_line_is_the_sdks_line_byte_for_byte(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    record = {"InvoiceNum": "A-1", "InvoiceAmt": 12.5, "Posted": False, "Note": None}
    extracted = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    FastWriter().write_record("ap_invoices", record, 7, extracted)
    fast = capsysbinary.readouterr().out
    message = RecordMessage(
        stream="ap_invoices", record=record, version=7, time_extracted=extracted
    )
    assert fast == MsgSpecWriter().format_message(message)


def test_a_small_sync_writes_one_schema_per_stream_and_bookmarks_with_tiebreak(
    small_sandbox: Any, tap_runner: Any
) -> None:
    """Children are synced once per parent page: still one SCHEMA each, and the bookmark the
    SDK moves carries the tap's tie-break."""
    config = small_sandbox.tap_config(page_size=10)
    catalog = tap_runner.select_only(config, INVOICE_FAMILY)
    tap = TapEpicorKinetic(config=config, catalog=catalog, parse_env_config=False)
    out = io.StringIO()
    with redirect_stdout(out):
        tap.sync_all()
    messages = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    schemas = [m["stream"] for m in messages if m["type"] == "SCHEMA"]
    records = {m["stream"] for m in messages if m["type"] == "RECORD"}
    assert sorted(schemas) == sorted(set(schemas))
    assert records <= set(schemas)
    assert {"ap_invoices", "ap_invoice_lines", "ap_invoice_gl_allocations"} <= records
    # Several pages of parents, each syncing the children: far fewer STATE than child syncs.
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert len(states) < 10
    partition = states[-1]["bookmarks"]["ap_invoices"]["partitions"][0]
    assert partition["replication_key"] == "SysRevID"
    # Written by the tap after the SDK moved the bookmark (SysRevID is its own tie-break).
    assert partition["replication_key_tiebreak"] == {}
