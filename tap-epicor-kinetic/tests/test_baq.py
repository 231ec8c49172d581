"""Point 8: `baq_streams` read BaqSvc/{id}/Data, incrementally when a replication key is given."""

from __future__ import annotations

from typing import Any

AGING = {
    "name": "ap_aging",
    "baq_id": "FIN-APAging",
    "primary_keys": ["APInvHed_Company", "APInvHed_VendorNum", "APInvHed_InvoiceNum"],
    "replication_key": "APInvHed_UpdatedOn",
}


def _keys(rows: list[dict[str, Any]]) -> set[tuple[int, str]]:
    return {(r["APInvHed_VendorNum"], r["APInvHed_InvoiceNum"]) for r in rows}


def test_baq_stream_is_incremental_on_its_replication_key(
    epicor_sandbox_updated_on: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox_updated_on.tap_config(baq_streams=[AGING], page_size=7)
    catalog = tap_runner.select_only(config, {"ap_aging"})
    first = tap_runner.sync(config, catalog=catalog)

    rows = first.records["ap_aging"]
    schema = first.schemas["ap_aging"]
    assert schema["key_properties"] == AGING["primary_keys"]
    assert schema["bookmark_properties"] == ["APInvHed_UpdatedOn"]
    assert schema["schema"]["properties"]["APInvHed_InvoiceAmt"]["format"] == "x-singer.decimal"
    # The BAQ's own selection (posted invoices with a balance), over several pages.
    assert _keys(rows) == {
        (r["VendorNum"], r["InvoiceNum"])
        for r in epicor_sandbox_updated_on.truth("ap_invoices")
        if r["Posted"] and r["InvoiceBal"] != 0
    }
    assert len(rows) > 7
    assert len(_keys(rows)) == len(rows)
    assert rows[0]["APInvHed_UpdatedOn"].endswith(("-05:00", "-06:00"))
    bookmark = first.state["bookmarks"]["ap_aging"]["partitions"][0]
    assert bookmark["replication_key"] == "APInvHed_UpdatedOn"
    assert bookmark["replication_key_value"] == max(r["APInvHed_UpdatedOn"] for r in rows)

    # Nothing new (with no late-commit lookback: nothing is read again).
    quiet = {**config, "late_commit_lookback_minutes": 0}
    assert tap_runner.sync(quiet, catalog=catalog, state=first.state).counts() == {}

    # A bookmark in the middle: the next run reads exactly the rows after it, keyset by key.
    ordered = sorted(rows, key=lambda r: (r["APInvHed_UpdatedOn"], r["APInvHed_VendorNum"]))
    middle = ordered[len(ordered) // 2]
    state = {
        "bookmarks": {
            "ap_aging": {
                "partitions": [
                    {
                        "context": {"Company": "EPIC06"},
                        "replication_key": "APInvHed_UpdatedOn",
                        "replication_key_value": middle["APInvHed_UpdatedOn"],
                        "replication_key_tiebreak": {k: middle[k] for k in AGING["primary_keys"]},
                    }
                ]
            }
        }
    }
    later = tap_runner.sync(quiet, catalog=catalog, state=state)
    expected = [
        r
        for r in rows
        if (r["APInvHed_UpdatedOn"], *(r[k] for k in AGING["primary_keys"]))
        > (middle["APInvHed_UpdatedOn"], *(middle[k] for k in AGING["primary_keys"]))
    ]
    assert _keys(later.records["ap_aging"]) == _keys(expected)
    assert 0 < len(expected) < len(rows)


def test_baq_stream_without_replication_key_reads_everything_each_run(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    full = {k: v for k, v in AGING.items() if k != "replication_key"}
    config = epicor_sandbox.tap_config(baq_streams=[full], page_size=7)
    catalog = tap_runner.select_only(config, {"ap_aging"})
    first = tap_runner.sync(config, catalog=catalog)
    again = tap_runner.sync(config, catalog=catalog, state=first.state)
    assert len(first.records["ap_aging"]) > 7
    assert _keys(again.records["ap_aging"]) == _keys(first.records["ap_aging"])
