"""Which copy of a row wins (the source's version, not the host's clock) and deletion tombstones."""

from __future__ import annotations

from typing import Any

PROPS: dict[str, Any] = {
    "Company": {"type": "string"},
    "InvoiceNum": {"type": "integer"},
    "InvoiceAmt": {"type": "string", "format": "x-singer.decimal", "precision": 18, "scale": 2},
    "Posted": {"type": "boolean"},
    "UpdatedOn": {"type": "string", "format": "date-time"},
    "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
}
KEYS = ["Company", "InvoiceNum"]
COLUMNS = "INVOICENUM, CAST(INVOICEAMT AS VARCHAR), POSTED, _SDC_DELETED_AT IS NOT NULL"


def copy_of(
    singer: Any, num: int, amount: str, updated: str, extracted: str, **extra: Any
) -> dict[str, Any]:
    record = {
        "Company": "EPIC06",
        "InvoiceNum": num,
        "InvoiceAmt": amount,
        "Posted": True,
        "UpdatedOn": updated,
        **extra,
    }
    return {**singer.record("ap_invoices", record), "time_extracted": extracted}


def tombstone(singer: Any, num: int, deleted: str, extracted: str) -> dict[str, Any]:
    record = {"Company": "EPIC06", "InvoiceNum": num, "_sdc_deleted_at": deleted}
    record.update(InvoiceAmt=None, Posted=None, UpdatedOn=None)
    return {**singer.record("ap_invoices", record), "time_extracted": extracted}


def test_the_source_version_decides_not_the_extracting_hosts_clock(
    config, run_target, singer, table_rows
) -> None:
    schema = singer.schema("ap_invoices", PROPS, KEYS, "UpdatedOn")
    # Run 1 on a host whose clock was a year ahead; run 2 reads a newer version on a host
    # with the right time: the newer version must land although its extraction time is older.
    run_target(
        config, [schema, copy_of(singer, 1, "1.00", "2026-11-01T08:00:00Z", "2027-11-29T10:00:00Z")]
    )
    run_target(
        config, [schema, copy_of(singer, 1, "2.00", "2026-11-02T08:00:00Z", "2026-11-29T10:00:00Z")]
    )
    assert table_rows("AP_INVOICES", COLUMNS) == [(1, "2.00", True, False)]
    # A replay of the first (older) version, on any clock, does not bring it back.
    run_target(
        config, [schema, copy_of(singer, 1, "1.00", "2026-11-01T08:00:00Z", "2028-01-01T00:00:00Z")]
    )
    assert table_rows("AP_INVOICES", COLUMNS) == [(1, "2.00", True, False)]
    # The same version again: extraction time breaks the tie.
    run_target(
        config, [schema, copy_of(singer, 1, "3.00", "2026-11-02T08:00:00Z", "2026-11-29T11:00:00Z")]
    )
    run_target(
        config, [schema, copy_of(singer, 1, "4.00", "2026-11-02T08:00:00Z", "2026-11-29T09:00:00Z")]
    )
    assert table_rows("AP_INVOICES", COLUMNS) == [(1, "3.00", True, False)]


def test_sysrevid_orders_versions_when_the_stream_has_it(
    config, run_target, singer, table_rows
) -> None:
    props = {**PROPS, "SysRevID": {"type": "integer"}}
    schema = singer.schema("ap_invoices", props, KEYS, "UpdatedOn")
    run_target(
        config,
        [
            schema,
            copy_of(
                singer, 1, "1.00", "2026-11-05T00:00:00Z", "2027-01-01T00:00:00Z", SysRevID=100
            ),
        ],
    )
    # SysRevID 200 is newer although its UpdatedOn and extraction time are earlier.
    run_target(
        config,
        [
            schema,
            copy_of(
                singer, 1, "2.00", "2026-11-01T00:00:00Z", "2026-01-01T00:00:00Z", SysRevID=200
            ),
        ],
    )
    run_target(
        config,
        [
            schema,
            copy_of(
                singer, 1, "9.00", "2026-12-01T00:00:00Z", "2028-01-01T00:00:00Z", SysRevID=150
            ),
        ],
    )
    assert table_rows("AP_INVOICES", COLUMNS) == [(1, "2.00", True, False)]


def test_a_tombstone_marks_the_row_and_a_later_live_record_clears_it(
    config, run_target, singer, table_rows
) -> None:
    schema = singer.schema("ap_invoices", PROPS, KEYS, "UpdatedOn")
    at = "2026-11-29T10:00:00Z"
    run_target(
        config,
        [
            schema,
            copy_of(singer, 1, "1.00", "2026-11-01T08:00:00Z", at),
            copy_of(singer, 2, "2.00", "2026-11-01T08:00:00Z", at),
        ],
    )
    # Tombstones: key 1 exists (marked, values kept), key 3 never loaded (inserted, marked).
    run_target(
        config,
        [
            schema,
            tombstone(singer, 1, "2026-11-29T11:00:00Z", "2026-11-29T11:00:00Z"),
            tombstone(singer, 3, "2026-11-29T11:00:00Z", "2026-11-29T11:00:00Z"),
        ],
    )
    assert table_rows("AP_INVOICES", COLUMNS) == [
        (1, "1.00", True, True),
        (2, "2.00", True, False),
        (3, None, None, True),
    ]
    deleted_at = table_rows("AP_INVOICES", "CAST(_SDC_DELETED_AT AS VARCHAR)", "INVOICENUM")[0][0]
    assert deleted_at.startswith("2026-11-29 11:00:00")
    # The row comes back in the source: a later live copy clears the mark.
    run_target(
        config, [schema, copy_of(singer, 1, "5.00", "2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z")]
    )
    assert table_rows("AP_INVOICES", COLUMNS)[0] == (1, "5.00", True, False)
    assert table_rows("_SDC_REJECTS", "COUNT(*)") == [(0,)]


def test_a_tombstone_with_an_invalid_key_or_stamp_is_still_invalid(
    config, run_target, singer, table_rows
) -> None:
    config["on_invalid_record"] = "quarantine"
    schema = singer.schema("ap_invoices", PROPS, KEYS, "UpdatedOn")
    bad_key = tombstone(singer, 1, "2026-11-29T11:00:00Z", "2026-11-29T11:00:00Z")
    bad_key["record"]["InvoiceNum"] = "one"
    run_target(config, [schema, bad_key])
    assert table_rows("AP_INVOICES", "COUNT(*)") == [(0,)]
    [(reason,)] = table_rows("_SDC_REJECTS", "REASON")
    assert "InvoiceNum" in reason
