"""Epicor date/time values: offset-less server times to RFC 3339, and back to v2 filter literals."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Epicor serves `YYYY-MM-DDTHH:MM:SS[.fff…]` with no offset in the server's zone (reference §5.3,
# §8.4); some servers add `Z` or `±hh:mm`. Both are accepted.
_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?$",
)


def load_zone(name: str) -> ZoneInfo:
    """Return the IANA zone `name`, or fail naming the setting and the fix."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = (
            f"server_timezone: unknown time zone {name!r}; use an IANA name such as "
            "'America/Chicago' or 'UTC'."
        )
        raise ValueError(msg) from exc


def looks_like_datetime(value: object) -> bool:
    """True when `value` is a string shaped like an Epicor date-time."""
    return isinstance(value, str) and _DATETIME_RE.match(value) is not None


def looks_like_date(value: object) -> bool:
    """True when `value` is an ISO date (`YYYY-MM-DD`), as emitted for Epicor date columns."""
    return isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None


def parse_server_datetime(value: str, zone: dt.tzinfo) -> dt.datetime:
    """Parse an Epicor date-time; a value without offset is wall-clock time in `zone`."""
    text = value.replace("Z", "+00:00") if value.endswith("Z") else value
    if "." in text:
        # fromisoformat takes at most 6 fractional digits; .NET may send 7.
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail)
        frac = digits.group(0) if digits else ""
        text = f"{head}.{frac[:6].ljust(6, '0')}{tail[len(frac) :]}"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def format_rfc3339(value: dt.datetime) -> str:
    """RFC 3339 with offset; milliseconds always present so equal-offset values sort as text."""
    offset = value.utcoffset()
    if offset is not None and offset.seconds % 60:
        # Local mean time (zones before ~1900, e.g. -05:50:36) has no RFC 3339 offset: UTC.
        try:
            value = value.astimezone(dt.UTC)
        except OverflowError:
            value = dt.datetime.min.replace(tzinfo=dt.UTC)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.isoformat(timespec=spec)


def to_record_datetime(value: str, zone: dt.tzinfo) -> str:
    """An Epicor date-time as emitted in records: server wall-clock time with its offset."""
    return format_rfc3339(parse_server_datetime(value, zone))


def to_record_date(value: str) -> str:
    """An Epicor date column (served as local midnight) as an ISO date, without any shift."""
    return value[:10]


def filter_literal(value: dt.datetime) -> str:
    """The OData v2 literal of an instant: `2024-01-01T00:00:00.123Z` (never `datetime'…'`)."""
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        # 9999-12-31 west of UTC or 0001-01-01 east of it: the nearest instant that exists.
        utc = dt.datetime.max if value.year > 1 else dt.datetime.min
        utc = utc.replace(tzinfo=dt.UTC)
    spec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    text = utc.replace(tzinfo=None).isoformat(timespec=spec)
    if text.endswith(".000"):
        text = text[:-4]
    return f"{text}Z"


def parse_start_date(value: str, zone: dt.tzinfo) -> dt.datetime:
    """`start_date` as an instant; a date or a date-time without offset is read in `zone`."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00"
    if not looks_like_datetime(text):
        msg = (
            f"start_date: {value!r} is not an ISO 8601 date or date-time; "
            "use e.g. '2024-01-01' or '2024-01-01T00:00:00Z'."
        )
        raise ValueError(msg)
    return parse_server_datetime(text, zone)


def utc_now() -> dt.datetime:
    """Now, in UTC (a record's time_extracted, a run's start)."""
    return dt.datetime.now(dt.UTC)
