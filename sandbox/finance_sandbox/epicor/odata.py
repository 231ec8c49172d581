"""OData v4 query options ($filter, $orderby, $select, $expand, $top, $skip) compiled to SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from finance_sandbox.epicor.errors import odata_error, unknown_property
from finance_sandbox.epicor.model import (
    BOOL,
    DATE,
    DEC,
    GUID,
    INT,
    STAMP,
    STR,
    Column,
    Entity,
    entities,
)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<legacy>(?:datetime|datetimeoffset|guid|time)'[^']*')
    |(?P<str>'(?:[^']|'')*')
    |(?P<dto>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}|\ \d{2}:\d{2})?)
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>[(),/])
    """,
    re.VERBOSE,
)
_CMP = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_KIND_EDM = {
    STR: "Edm.String",
    INT: "Edm.Int32",
    DEC: "Edm.Decimal",
    BOOL: "Edm.Boolean",
    DATE: "Edm.DateTimeOffset",
    STAMP: "Edm.DateTimeOffset",
    GUID: "Edm.Guid",
}


@dataclass
class Term:
    """A compiled operand: SQL text with bound params, and what it is (column, literal or test)."""

    sql: str
    params: list[Any]
    kind: str  # a column kind, "pred" for a boolean test, "null" for the null literal
    column: Column | None = None
    literal: Any = None
    is_literal: bool = False
    # Bounds the predicate implies per stored column (lower, upper), used to add redundant
    # range conditions so SQLite can seek its indexes (keyset paging spells ranges with `or`).
    lo: dict[str, Any] = field(default_factory=dict)
    hi: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExpandSpec:
    """One `$expand` item with its nested options."""

    nav: str
    entity: Entity
    join: list[tuple[str, str]]
    select: list[str]
    where: str = ""
    params: list[Any] = field(default_factory=list)
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    expand: list[ExpandSpec] = field(default_factory=list)


@dataclass
class Query:
    """All query options of one request, validated against the entity."""

    select: list[str]
    where: str = ""
    params: list[Any] = field(default_factory=list)
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    top: int | None = None
    skip: int = 0
    count: bool = False
    expand: list[ExpandSpec] = field(default_factory=list)


def column_sql(col: Column) -> str:
    """Stored columns are real SQL columns; the rest are their served default."""
    return f'"{col.name}"' if col.stored else col.default_sql


class FilterParser:
    """Recursive-descent parser for the `$filter` subset of reference §9."""

    def __init__(self, text: str, entity: Entity, tz: ZoneInfo) -> None:
        self.entity = entity
        self.tz = tz
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if not m:
                raise odata_error(f"Syntax error at position {pos} in '{text}'.")
            pos = m.end()
            kind = m.lastgroup or ""
            if kind == "ws":
                continue
            if kind == "legacy":
                raise odata_error(
                    f"Unrecognized '{m.group()}' literal in '$filter': OData v4 takes "
                    "DateTimeOffset literals without a prefix, e.g. 2024-01-01T00:00:00Z."
                )
            tokens.append((kind, m.group()))
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise odata_error("Unexpected end of '$filter' expression.")
        self.pos += 1
        return tok

    def _expect(self, value: str) -> None:
        tok = self._take()
        if tok[1] != value:
            raise odata_error(f"Expected '{value}' but found '{tok[1]}' in '$filter'.")

    def parse(self) -> tuple[str, list[Any]]:
        term = self._or()
        if self._peek() is not None:
            raise odata_error(f"Syntax error: unexpected '{self._peek()[1]}' in '$filter'.")  # type: ignore[index]
        term = self._as_pred(term)
        sql, params = term.sql, list(term.params)
        for name, value in term.lo.items():
            sql += f' AND "{name}" >= ?'
            params.append(value)
        for name, value in term.hi.items():
            sql += f' AND "{name}" <= ?'
            params.append(value)
        return sql, params

    def _as_pred(self, term: Term) -> Term:
        if term.kind == "pred":
            return term
        if term.kind == BOOL and not term.is_literal:
            return Term(f"({term.sql} = 1)", term.params, "pred")
        if term.kind == BOOL:
            return Term("1" if term.literal else "0", [], "pred")
        raise odata_error("The '$filter' expression must evaluate to a boolean value.")

    def _or(self) -> Term:
        left = self._and()
        while (tok := self._peek()) and tok == ("name", "or"):
            self.pos += 1
            right = self._and()
            left, right = self._as_pred(left), self._as_pred(right)
            left = Term(
                f"({left.sql} OR {right.sql})",
                left.params + right.params,
                "pred",
                lo=_bounds(left.lo, right.lo, min, both=True),
                hi=_bounds(left.hi, right.hi, max, both=True),
            )
        return left

    def _and(self) -> Term:
        left = self._not()
        while (tok := self._peek()) and tok == ("name", "and"):
            self.pos += 1
            right = self._not()
            left, right = self._as_pred(left), self._as_pred(right)
            left = Term(
                f"({left.sql} AND {right.sql})",
                left.params + right.params,
                "pred",
                lo=_bounds(left.lo, right.lo, max, both=False),
                hi=_bounds(left.hi, right.hi, min, both=False),
            )
        return left

    def _not(self) -> Term:
        if self._peek() == ("name", "not"):
            self.pos += 1
            inner = self._as_pred(self._not())
            return Term(f"(NOT {inner.sql})", inner.params, "pred")
        return self._cmp()

    def _cmp(self) -> Term:
        left = self._operand()
        tok = self._peek()
        if tok and tok[0] == "name" and tok[1] in _CMP:
            self.pos += 1
            right = self._operand()
            return self._compare(left, tok[1], right)
        return left

    def _operand(self) -> Term:
        kind, value = self._take()
        if value == "(":
            inner = self._or()
            self._expect(")")
            return inner
        if kind == "str":
            return Term("?", [value[1:-1].replace("''", "'")], STR, literal=value, is_literal=True)
        if kind == "num":
            return self._number(value)
        if kind == "dto":
            return Term("?", [], DATE, literal=self._datetime(value), is_literal=True)
        if kind == "date":
            return Term("?", [], DATE, literal=date.fromisoformat(value), is_literal=True)
        if kind == "name":
            if value in ("true", "false"):
                return Term(
                    "?", [int(value == "true")], BOOL, literal=value == "true", is_literal=True
                )
            if value == "null":
                return Term("NULL", [], "null", is_literal=True)
            nxt = self._peek()
            if nxt == ("punct", "("):
                return self._function(value)
            col = self.entity.columns.get(value)
            if col is None:
                raise unknown_property(value, self.entity.type_name)
            return Term(column_sql(col), [], col.kind, column=col)
        raise odata_error(f"Syntax error: unexpected '{value}' in '$filter'.")

    def _number(self, text: str) -> Term:
        clean = text.rstrip("mMdDfFlL")
        try:
            value = Decimal(clean)
        except InvalidOperation as exc:
            raise odata_error(f"Invalid number literal '{text}' in '$filter'.") from exc
        kind = INT if re.fullmatch(r"-?\d+", clean) else DEC
        return Term("?", [], kind, literal=value, is_literal=True)

    def _datetime(self, text: str) -> datetime:
        if text[-1] != "Z" and not re.search(r"[+\- ]\d{2}:\d{2}$", text[10:]):
            raise odata_error(
                f"The DateTimeOffset literal '{text}' has no time zone offset: "
                "use e.g. 2024-01-01T00:00:00Z or 2024-01-01T00:00:00-06:00."
            )
        iso = text.replace("Z", "+00:00")
        if iso[-6] == " ":
            iso = iso[:-6] + "+" + iso[-5:]
        try:
            parsed = datetime.fromisoformat(iso)
        except ValueError as exc:
            raise odata_error(f"Invalid DateTimeOffset literal '{text}'.") from exc
        return parsed.astimezone(self.tz).replace(tzinfo=None)

    def _function(self, name: str) -> Term:
        self._expect("(")
        args = [self._or()]
        while self._peek() == ("punct", ","):
            self.pos += 1
            args.append(self._or())
        self._expect(")")
        if name in ("contains", "startswith", "endswith"):
            if len(args) != 2 or args[0].kind != STR or args[1].kind != STR:
                raise odata_error(f"'{name}' takes two string arguments.")
            hay, needle = args
            if needle.is_literal:
                text = needle.params[0].replace("\\", "\\\\").replace("%", "\\%")
                text = text.replace("_", "\\_")
                pattern = {"contains": f"%{text}%", "startswith": f"{text}%"}.get(name, f"%{text}")
                return Term(f"({hay.sql} LIKE ? ESCAPE '\\')", [*hay.params, pattern], "pred")
            sql = {
                "contains": f"(instr({hay.sql}, {needle.sql}) > 0)",
                "startswith": f"(substr({hay.sql}, 1, length({needle.sql})) = {needle.sql})",
                "endswith": f"(substr({hay.sql}, -length({needle.sql})) = {needle.sql})",
            }[name]
            params = {
                "contains": hay.params + needle.params,
                "startswith": hay.params + needle.params + needle.params,
                "endswith": hay.params + needle.params + needle.params,
            }[name]
            return Term(sql, params, "pred")
        if name in ("tolower", "toupper", "trim"):
            if len(args) != 1 or args[0].kind != STR:
                raise odata_error(f"'{name}' takes one string argument.")
            fn = {"tolower": "lower", "toupper": "upper", "trim": "trim"}[name]
            return Term(f"{fn}({args[0].sql})", args[0].params, STR)
        raise odata_error(f"An unknown function with name '{name}' was found in '$filter'.")

    def _compare(self, left: Term, op: str, right: Term) -> Term:
        sql_op = _CMP[op]
        if right.kind == "null" or left.kind == "null":
            other = left if right.kind == "null" else right
            if op not in ("eq", "ne"):
                raise odata_error(f"Operator '{op}' cannot be applied to null.")
            test = "IS NULL" if op == "eq" else "IS NOT NULL"
            return Term(f"({other.sql} {test})", other.params, "pred")
        if left.is_literal and not right.is_literal:
            left, right = right, left
            sql_op = {">": "<", ">=": "<=", "<": ">", "<=": ">="}.get(sql_op, sql_op)
        if right.is_literal and left.column is not None:
            value = self._convert(left.column, right, op)
            term = Term(f"({left.sql} {sql_op} ?)", [*left.params, value], "pred")
            if left.column.stored and not left.params:
                if sql_op in ("=", ">", ">="):
                    term.lo[left.column.name] = value
                if sql_op in ("=", "<", "<="):
                    term.hi[left.column.name] = value
            return term
        if left.kind != right.kind and {left.kind, right.kind} - {INT, DEC}:
            raise self._incompatible(left.kind, right.kind, op)
        lp = left.params if not left.is_literal else [self._plain(left)]
        rp = right.params if not right.is_literal else [self._plain(right)]
        return Term(f"({left.sql} {sql_op} {right.sql})", lp + rp, "pred")

    @staticmethod
    def _plain(term: Term) -> Any:
        if term.params:
            return term.params[0]
        if isinstance(term.literal, Decimal):
            return float(term.literal)
        return str(term.literal)

    @staticmethod
    def _incompatible(a: str, b: str, op: str) -> Exception:
        return odata_error(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{_KIND_EDM.get(a, a)}' and '{_KIND_EDM.get(b, b)}' for operator kind '{op}'."
        )

    def _convert(self, col: Column, lit: Term, op: str) -> Any:
        """Bring a literal into the column's storage representation."""
        kind = col.kind
        if kind in (STR, GUID):
            if lit.kind != STR:
                raise self._incompatible(kind, lit.kind, op)
            return lit.params[0]
        if kind == BOOL:
            if lit.kind != BOOL:
                raise self._incompatible(kind, lit.kind, op)
            return lit.params[0]
        if kind in (INT, DEC):
            if lit.kind not in (INT, DEC):
                raise self._incompatible(kind, lit.kind, op)
            scaled = lit.literal * (Decimal(10) ** col.scale)
            return int(scaled) if scaled == scaled.to_integral_value() else float(scaled)
        if kind in (DATE, STAMP):
            if lit.kind != DATE:
                raise self._incompatible(kind, lit.kind, op)
            value = lit.literal
            if not isinstance(value, datetime):
                value = datetime(value.year, value.month, value.day)
            return format_local(value, millis=kind == STAMP)
        raise self._incompatible(kind, lit.kind, op)


def _bounds(a: dict[str, Any], b: dict[str, Any], pick: Any, *, both: bool) -> dict[str, Any]:
    """Combine implied bounds: `or` keeps columns bounded on both sides (the looser bound),
    `and` keeps every bound (the tighter one where both sides bound the same column)."""
    out: dict[str, Any] = {}
    for name in set(a) | set(b):
        if name in a and name in b:
            try:
                out[name] = pick(a[name], b[name])
            except TypeError:
                continue
        elif not both:
            out[name] = a.get(name, b.get(name))
    return out


def format_local(value: datetime, millis: bool) -> str:
    """Stored text form of a local datetime; comparisons are lexicographic on it."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    micro = value.microsecond
    if millis:
        return text + (f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}")
    return text + (f".{micro:06d}".rstrip("0") if micro else "")


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses and quotes."""
    parts: list[str] = []
    buf: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def parse_select(text: str | None, entity: Entity) -> list[str]:
    """`$select` (case-sensitive); navigation names are allowed and ignored."""
    if text is None or text.strip() in ("", "*"):
        return list(entity.columns)
    names = []
    for raw in split_top(text, ","):
        name = raw.strip()
        if name == "*":
            return list(entity.columns)
        if name in entity.navs:
            continue
        if name not in entity.columns:
            raise unknown_property(name, entity.type_name)
        if name not in names:
            names.append(name)
    return names


def parse_orderby(text: str | None, entity: Entity) -> list[tuple[str, bool]]:
    """`$orderby` keys as (property, descending)."""
    if not text:
        return []
    result = []
    for item in split_top(text, ","):
        words = item.split()
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise odata_error(f"Syntax error in '$orderby' at '{item}'.")
        if words[0] not in entity.columns:
            raise unknown_property(words[0], entity.type_name)
        result.append((words[0], len(words) == 2 and words[1] == "desc"))
    return result


def parse_int(name: str, text: str | None) -> int | None:
    """`$top` / `$skip`: a non-negative integer."""
    if text is None:
        return None
    if not re.fullmatch(r"\d{1,12}", text.strip()):
        raise odata_error(f"Invalid value '{text}' for '{name}': expected a non-negative integer.")
    return int(text)


def parse_filter(text: str | None, entity: Entity, tz: ZoneInfo) -> tuple[str, list[Any]]:
    """Compile `$filter` into a SQL predicate with bound parameters."""
    if text is None or not text.strip():
        return "", []
    return FilterParser(text, entity, tz).parse()


def parse_expand(text: str | None, entity: Entity, tz: ZoneInfo, stock: bool) -> list[ExpandSpec]:
    """`$expand=Nav($select=..;$filter=..;$orderby=..;$expand=Nav2(...))`."""
    if not text:
        return []
    specs = []
    for item in split_top(text, ","):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?", item, re.DOTALL)
        if not m:
            raise odata_error(f"Syntax error in '$expand' at '{item}'.")
        nav = entity.navs.get(m.group(1))
        if nav is None:
            raise unknown_property(m.group(1), entity.type_name)
        child = entities(stock)[nav.child]
        options: dict[str, str] = {}
        for opt in split_top(m.group(2) or "", ";"):
            key, _, value = opt.partition("=")
            key = key.strip()
            if key not in ("$select", "$filter", "$orderby", "$expand"):
                raise odata_error(f"The query option '{key}' is not supported inside '$expand'.")
            options[key] = value
        where, params = parse_filter(options.get("$filter"), child, tz)
        specs.append(
            ExpandSpec(
                nav=nav.name,
                entity=child,
                join=nav.join,
                select=parse_select(options.get("$select"), child),
                where=where,
                params=params,
                orderby=parse_orderby(options.get("$orderby"), child),
                expand=parse_expand(options.get("$expand"), child, tz, stock),
            )
        )
    return specs


SUPPORTED = {"$select", "$filter", "$orderby", "$top", "$skip", "$count", "$expand", "$format"}


def parse_query(params: dict[str, str], entity: Entity, tz: ZoneInfo, stock: bool) -> Query:
    """Validate and compile every OData option of a collection request."""
    for key in params:
        if key.startswith("$") and key not in SUPPORTED:
            raise odata_error(f"The query parameter '{key}' is not supported.")
    count = params.get("$count")
    if count not in (None, "true", "false"):
        raise odata_error(f"Invalid value '{count}' for '$count': expected true or false.")
    where, args = parse_filter(params.get("$filter"), entity, tz)
    return Query(
        select=parse_select(params.get("$select"), entity),
        where=where,
        params=args,
        orderby=parse_orderby(params.get("$orderby"), entity),
        top=parse_int("$top", params.get("$top")),
        skip=parse_int("$skip", params.get("$skip")) or 0,
        count=count == "true",
        expand=parse_expand(params.get("$expand"), entity, tz, stock),
    )


def order_sql(entity: Entity, orderby: list[tuple[str, bool]]) -> str:
    """ORDER BY the requested keys, then the primary key so pages are deterministic."""
    parts = []
    seen = set()
    for name, desc in orderby:
        col = entity.columns[name]
        if col.stored:
            parts.append(f'"{name}"' + (" DESC" if desc else ""))
            seen.add(name)
    parts += [f'"{k}"' for k in entity.keys if k not in seen]
    return ", ".join(parts)
