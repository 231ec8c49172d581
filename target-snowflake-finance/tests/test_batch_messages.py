"""BATCH messages (singer-sdk batch files) load exactly like the same records sent as RECORDs."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import simplejson
from singer_sdk.contrib.batch_encoder_jsonl import JSONLinesBatcher
from singer_sdk.contrib.batch_encoder_parquet import ParquetBatcher
from singer_sdk.helpers._batch import BatchConfig
from target_snowflake_finance.target import TargetSnowflakeFinance

PROPS: dict[str, Any] = {
    "Company": {"type": "string"},
    "InvoiceNum": {"type": "integer"},
    "InvoiceAmt": {"type": ["number", "null"], "multipleOf": 0.01},
    "TaxAmt": {
        "type": ["string", "null"],
        "format": "x-singer.decimal",
        "precision": 18,
        "scale": 2,
    },
    "UpdatedOn": {"type": ["string", "null"], "format": "date-time"},
    "Memo": {"type": ["string", "null"]},
}
KEYS = ["Company", "InvoiceNum"]
DATA_COLUMNS = "COMPANY, INVOICENUM, CAST(INVOICEAMT AS VARCHAR), CAST(TAXAMT AS VARCHAR), MEMO"


def records() -> list[dict[str, Any]]:
    base = [
        {
            "Company": "EPIC06",
            "InvoiceNum": n,
            "InvoiceAmt": Decimal(f"{n}.25"),
            "TaxAmt": f"{n}.10",
            "UpdatedOn": f"2024-05-{n:02d}T12:00:00+00:00",
            "Memo": f"invoice {n}, ünïcode",
        }
        for n in range(1, 6)
    ]
    # A later copy of key 2 (last record wins) and an invalid amount (quarantined).
    later = {**base[1], "InvoiceAmt": Decimal("99.99"), "Memo": "second copy"}
    invalid = {**base[2], "InvoiceNum": 6, "TaxAmt": "1.005"}
    return [*base, later, invalid]


def write_batch(tmp_path: Path, kind: str, rows: list[dict[str, Any]]) -> tuple[dict, list[str]]:
    """Batch files as a tap writes them: the SDK's own batchers where they exist."""
    fmt, _, compression = kind.partition("-")
    encoding = {"format": fmt, "compression": compression or "none"}
    if kind == "jsonl":  # the SDK's JSONL batcher always gzips: write plain lines ourselves
        path = tmp_path / "plain.jsonl"
        path.write_text("".join(simplejson.dumps(r, use_decimal=True) + "\n" for r in rows))
        return encoding, [path.as_uri()]
    config = BatchConfig.from_dict(
        {"encoding": encoding, "storage": {"root": tmp_path.as_uri()}, "batch_size": 3}
    )
    batcher = JSONLinesBatcher if fmt == "jsonl" else ParquetBatcher
    manifests = list(batcher("tap-epicor-kinetic", "ap_invoices", config).get_batches(iter(rows)))
    return encoding, [url for m in manifests for url in m]


@pytest.mark.parametrize("kind", ["jsonl", "jsonl-gzip", "parquet", "parquet-gzip"])
def test_batch_files_load_like_record_messages(
    kind, config, run_target, singer, table_rows, tmp_path
) -> None:
    config["on_invalid_record"] = "quarantine"
    config["batch_size_rows"] = 4
    rows = records()
    as_records = run_target(
        config,
        [
            singer.schema("by_record", PROPS, KEYS, "UpdatedOn"),
            *(singer.record("by_record", r) for r in rows),
            singer.state({"bookmarks": {"by_record": {"n": 1}}}),
        ],
    )
    encoding, files = write_batch(tmp_path, kind, rows)
    assert len(files) >= 1
    as_batch = run_target(
        config,
        [
            singer.schema("by_batch", PROPS, KEYS, "UpdatedOn"),
            {"type": "BATCH", "stream": "by_batch", "encoding": encoding, "manifest": files},
            singer.state({"bookmarks": {"by_batch": {"n": 1}}}),
        ],
    )
    assert as_records[-1] == {"bookmarks": {"by_record": {"n": 1}}}
    assert as_batch == [{"bookmarks": {"by_batch": {"n": 1}}}] * len(as_records)
    loaded = table_rows("BY_BATCH", DATA_COLUMNS, "2")
    assert loaded == table_rows("BY_RECORD", DATA_COLUMNS, "2")
    assert len(loaded) == 5
    assert loaded[1][2] == "99.99"
    rejects = table_rows("_SDC_REJECTS", "STREAM, RECORD_KEY, REASON", "1")
    assert [r[0] for r in rejects] == ["by_batch", "by_record"]
    assert rejects[0][1:] == rejects[1][1:]
    assert "1.005 has more than 2 decimal places" in rejects[0][2]
    audit = table_rows(
        "_SDC_LOAD_AUDIT", "STREAM, ROWS_RECEIVED, ROWS_LOADED, ROWS_REJECTED, STATUS", "1, 2"
    )
    by_stream = {s: [a[1:] for a in audit if a[0] == s] for s in ("by_batch", "by_record")}
    assert by_stream["by_batch"] == by_stream["by_record"]
    assert sum(a[0] for a in by_stream["by_batch"]) == 7


def test_the_target_advertises_batch() -> None:
    assert "batch" in [str(c.value) for c in TargetSnowflakeFinance.capabilities]


@pytest.mark.parametrize("problem", ["missing", "corrupt-gzip", "not-parquet", "no-schema"])
def test_an_unreadable_batch_fails_in_one_line_without_later_state(
    problem, config, singer, tmp_path, target_cli
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text("".join(simplejson.dumps(r, use_decimal=True) + "\n" for r in records()[:2]))
    bad = tmp_path / "bad.bin"
    bad.write_bytes(gzip.compress(b'{"Company": "EPIC06"}\n')[:-12])  # truncated gzip
    encoding = {"format": "jsonl", "compression": "none"}
    if problem == "missing":
        files = [(tmp_path / "gone.jsonl").as_uri()]
    elif problem == "corrupt-gzip":
        encoding["compression"] = "gzip"
        files = [bad.as_uri()]
    elif problem == "not-parquet":
        encoding["format"] = "parquet"
        files = [good.as_uri()]
    else:
        files = [good.as_uri()]
    stream = "other" if problem == "no-schema" else "ap_invoices"
    messages = [
        singer.schema("ap_invoices", PROPS, KEYS),
        {"type": "BATCH", "stream": "ap_invoices", "encoding": {"format": "jsonl"},
         "manifest": [good.as_uri()]},
        singer.state({"bookmarks": {"ap_invoices": {"n": 1}}}),
        {"type": "BATCH", "stream": stream, "encoding": encoding, "manifest": files},
        singer.state({"bookmarks": {"ap_invoices": {"n": 2}}}),
    ]  # fmt: skip
    result = target_cli(config, singer.lines(messages))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "BATCH" in line]
    assert len(errors) == 1, result.stderr
    assert repr(stream) in errors[0]
    if problem != "no-schema":
        assert files[0] in errors[0]
    else:
        assert "before its SCHEMA" in errors[0]
    assert '"n": 2' not in result.stdout
