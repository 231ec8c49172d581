"""The source clock: a row stamped in the future never becomes the bookmark; extreme dates work.

A proxy in front of the emulator (started with UpdatedOn) restamps chosen vendors; the server's
own `Date` header is the tap's idea of "now" at the source.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from finance_sandbox.testing.hostile import Forward, HostileServer, Reply, Seen

# Stock Kinetic's key is SysRevID: these tests read vendors by their UpdatedOn on purpose, with
# no late-commit lookback so that a second run reads exactly the rows after the bookmark.
UPDATED_ON: dict[str, Any] = {
    "replication_keys": {"vendors": "UpdatedOn"},
    "late_commit_lookback_minutes": 0,
}


def _ordered(sandbox: Any) -> list[dict[str, Any]]:
    return sorted(sandbox.truth("vendors"), key=lambda v: (v["UpdatedOn"], v["SysRevID"]))


def _restamping(stamps: dict[int, str]) -> Any:
    """Serve vendors with these UpdatedOn values (SysRevID → value; the window's upper bound
    is read with the ordering columns only, so the row is known by its SysRevID there too)."""

    def respond(seen: Seen, forward: Forward) -> Reply:
        reply = forward()
        if "/Erp.BO.VendorSvc/Vendors?" in seen.path and reply.status == 200:
            body = json.loads(reply.body)
            for row in body["value"]:
                if row.get("SysRevID") in stamps and "UpdatedOn" in row:
                    row["UpdatedOn"] = stamps[row["SysRevID"]]
            reply.body = json.dumps(body).encode()
        return reply

    return respond


def _bookmark(result: Any) -> str:
    (partition,) = result.state["bookmarks"]["vendors"]["partitions"]
    assert partition["replication_key"] == "UpdatedOn"
    return str(partition["replication_key_value"])


def test_a_row_stamped_in_the_future_is_emitted_but_never_the_bookmark(
    epicor_sandbox_updated_on: Any, tap_runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = epicor_sandbox_updated_on
    vendors = _ordered(sandbox)
    future = vendors[-1]["VendorNum"]  # the newest row: restamping it keeps the order
    stamps = {vendors[-1]["SysRevID"]: "2099-01-01T00:00:00"}
    with HostileServer(_restamping(stamps), upstream=sandbox.root) as proxy:
        config = sandbox.tap_config(
            base_url=f"{proxy.url}/EpicorSandbox", page_size=5, **UPDATED_ON
        )
        catalog = tap_runner.select_only(config, {"vendors"})
        with caplog.at_level(logging.WARNING):
            first = tap_runner.sync(config, catalog=catalog)
        second = tap_runner.sync(config, catalog=catalog, state=first.state)
    emitted = {r["VendorNum"]: r for r in first.records["vendors"]}
    assert len(emitted) == len(vendors)
    assert emitted[future]["UpdatedOn"].startswith("2099-01-01T00:00:00")
    bookmark = dt.datetime.fromisoformat(_bookmark(first))
    assert bookmark < dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"VendorNum={future}" in w and "2099-01-01" in w for w in warnings), warnings
    # The next run reads the future row again (a harmless duplicate), and every later change.
    assert [r["VendorNum"] for r in second.records["vendors"]] == [future]
    assert _bookmark(second) == _bookmark(first)


def test_the_extreme_dates_of_the_type_load_and_work_as_bookmarks(
    epicor_sandbox_updated_on: Any, tap_runner: Any
) -> None:
    sandbox = epicor_sandbox_updated_on
    vendors = _ordered(sandbox)
    lowest, highest = vendors[0]["VendorNum"], vendors[-1]["VendorNum"]
    stamps = {
        vendors[0]["SysRevID"]: "0001-01-01T00:00:00",
        vendors[-1]["SysRevID"]: "9999-12-31T23:59:59.999",
    }
    with HostileServer(_restamping(stamps), upstream=sandbox.root) as proxy:
        config = sandbox.tap_config(
            base_url=f"{proxy.url}/EpicorSandbox", start_date=None, **UPDATED_ON
        )
        catalog = tap_runner.select_only(config, {"vendors"})
        first = tap_runner.sync(config, catalog=catalog)
        emitted = {r["VendorNum"]: r["UpdatedOn"] for r in first.records["vendors"]}
        # The same instants, with an RFC 3339 offset (year 1 is in local mean time, -05:50:36
        # in Chicago, which has no RFC 3339 form: such values are emitted in UTC).
        zone = ZoneInfo(sandbox.timezone)
        first_instant = dt.datetime(1, 1, 1, tzinfo=zone)
        last_instant = dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=zone)
        assert dt.datetime.fromisoformat(emitted[lowest]) == first_instant
        assert dt.datetime.fromisoformat(emitted[highest]) == last_instant
        assert emitted[highest].startswith("9999-12-31T23:59:59.999")
        # Either extreme as a saved bookmark (as the tap writes them): no OverflowError.
        for value in (emitted[highest], emitted[lowest]):
            state = {
                "bookmarks": {
                    "vendors": {
                        "partitions": [
                            {
                                "context": {"Company": sandbox.company},
                                "replication_key": "UpdatedOn",
                                "replication_key_value": value,
                            }
                        ]
                    }
                }
            }
            again = tap_runner.sync(config, catalog=catalog, state=state)
            got = {r["VendorNum"] for r in again.records["vendors"]}
            if value == emitted[lowest]:
                assert got == set(emitted)  # everything is after the first instant
            # (after the last instant nothing is newer: the emulator filters on real stamps)
