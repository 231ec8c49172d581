"""Reading singer-sdk BATCH files (JSON Lines or Parquet, gzip or not) back into records."""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from singer_sdk.contrib.msgspec import decoder
from upath import UPath

# Parquet rows are turned into dicts this many at a time, so a large file never sits in
# memory as Python objects all at once.
PARQUET_ROWS_PER_READ = 10_000


class BatchInputError(Exception):
    """A BATCH message or one of its files cannot be read; the run stops before later state."""


def _encoding(message: dict[str, Any]) -> tuple[str, str | None]:
    encoding = message.get("encoding")
    if not isinstance(encoding, dict) or encoding.get("format") not in ("jsonl", "parquet"):
        raise BatchInputError(
            f"BATCH message for stream {message.get('stream')!r} has encoding {encoding!r}; "
            "supported: format 'jsonl' or 'parquet', compression 'gzip' or none"
        )
    compression = encoding.get("compression")
    if compression not in (None, "none", "gzip"):
        raise BatchInputError(
            f"BATCH message for stream {message.get('stream')!r} has compression "
            f"{compression!r}; supported: 'gzip' or none"
        )
    return str(encoding["format"]), compression if compression == "gzip" else None


def manifest(message: dict[str, Any]) -> list[str]:
    """The file URLs of a BATCH message (checked to be a list of strings)."""
    files = message.get("manifest")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise BatchInputError(
            f"BATCH message for stream {message.get('stream')!r} has no manifest list of file URLs"
        )
    return files


def _plain(value: Any) -> Any:
    """Parquet date/time values as the ISO 8601 text a RECORD message would carry."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _jsonl_records(file: IO[bytes], compression: str | None) -> Iterator[dict[str, Any]]:
    stream: Any = gzip.GzipFile(fileobj=file, mode="rb") if compression else file
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            line.decode("utf-8")  # strict: msgspec would pass invalid UTF-8 on as U+FFFD
            record = decoder.decode(line)
        except Exception as e:
            raise BatchInputError(f"line {number} is not a JSON record ({e})") from None
        if not isinstance(record, dict):
            raise BatchInputError(f"line {number} is not a JSON object")
        yield record


def _parquet_records(file: IO[bytes]) -> Iterator[dict[str, Any]]:
    # The SDK's writer compresses inside the file (Parquet's own gzip codec): read it the same.
    parquet = pq.ParquetFile(file)
    for batch in parquet.iter_batches(batch_size=PARQUET_ROWS_PER_READ):
        for row in batch.to_pylist():
            yield {k: _plain(v) for k, v in row.items()}


def read_records(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every record of every file of a BATCH message, in order.

    Any failure to open or decode a file becomes one BatchInputError naming the stream, the
    file and the cause.
    """
    fmt, compression = _encoding(message)
    stream = message.get("stream")
    for url in manifest(message):
        try:
            with UPath(url).open("rb") as file:
                if fmt == "jsonl":
                    yield from _jsonl_records(file, compression)
                else:
                    yield from _parquet_records(file)
        except BatchInputError as e:
            raise BatchInputError(f"BATCH file {url} of stream {stream!r}: {e}") from None
        except (OSError, EOFError, zlib.error, pa.ArrowException, ValueError) as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise BatchInputError(
                f"BATCH file {url} of stream {stream!r} cannot be read ({reason}); the run stops "
                "before any later state: make the file readable (the tap's batch_config storage "
                "must be reachable from the target) and rerun"
            ) from None
