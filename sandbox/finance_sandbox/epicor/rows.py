"""Reading rows from SQLite and encoding them as Epicor JSON text (exact decimals, no floats)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from finance_sandbox.epicor.model import BOOL, DATE, DEC, GUID, INT, STAMP, STR, Column, Entity
from finance_sandbox.epicor.odata import ExpandSpec, Query, order_sql

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
# SQLite's default limit on bound parameters is 32766; stay well below it.
MAX_PARENTS_PER_QUERY = 400


def _enc_str(v: Any) -> str:
    return encode_basestring_ascii(v) if v is not None else '""'


def _enc_int(v: Any) -> str:
    return str(v) if v is not None else "0"


def _enc_bool(v: Any) -> str:
    return "true" if v else "false"


def _enc_date(v: Any) -> str:
    return f'"{v}"' if v else "null"


def _enc_guid(v: Any) -> str:
    return f'"{v}"' if v else f'"{ZERO_GUID}"'


def dec_text(value: int, scale: int) -> str:
    """Scaled integer -> exact decimal text (1234500, 3 -> '1234.5')."""
    if scale == 0:
        return str(value)
    neg = value < 0
    q, r = divmod(-value if neg else value, 10**scale)
    text = str(q) if r == 0 else f"{q}.{r:0{scale}d}".rstrip("0")
    return "-" + text if neg else text


def _dec_encoder(scale: int) -> Callable[[Any], str]:
    div = 10**scale

    def enc(v: Any) -> str:
        if not v:
            return "0"
        neg = v < 0
        q, r = divmod(-v if neg else v, div)
        text = str(q) if r == 0 else f"{q}.{r:0{scale}d}".rstrip("0")
        return "-" + text if neg else text

    return enc


_DEFAULT_JSON = {STR: '""', INT: "0", DEC: "0", BOOL: "false", DATE: "null", STAMP: "null"}


def encoder_for(col: Column) -> Callable[[Any], str]:
    """JSON encoder of one stored column."""
    if col.kind == DEC:
        return _dec_encoder(col.scale)
    return {
        STR: _enc_str,
        INT: _enc_int,
        BOOL: _enc_bool,
        DATE: _enc_date,
        STAMP: _enc_date,
        GUID: _enc_guid,
    }[col.kind]


def python_value(col: Column, v: Any) -> Any:
    """Stored value -> plain Python value for write-method datasets (decimals as exact text)."""
    if not col.stored:
        return {STR: "", INT: 0, DEC: 0, BOOL: False, DATE: None, STAMP: None}.get(
            col.kind, ZERO_GUID
        )
    if col.kind == BOOL:
        return bool(v)
    if col.kind == DEC:
        return dec_text(int(v or 0), col.scale)
    if col.kind == STR:
        return v if v is not None else ""
    if col.kind == INT:
        return int(v or 0)
    return v


class RowEncoder:
    """Encodes rows of one entity for one `$select`, merging runs of default values."""

    def __init__(self, entity: Entity, names: Sequence[str], extra: Sequence[str] = ()) -> None:
        self.entity = entity
        self.fetch: list[str] = []
        for name in [*names, *extra]:
            col = entity.columns.get(name)
            stored = col.stored if col else name in entity.stored
            if stored and name not in self.fetch:
                self.fetch.append(name)
        self.index = {name: i for i, name in enumerate(self.fetch)}
        self.parts: list[tuple[str, int, Callable[[Any], str]]] = []
        prefix = ""
        for i, name in enumerate(names):
            col = entity.columns[name]
            sep = "," if i else ""
            if col.stored:
                self.parts.append((f'{prefix}{sep}"{name}":', self.index[name], encoder_for(col)))
                prefix = ""
            else:
                default = _DEFAULT_JSON.get(col.kind, f'"{ZERO_GUID}"')
                prefix += f'{sep}"{name}":{default}'
        self.tail = prefix

    def select_sql(self) -> str:
        return ", ".join(f'"{c}"' for c in self.fetch) or "1"

    def encode(self, row: Sequence[Any], nested: str = "") -> str:
        out = ["{"]
        for prefix, idx, fn in self.parts:
            out.append(prefix)
            out.append(fn(row[idx]))
        out.append(self.tail)
        if nested:
            out.append(("," if (self.parts or self.tail) else "") + nested)
        out.append("}")
        return "".join(out)


class Fetcher:
    """Runs the page query and the `$expand` queries (one per level and page, never per row)."""

    def __init__(self, conn: sqlite3.Connection, company: str, expand_cap: int = 0) -> None:
        self.conn = conn
        self.company = company
        # `--expand-cap`: each expanded collection silently truncated at this many rows.
        self.expand_cap = expand_cap

    def page(self, entity: Entity, q: Query, limit: int | None) -> list[str]:
        """Encoded JSON objects of one page of `entity` (`limit` is the capped `$top`)."""
        select, where, params, orderby, offset, expand = (
            q.select,
            q.where,
            q.params,
            q.orderby,
            q.skip,
            q.expand,
        )
        join_cols = [p for spec in expand for p, _ in spec.join]
        enc = RowEncoder(entity, select, join_cols)
        sql = f"SELECT {enc.select_sql()} FROM {entity.table} WHERE {entity.base_where}"
        args: list[Any] = [self.company]
        if where:
            sql += f" AND {where}"
            args += params
        sql += f" ORDER BY {order_sql(entity, orderby)}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if limit is None else limit, offset]
        rows = self.conn.execute(sql, args).fetchall()
        return self._encode(enc, rows, expand)

    def _encode(self, enc: RowEncoder, rows: list[Any], expand: list[ExpandSpec]) -> list[str]:
        if not expand or not rows:
            return [enc.encode(r) for r in rows]
        children = [self._children(spec, enc, rows) for spec in expand]
        out = []
        for row in rows:
            nested = []
            for spec, by_parent in zip(expand, children, strict=True):
                key = tuple(row[enc.index[p]] for p, _ in spec.join)
                nested.append(f'"{spec.nav}":[{",".join(by_parent.get(key, []))}]')
            out.append(enc.encode(row, ",".join(nested)))
        return out

    def _children(
        self, spec: ExpandSpec, parent: RowEncoder, rows: list[Any]
    ) -> dict[tuple[Any, ...], list[str]]:
        child = spec.entity
        child_cols = [c for _, c in spec.join]
        inner_join = [p for s in spec.expand for p, _ in s.join]
        enc = RowEncoder(child, spec.select, [*child_cols, *inner_join])
        key_idx = [enc.index[c] for c in child_cols]
        parent_keys = list(
            dict.fromkeys(tuple(r[parent.index[p]] for p, _ in spec.join) for r in rows)
        )
        fetched: list[Any] = []
        # Company is the first join column and the same for every parent: filter it once.
        # The parent keys drive the join (CROSS JOIN keeps them outer) so the child's primary
        # key index is used: one query per page and level, never one per parent row.
        rest = child_cols[1:]
        names = [f"k{i}" for i in range(len(rest))]
        on = " AND ".join(f'c."{col}" = k.{n}' for col, n in zip(rest, names, strict=True))
        for start in range(0, len(parent_keys), MAX_PARENTS_PER_QUERY):
            chunk = parent_keys[start : start + MAX_PARENTS_PER_QUERY]
            values = ", ".join(["(" + ", ".join("?" * len(rest)) + ")"] * len(chunk))
            cols = ", ".join(f'c."{c}"' for c in enc.fetch) or "1"
            sql = (
                f"WITH k({', '.join(names)}) AS (VALUES {values}) "
                f"SELECT {cols} FROM k CROSS JOIN {child.table} c ON c.Company = ? AND {on}"
            )
            args: list[Any] = [v for key in chunk for v in key[1:]]
            args.append(self.company)
            if spec.where:
                sql += f" WHERE {spec.where}"
                args += spec.params
            sql += f" ORDER BY {order_sql(child, spec.orderby)}"
            fetched += self.conn.execute(sql, args).fetchall()
        if self.expand_cap > 0:
            counts: dict[tuple[Any, ...], int] = {}
            kept = []
            for row in fetched:
                key = tuple(row[i] for i in key_idx)
                counts[key] = counts.get(key, 0) + 1
                if counts[key] <= self.expand_cap:
                    kept.append(row)
            fetched = kept
        encoded = self._encode(enc, fetched, spec.expand)
        result: dict[tuple[Any, ...], list[str]] = {}
        for row, text in zip(fetched, encoded, strict=True):
            result.setdefault(tuple(row[i] for i in key_idx), []).append(text)
        return result
