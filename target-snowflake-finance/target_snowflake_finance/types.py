"""JSON Schema → Snowflake column types, and exact conversion of record values to Arrow."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import simplejson

MAX_PRECISION = 38
DEFAULT_NUMBER_SCALE = 9
TIMESTAMP_TYPES = ("TIMESTAMP_TZ", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ")
DECIMAL_FORMATS = ("x-singer.decimal", "singer.decimal")


class UnfitValueError(ValueError):
    """A record value that cannot land exactly in its column."""


@dataclass(frozen=True)
class ColumnType:
    """One column's Snowflake type and how its values travel through Parquet."""

    kind: str  # number | string | boolean | date | timestamp | time | variant
    sql: str
    precision: int | None = None
    scale: int | None = None

    @property
    def staging_sql(self) -> str:
        """Staging column type: VARIANT and TIME travel as text and are converted in the MERGE.

        TIME as text because Snowflake's Parquet reader is documented for TIMESTAMP logical
        types, not for TIME (MILLIS/MICROS/NANOS); "HH:MM:SS.ffffff" through TO_TIME is exact.
        """
        return "VARCHAR" if self.kind in ("variant", "time") else self.sql

    def select_expr(self, staged: str) -> str:
        """SQL turning the staged column into the target column's value."""
        if self.kind == "variant":
            return f"PARSE_JSON({staged})"
        if self.kind == "time":
            return f"TO_TIME({staged}, 'HH24:MI:SS.FF6')"
        return staged

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == "number":
            return pa.decimal128(self.precision or MAX_PRECISION, self.scale or 0)
        if self.kind == "boolean":
            return pa.bool_()
        if self.kind == "date":
            return pa.date32()
        if self.kind == "timestamp":
            return pa.timestamp("us", tz="UTC")
        return pa.string()


def _non_null_types(schema: dict[str, Any]) -> list[str]:
    raw = schema.get("type", [])
    types = [raw] if isinstance(raw, str) else list(raw)
    return [t for t in types if t != "null"]


def _scale_of(multiple_of: Any) -> int:
    exponent = decimal.Decimal(str(multiple_of)).normalize().as_tuple().exponent
    return max(0, -int(exponent)) if isinstance(exponent, int) else 0


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Pick the branch of anyOf/oneOf that decides the column (first non-null, formats win)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [b for b in schema[key] if _non_null_types(b) or "anyOf" in b]
            formatted = [b for b in branches if b.get("format")]
            if formatted:
                return formatted[0]
            kinds = {t for b in branches for t in _non_null_types(b)}
            if len(kinds) == 1 and branches:
                return branches[0]
            return {"type": ["object"]} if kinds & {"object", "array"} else {"type": ["string"]}
    return schema


def column_type(schema: dict[str, Any], timestamp_type: str = "TIMESTAMP_TZ") -> ColumnType:
    """Snowflake type for one JSON Schema property. Numbers are always exact NUMBER, never FLOAT."""
    schema = _resolve(schema)
    types = _non_null_types(schema)
    fmt = schema.get("format")
    if fmt in DECIMAL_FORMATS:
        precision = min(int(schema.get("precision") or MAX_PRECISION), MAX_PRECISION)
        scale = int(schema.get("scale", DEFAULT_NUMBER_SCALE))
        scale = max(0, min(scale, precision))
        return ColumnType("number", f"NUMBER({precision},{scale})", precision, scale)
    if not types:
        return ColumnType("variant", "VARIANT")
    if len(types) > 1:
        if set(types) <= {"integer", "number"}:
            types = ["number"]
        elif set(types) & {"object", "array"}:
            return ColumnType("variant", "VARIANT")
        else:
            return ColumnType("string", "VARCHAR")
    kind = types[0]
    if kind == "integer":
        return ColumnType("number", "NUMBER(38,0)", MAX_PRECISION, 0)
    if kind == "number":
        scale = _scale_of(schema["multipleOf"]) if "multipleOf" in schema else DEFAULT_NUMBER_SCALE
        scale = min(scale, MAX_PRECISION - 1)
        return ColumnType("number", f"NUMBER(38,{scale})", MAX_PRECISION, scale)
    if kind == "boolean":
        return ColumnType("boolean", "BOOLEAN")
    if kind in ("object", "array"):
        return ColumnType("variant", "VARIANT")
    if kind == "string":
        if fmt == "date-time":
            return ColumnType("timestamp", timestamp_type)
        if fmt == "date":
            return ColumnType("date", "DATE")
        if fmt == "time":
            return ColumnType("time", "TIME")
        return ColumnType("string", "VARCHAR")
    return ColumnType("variant", "VARIANT")


def parse_existing(data_type: str, precision: Any, scale: Any) -> ColumnType:
    """ColumnType of an existing column as information_schema.columns describes it."""
    name = data_type.upper()
    if name in ("NUMBER", "DECIMAL", "NUMERIC", "FIXED"):
        p, s = int(precision or MAX_PRECISION), int(scale or 0)
        return ColumnType("number", f"NUMBER({p},{s})", p, s)
    if name in ("TEXT", "VARCHAR", "STRING", "CHAR"):
        return ColumnType("string", "VARCHAR")
    if name == "BOOLEAN":
        return ColumnType("boolean", "BOOLEAN")
    if name == "DATE":
        return ColumnType("date", "DATE")
    if name == "TIME":
        return ColumnType("time", "TIME")
    if name.startswith("TIMESTAMP"):
        return ColumnType("timestamp", name if name in TIMESTAMP_TYPES else "TIMESTAMP_NTZ")
    if name in ("VARIANT", "OBJECT", "ARRAY", "JSON"):
        return ColumnType("variant", "VARIANT")
    return ColumnType("other", name)


def incompatibility(existing: ColumnType, wanted: ColumnType) -> str | None:
    """Why values of `wanted` cannot be written into `existing` without loss (None if they can)."""
    if existing.kind == "string" and wanted.kind in ("string", "number", "boolean", "date"):
        return None
    if existing.kind != wanted.kind:
        return f"it is {existing.sql} and the stream now sends {wanted.sql}"
    if existing.kind == "number" and (wanted.scale or 0) > (existing.scale or 0):
        return (
            f"it is {existing.sql} and the stream now sends {wanted.sql}: "
            f"scale {wanted.scale} would round values to {existing.scale} decimals"
        )
    return None


def _to_decimal(value: Any) -> Any:
    if value is None or isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, bool):
        raise UnfitValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | str):
        try:
            return decimal.Decimal(value)
        except decimal.InvalidOperation:
            raise UnfitValueError(f"{value!r} is not a decimal number") from None
    if isinstance(value, float):
        # Only reached when a caller parsed JSON with floats; repr is the shortest exact text.
        return decimal.Decimal(repr(value))
    raise UnfitValueError(f"expected a number, got {type(value).__name__}")


def _check_decimal(value: Any, ctype: ColumnType) -> None:
    """Refuse a value NUMBER(p,s) cannot hold exactly, from its digits alone.

    (Decimal arithmetic such as quantize fails beyond the context's 28 digits, so a 40-digit
    amount must be judged without it.)
    """
    if value is None:
        return
    if not value.is_finite():
        raise UnfitValueError(f"{value} is not a finite number")
    scale = ctype.scale or 0
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if exponent < -scale:
        extra = -exponent - scale
        if any(digits[-extra:]):
            raise UnfitValueError(f"{value} has more than {scale} decimal places ({ctype.sql})")
    whole = len(digits) + exponent if any(digits) else 0
    if whole > (ctype.precision or MAX_PRECISION) - scale:
        raise UnfitValueError(
            f"{value} has {whole} digits before the decimal point; {ctype.sql} holds "
            f"{(ctype.precision or MAX_PRECISION) - scale}"
        )


def dumps_variant(value: Any) -> str | None:
    """JSON text with decimals written exactly (never through a float)."""
    if value is None:
        return None
    return simplejson.dumps(value, use_decimal=True, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _to_string(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return dumps_variant(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _to_timestamp(value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise UnfitValueError(f"{value!r} is not an ISO 8601 date-time") from None
    elif isinstance(value, dt.datetime):
        parsed = value
    else:
        raise UnfitValueError(f"expected a date-time, got {type(value).__name__}")
    if parsed.tzinfo is None:
        return parsed
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise UnfitValueError(
            f"{value!r} is outside the years 1 to 9999 once converted to UTC"
        ) from None


# Timestamps travel as UTC microseconds: the instants of 0001-01-01 and 9999-12-31T23:59:59.999999.
_MIN_US = -62_135_596_800_000_000
_MAX_US = 253_402_300_799_999_999


def _in_range(array: pa.Array) -> pa.Array:
    """The timestamp column unchanged, or raise if an instant lies outside years 1 to 9999."""
    bounds = pc.min_max(array.cast(pa.int64()))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is not None and (low < _MIN_US or high > _MAX_US):
        raise UnfitValueError("a timestamp outside the years 1 to 9999 in UTC")
    return array


def _to_date(value: Any) -> Any:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            raise UnfitValueError(f"{value!r} is not an ISO 8601 date") from None
    raise UnfitValueError(f"expected a date, got {type(value).__name__}")


def _to_time(value: Any) -> Any:
    """A time of day as "HH:MM:SS.ffffff" text (see ColumnType.staging_sql)."""
    if value is None:
        return value
    if isinstance(value, str):
        try:
            parsed = dt.time.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise UnfitValueError(f"{value!r} is not an ISO 8601 time") from None
    elif isinstance(value, dt.time):
        parsed = value
    else:
        raise UnfitValueError(f"expected a time, got {type(value).__name__}")
    offset = parsed.utcoffset()
    if offset:
        raise UnfitValueError(f"{value!r} has a UTC offset, and a TIME column holds none")
    return parsed.replace(tzinfo=None).isoformat(timespec="microseconds")


def _to_bool(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise UnfitValueError(f"expected a boolean, got {value!r}")


def converter(ctype: ColumnType) -> Callable[[Any], Any]:
    """Per-value conversion (raises UnfitValueError with the reason when a value does not fit)."""
    if ctype.kind == "number":

        def to_number(value: Any) -> Any:
            number = _to_decimal(value)
            _check_decimal(number, ctype)
            return number

        return to_number
    if ctype.kind == "variant":
        return dumps_variant
    if ctype.kind == "timestamp":
        return _to_timestamp
    if ctype.kind == "date":
        return _to_date
    if ctype.kind == "time":
        return _to_time
    if ctype.kind == "boolean":
        return _to_bool
    return _to_string


def to_arrow(values: Sequence[Any], ctype: ColumnType) -> pa.Array:
    """One column as an Arrow array, exactly, or raise.

    Vectorised first: Python Decimals/ints/datetimes convert in C, and text (decimal strings,
    ISO 8601 with offsets) is cast by Arrow, which refuses lossy rescaling and overflow; that
    is the exactness check. Anything else goes value by value through `converter`.
    """
    target = ctype.arrow_type
    if ctype.kind in ("number", "timestamp", "date"):
        # An instant beyond year 9999 in UTC fits Arrow but no Python datetime and no
        # Snowflake timestamp: such values go to the per-value path, which refuses them.
        checked = _in_range if ctype.kind == "timestamp" else (lambda a: a)
        try:
            return checked(pa.array(values, target))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            pass
        try:
            return checked(pa.array(values, pa.string()).cast(target))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
            pass
    elif ctype.kind in ("string", "boolean"):  # Arrow takes only str / only bool here
        try:
            return pa.array(values, target)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    convert = converter(ctype)
    return pa.array([convert(v) for v in values], target)


def check_value(value: Any, ctype: ColumnType) -> str | None:
    """The reason one value cannot land in `ctype`, or None."""
    try:
        converted = converter(ctype)(value)
        if converted is not None:
            pa.array([converted], ctype.arrow_type)
    except (UnfitValueError, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError) as e:
        return str(e)
    return None
