"""A batch's records on disk while it stages and loads, for its dead-letter file, not in memory.

As Python dicts a record of 30 fields takes ~2.8 KB; as JSON ~0.7 KB, and on disk nothing.
A batch in flight needs its records only should every load attempt fail, so once its Parquet
file is written they go to a file next to it and are read back only for the dead letter
(benchmarks/RESULTS.md, issue 15 item 3).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
from singer_sdk.contrib.msgspec import decoder

# Encoded this many at a time, so the encoded text of a large batch is never in memory at once.
_CHUNK = 10_000


def _default(value: Any) -> Any:
    """What the dead-letter writer does with values JSON has no type for (audit._default)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


# Decimals as JSON numbers: read back by the SDK's decoder (numbers as Decimal) they are the
# values the records held.
_encoder = msgspec.json.Encoder(enc_hook=_default, decimal_format="number")


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    """The records as JSON lines, in order."""
    with path.open("wb") as file:
        for start in range(0, len(records), _CHUNK):
            file.write(_encoder.encode_lines(records[start : start + _CHUNK]))


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records `write_records` wrote, in order."""
    with path.open("rb") as file:
        return [decoder.decode(line) for line in file]
