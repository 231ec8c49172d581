"""OData rows → Singer records: one conversion plan per stream, applied to every row of a page.

The plan is worked out once from the schema, the selection and the renames, and compiled into
one function for the usual row (a single dict display: copied columns, decimal text, integers,
then a call per date or date-time column); an unusual row is converted value by value with the
same result. It emits selected fields only, which is what lets the stream skip the SDK's
per-record deselection pass.
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing as t
from dataclasses import dataclass, field

from tap_epicor_kinetic.timeutil import to_record_date, to_record_datetime

Converter = t.Callable[[t.Any], t.Any]
Row = dict[str, t.Any]

_Decimal = decimal.Decimal
# Value types the fast path of RecordPlan.apply takes as they are (anything else: per value).
_PLAIN_DECIMALS = frozenset({_Decimal, int})
_PLAIN_INTEGERS = frozenset({int})
DECIMAL_FORMATS = frozenset({"x-singer.decimal", "singer.decimal"})


class ConversionError(ValueError):
    """A value that cannot become its field's type exactly (the record would be wrong)."""

    def __init__(self, reason: str, field: str = "") -> None:
        """`reason` says what was served; `field` is filled in by the plan."""
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _number(value: t.Any) -> decimal.Decimal:
    """A finite Decimal from a JSON number or numeric text; anything else is refused."""
    if type(value) is _Decimal or (type(value) is int):
        number = _Decimal(value)
    elif type(value) is str:
        try:
            number = _Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ConversionError(f"{value[:40]!r} is not a number") from None
    else:
        raise ConversionError(f"{str(value)[:40]!r} ({type(value).__name__}) is not a number")
    if not number.is_finite():
        raise ConversionError(f"{value!r} is not a finite number")
    return number


def decimal_text(value: t.Any) -> str | None:
    """Exact decimal text (no exponent); the value never passes through a float."""
    if type(value) is _Decimal and value.is_finite():
        text = str(value)  # three times faster than format(); exponents are rare
        return text if "E" not in text else format(value, "f")
    if value is None:
        return None
    if isinstance(value, float):
        msg = "a float reached the decimal converter; responses must be parsed with Decimal"
        raise TypeError(msg)
    return format(_number(value), "f")


def integer(value: t.Any) -> int | None:
    """An integer column: ints pass, Epicor's empty string is null, whole numbers are exact.

    `2024.9` or `"abc"` is refused rather than truncated or guessed.
    """
    if type(value) is int:
        return value
    if value is None or value == "":
        return None
    number = _number(value)
    if number != number.to_integral_value():
        raise ConversionError(f"{value} is not a whole number")
    return int(number)


def date_time(zone: dt.tzinfo) -> Converter:
    """A date-time column: server wall-clock time in `zone` → RFC 3339 with its offset."""

    def convert(value: t.Any) -> t.Any:
        return to_record_datetime(value, zone) if isinstance(value, str) and value else None

    return convert


def date(value: t.Any) -> t.Any:
    """A date column (served as local midnight) → `YYYY-MM-DD`, never shifted."""
    return to_record_date(value) if isinstance(value, str) and value else None


def converter_for(prop: dict[str, t.Any], zone: dt.tzinfo) -> Converter | None:
    """The conversion a schema property needs; None when the JSON value is already right."""
    fmt = prop.get("format")
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    if fmt in DECIMAL_FORMATS:
        return decimal_text
    if fmt == "date-time":
        return date_time(zone)
    if fmt == "date":
        return date
    if "integer" in types:
        return integer
    return None


@dataclass(frozen=True)
class RecordPlan:
    """Which row columns become which record fields, and how.

    The usual row goes through a function compiled from the plan (see `_compile`); any
    other row is converted value by value (`_apply_each`), with the same result.
    """

    #: (OData name, field name) of columns copied as they are.
    copied: tuple[tuple[str, str], ...]
    #: (OData name, field name) of exact decimal columns (emitted as decimal text).
    decimals: tuple[tuple[str, str], ...]
    #: (OData name, field name) of integer columns.
    integers: tuple[tuple[str, str], ...]
    #: (OData name, field name, converter) of the other columns that need converting.
    converted: tuple[tuple[str, str, Converter], ...]
    _compiled: t.Callable[[Row], dict[str, t.Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", _compile(self))

    @classmethod
    def build(
        cls,
        schema: dict[str, t.Any],
        *,
        odata_name: t.Callable[[str], str],
        selected: t.Callable[[str], bool],
        zone: dt.tzinfo,
    ) -> RecordPlan:
        """The plan for the selected fields of `schema`."""
        copied: list[tuple[str, str]] = []
        decimals: list[tuple[str, str]] = []
        integers: list[tuple[str, str]] = []
        converted: list[tuple[str, str, Converter]] = []
        for name, prop in schema["properties"].items():
            if not selected(name):
                continue
            column = odata_name(name)
            convert = converter_for(prop, zone)
            if convert is None:
                copied.append((column, name))
            elif convert is decimal_text:
                decimals.append((column, name))
            elif convert is integer:
                integers.append((column, name))
            else:
                converted.append((column, name, convert))
        return cls(tuple(copied), tuple(decimals), tuple(integers), tuple(converted))

    def apply(self, row: Row) -> dict[str, t.Any]:
        """One OData row → one record (a column the row lacks is left out, not nulled).

        Raises ConversionError naming the field when a value cannot be converted exactly.
        """
        try:
            return self._compiled(row)
        except (ConversionError, ValueError, decimal.InvalidOperation) as exc:
            # Off the hot path: convert field by field to name the one at fault.
            raise self._explain(row, exc) from None

    def _explain(self, row: Row, exc: Exception) -> ConversionError:
        checks: list[tuple[str, str, Converter]] = [
            *((c, n, decimal_text) for c, n in self.decimals),
            *((c, n, integer) for c, n in self.integers),
            *self.converted,
        ]
        for column, name, convert in checks:
            if column not in row:
                continue
            try:
                convert(row[column])
            except (ValueError, decimal.InvalidOperation) as failed:
                reason = failed.reason if isinstance(failed, ConversionError) else str(failed)
                return ConversionError(reason, name)
        return ConversionError(str(exc))

    def _apply_each(self, row: Row) -> dict[str, t.Any]:
        record = {name: row[column] for column, name in self.copied if column in row}
        for column, name in self.decimals:
            if column in row:
                value = row[column]
                if type(value) is _Decimal:
                    # Never NaN or Infinity: JSON has neither and json_body refuses them.
                    text = str(value)
                    record[name] = text if "E" not in text else format(value, "f")
                else:
                    record[name] = decimal_text(value)
        for column, name in self.integers:
            if column in row:
                value = row[column]
                record[name] = value if type(value) is int else integer(value)
        for column, name, convert in self.converted:
            if column in row:
                record[name] = convert(row[column])
        return record


def _compile(plan: RecordPlan) -> t.Callable[[Row], dict[str, t.Any]]:
    """The plan as one function for the usual row, compiled once per stream.

    The usual row has every planned column, decimals as Decimal or int (exponent-free: str()
    gives the decimal text) and integers as int. For it, one dict display with the fields in
    `_apply_each`'s order is the cheapest way CPython builds the record: a third less time than
    `_apply_each`'s loops for an AP invoice row, a fifth less for a line, about the same for an
    allocation (benchmarks/RESULTS.md). Any other row is handed to `_apply_each`.
    Like dataclasses' generated `__init__`, the source is built from names of our own (`_c0`,
    `_f0`, ...): column and field names, which $metadata may supply, are bound in the
    function's namespace, never written into the source.
    """
    namespace: dict[str, t.Any] = {
        "_each": plan._apply_each,
        "_plain_decimals": _PLAIN_DECIMALS,
        "_plain_integers": _PLAIN_INTEGERS,
    }

    def bind(prefix: str, value: t.Any) -> str:
        name = f"{prefix}{len(namespace)}"
        namespace[name] = value
        return name

    def row_values(pairs: tuple[tuple[str, str], ...]) -> str:
        return "(" + "".join(f"row[{bind('_c', column)}], " for column, _ in pairs) + ")"

    fields = [f"{bind('_f', name)}: row[{bind('_c', column)}]" for column, name in plan.copied]
    fields += [f"{bind('_f', name)}: texts[{i}]" for i, (_, name) in enumerate(plan.decimals)]
    fields += [f"{bind('_f', name)}: integers[{i}]" for i, (_, name) in enumerate(plan.integers)]
    converted = [
        f"    if {c} in row:\n        record[{bind('_f', name)}] = {bind('_v', convert)}(row[{c}])"
        for column, name, convert in plan.converted
        for c in [bind("_c", column)]
    ]
    source = "\n".join(
        [
            "def apply(row):",
            "    try:",
            f"        decimals = {row_values(plan.decimals)}",
            f"        integers = {row_values(plan.integers)}",
            "        if not (",
            "            {*map(type, decimals)} <= _plain_decimals",
            "            and {*map(type, integers)} <= _plain_integers",
            "        ):",
            "            return _each(row)",
            "        texts = [*map(str, decimals)]",
            '        if "E" in "".join(texts):',
            "            return _each(row)",
            "        record = {" + ", ".join(fields) + "}",
            "    except KeyError:",
            "        return _each(row)",
            *converted,
            "    return record",
        ]
    )
    exec(source, namespace)  # noqa: S102 (source of our own names only, see above)
    return t.cast("t.Callable[[Row], dict[str, t.Any]]", namespace["apply"])
