"""Issue 7 item 4: records land with the SDK's metadata, whether or not a stream map transforms
them first (issue 16: both take `SnowflakeSink.accept`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from singer_sdk.exceptions import MissingKeyPropertiesError

# A stream map that adds a field: records are copied and transformed per record before `accept`.
STREAM_MAP = {"ap_invoices": {"Source": "'mapped'"}}
PATHS = pytest.mark.parametrize("stream_maps", [None, STREAM_MAP], ids=["direct", "stream-map"])


def rec(n: int, amount: str = "1.00", **extra: Any) -> dict[str, Any]:
    return {
        "VendorNum": 1,
        "InvoiceNum": f"{n:03d}",
        "InvoiceAmt": Decimal(amount),
        "UpdatedOn": f"2024-05-{n % 28 + 1:02d}T12:00:00Z",
        **extra,
    }


def message(record: dict[str, Any], extracted: str | None, version: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "RECORD", "stream": "ap_invoices", "record": record}
    if extracted:
        out["time_extracted"] = extracted
    if version is not None:
        out["version"] = version
    return out


def nulls_as_none(row: tuple[Any, ...], nulls: tuple[bool, ...]) -> tuple[Any, ...]:
    """A NULL read back as the IS NULL column says (the local Snowflake once sent 1970-01-01)."""
    return tuple(None if null else value for value, null in zip(row, nulls, strict=True))


def with_maps(config: dict[str, Any], stream_maps: dict[str, Any] | None) -> dict[str, Any]:
    return {**config, "stream_maps": stream_maps} if stream_maps else config


@PATHS
def test_metadata_columns_follow_each_message_in_arrival_order(
    config, run_target, singer, table_rows, stream_maps
) -> None:
    config = with_maps({**config, "batch_size_rows": 3}, stream_maps)
    before = dt.datetime.now(dt.UTC)
    messages = [
        singer.schema("ap_invoices", singer.INVOICE_PROPS, singer.INVOICE_KEYS, "UpdatedOn")
    ]
    for n in range(1, 8):
        extracted = f"2024-06-01T00:00:0{n}+00:00" if n % 2 else None
        messages.append(message(rec(n, f"{n}.00"), extracted, n * 10 if n != 4 else None))
    run_target(config, messages)
    after = dt.datetime.now(dt.UTC)
    rows = table_rows(
        "AP_INVOICES",
        "InvoiceNum, _SDC_EXTRACTED_AT, _SDC_RECEIVED_AT, _SDC_BATCHED_AT, _SDC_DELETED_AT, "
        "_SDC_SEQUENCE, _SDC_TABLE_VERSION, _SDC_SYNC_STARTED_AT, _SDC_LOAD_ID, "
        "_SDC_EXTRACTED_AT IS NULL, _SDC_DELETED_AT IS NULL",
    )
    rows = [
        nulls_as_none(r[:9], (False, r[9], False, False, r[10], False, False, False, False))
        for r in rows
    ]
    assert [r[0] for r in rows] == [f"{n:03d}" for n in range(1, 8)]
    assert [r[1] for r in rows] == [
        dt.datetime(2024, 6, 1, 0, 0, n, tzinfo=dt.UTC) if n % 2 else None for n in range(1, 8)
    ]
    received = [r[2] for r in rows]
    assert received == sorted(received)
    assert before <= received[0]
    assert received[-1] <= after
    batched = [r[3] for r in rows]  # one value per batch of 3, in order
    assert batched[0] == batched[1] == batched[2] < batched[3] == batched[4] == batched[5]
    assert batched[5] < batched[6]
    assert {r[4] for r in rows} == {None}
    sequences = [r[5] for r in rows]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 7
    assert [r[6] for r in rows] == [10, 20, 30, None, 50, 60, 70]
    assert len({r[7] for r in rows}) == 1
    assert rows[0][7] is not None
    assert len({r[8] for r in rows}) == 1
    assert rows[0][8]


@PATHS
def test_last_record_of_a_key_wins_within_a_batch(
    config, run_target, singer, table_rows, stream_maps
) -> None:
    messages = [singer.schema("ap_invoices", singer.INVOICE_PROPS, singer.INVOICE_KEYS)]
    for amount in ("1.00", "2.00", "3.00", "4.00"):
        messages += [
            singer.record("ap_invoices", rec(1, amount)),
            singer.record("ap_invoices", rec(2, amount)),
        ]
    run_target(with_maps(config, stream_maps), messages)
    assert table_rows("AP_INVOICES", "InvoiceNum, CAST(INVOICEAMT AS VARCHAR)") == [
        ("001", "4.00"),
        ("002", "4.00"),
    ]


@PATHS
def test_a_record_carrying_its_own_sdc_values_gets_the_targets_metadata(
    config, run_target, singer, table_rows, stream_maps
) -> None:
    # The SDK replaces these keys before it validates; a record with them is still valid.
    own = {"_sdc_extracted_at": 5, "_sdc_sequence": "first", "_sdc_table_version": "v"}
    run_target(
        with_maps(config, stream_maps),
        [
            singer.schema("ap_invoices", singer.INVOICE_PROPS, singer.INVOICE_KEYS),
            message(rec(1, **own), "2024-06-01T00:00:00Z", 3),
            message(rec(2), None, None),
        ],
    )
    rows = table_rows(
        "AP_INVOICES",
        "InvoiceNum, _SDC_EXTRACTED_AT, _SDC_TABLE_VERSION, _SDC_EXTRACTED_AT IS NULL",
    )
    rows = [nulls_as_none(r[:3], (False, r[3], False)) for r in rows]
    assert rows == [("001", dt.datetime(2024, 6, 1, tzinfo=dt.UTC), 3), ("002", None, None)]


@PATHS
def test_a_quarantined_record_keeps_its_values_and_metadata(
    config, run_target, singer, table_rows, stream_maps
) -> None:
    config = with_maps({**config, "on_invalid_record": "quarantine"}, stream_maps)
    run_target(
        config,
        [
            singer.schema("ap_invoices", singer.INVOICE_PROPS, singer.INVOICE_KEYS),
            singer.record("ap_invoices", rec(1)),
            message({**rec(2), "InvoiceAmt": "ten"}, "2024-06-01T00:00:00Z", 7),
            singer.record("ap_invoices", rec(3, TaxAmt="1.005")),  # valid JSON, does not fit
        ],
    )
    assert table_rows("AP_INVOICES", "InvoiceNum") == [("001",)]
    rejects = table_rows("_SDC_REJECTS", "RECORD_KEY, REASON, RECORD", "1")
    assert [r[0] for r in rejects] == [
        "VendorNum=1, InvoiceNum='002'",
        "VendorNum=1, InvoiceNum='003'",
    ]
    assert "'ten' is not of type" in rejects[0][1]
    assert "1.005 has more than 2 decimal places" in rejects[1][1]
    first, second = (json.loads(r[2]) for r in rejects)
    assert first["InvoiceAmt"] == "ten"
    assert first["_sdc_extracted_at"] == "2024-06-01T00:00:00Z"
    assert first["_sdc_table_version"] == 7
    for record in (first, second):
        assert isinstance(record["_sdc_sequence"], int)
        assert dt.datetime.fromisoformat(record["_sdc_received_at"]).tzinfo is not None
        assert dt.datetime.fromisoformat(record["_sdc_batched_at"]).tzinfo is not None


@PATHS
def test_a_record_without_its_key_fails_as_in_the_sdk(
    config, run_target, singer, stream_maps
) -> None:
    record = rec(1)
    del record["InvoiceNum"]
    with pytest.raises(MissingKeyPropertiesError, match="InvoiceNum"):
        run_target(
            with_maps(config, stream_maps),
            [
                singer.schema("ap_invoices", singer.INVOICE_PROPS, singer.INVOICE_KEYS),
                singer.record("ap_invoices", record),
            ],
        )


@PATHS
def test_the_record_count_metric_counts_every_record(
    config, run_target, singer, caplog, stream_maps
) -> None:
    caplog.set_level(logging.INFO, logger="singer_sdk.metrics")
    run_target(
        with_maps({**config, "batch_size_rows": 2}, stream_maps),
        [singer.schema("ap_invoices", singer.INVOICE_PROPS, singer.INVOICE_KEYS)]
        + [singer.record("ap_invoices", rec(n)) for n in range(1, 6)],
    )
    points = [
        json.loads(r.getMessage().removeprefix("METRIC: "))
        for r in caplog.records
        if r.getMessage().startswith("METRIC: ")
    ]
    counted = [
        p["value"]
        for p in points
        if p["metric"] == "record_count" and p["tags"].get("stream") == "ap_invoices"
    ]
    assert sum(counted) == 5
