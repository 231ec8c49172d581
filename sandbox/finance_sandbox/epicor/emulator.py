"""The emulator's state (settings, database, auth, faults, counters) and its read operations."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from finance_sandbox.epicor.auth import ACCESS_DENIED, Auth
from finance_sandbox.epicor.errors import EpicorError, odata_error, unknown_property
from finance_sandbox.epicor.faults import Counters, Faults
from finance_sandbox.epicor.generator import COMPANIES, ensure_base
from finance_sandbox.epicor.model import CHILD_TABLES, STREAMS, TOP_LEVEL, Entity, entities
from finance_sandbox.epicor.odata import Query, parse_filter, parse_query, split_top
from finance_sandbox.epicor.rows import Fetcher

INSTANCE = "EpicorSandbox"
# A company that exists but the integration user may not use (-> 401 "Access denied").
RESTRICTED_COMPANIES = {"EPICHQ"}


@dataclass
class Settings:
    """CLI options of `finance-sandbox epicor` (sandbox/README.md)."""

    host: str = "127.0.0.1"
    port: int = 8701
    data_dir: Path = Path(".sandbox/epicor")
    seed: int = 42
    invoices: int = 1000
    page_cap: int = 100
    timezone: str = "America/Chicago"
    token_ttl: int = 3600
    updated_on: bool = False
    rewrite_headers: bool = False
    entry_shows_posted: bool = False
    expand_cap: int = 0
    big_po_lines: int = 0
    latency_ms: int = 0
    error_rate: float = 0.0

    @property
    def stock_kinetic(self) -> bool:
        """No `UpdatedOn` anywhere, as in Epicor's own schemas (the default)."""
        return not self.updated_on


class Emulator:
    """One running emulator: a private working copy of the generated database plus switches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        base = ensure_base(
            settings.data_dir, settings.seed, settings.invoices, _log, settings.big_po_lines
        )
        self.db_path = settings.data_dir / f"live-{os.getpid()}-{base.name}"
        shutil.copyfile(base, self.db_path)
        self.conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA case_sensitive_like=ON")
        self.conn.execute("PRAGMA journal_mode=MEMORY")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-100000")
        self.entities = entities(settings.stock_kinetic, settings.entry_shows_posted)
        self.auth = Auth(token_ttl=settings.token_ttl)
        self.faults = Faults(latency_ms=settings.latency_ms, error_rate=settings.error_rate)
        self.counters = Counters()
        self.page_cap = settings.page_cap
        self.expand_cap = settings.expand_cap
        self.data_requests = 0
        self._stats: tuple[int, dict[str, dict[str, int]]] | None = None
        self.stats()  # before the port is announced, so /_sandbox/health answers at once

    def close(self) -> None:
        """Drop the working copy; the generated base stays for the next start."""
        self.conn.close()
        self.db_path.unlink(missing_ok=True)

    # -- lookups -----------------------------------------------------------------------------

    def check_company(self, company: str) -> None:
        if company in RESTRICTED_COMPANIES or company not in COMPANIES:
            raise EpicorError(
                401,
                ACCESS_DENIED,
                "Epicor.RESTApi.ErrorHandling.ApiException",
                [
                    {
                        "Message": f"Access denied: company '{company}' is not available to "
                        "this user. Check the `company` setting.",
                        "Type": "Error",
                        "Table": "",
                        "Field": "",
                    }
                ],
            )

    def entity_set(self, service: str, name: str) -> tuple[Entity, bool]:
        """(entity, is_top_level) served at `{service}/{name}`, or 404."""
        for ent in self.entities.values():
            if ent.service.lower() == service.lower() and ent.entity_set == name:
                return ent, ent.table in TOP_LEVEL or ent.search
        raise EpicorError(
            404,
            f"Entity set '{name}' was not found in service '{service}'. Names are case-sensitive.",
            "Epicor.RESTApi.ErrorHandling.ApiException",
        )

    def service_known(self, service: str) -> bool:
        return any(e.service.lower() == service.lower() for e in self.entities.values())

    def canonical_service(self, service: str) -> str:
        for ent in self.entities.values():
            if ent.service.lower() == service.lower():
                return ent.service
        return service

    # -- reads -------------------------------------------------------------------------------

    def limit(self, top: int | None) -> int | None:
        """`$top` silently lowered to the page cap; no `$top` means one capped page."""
        cap = self.page_cap
        if cap and cap > 0:
            return cap if top is None else min(top, cap)
        return top

    def collection(
        self, company: str, entity: Entity, params: dict[str, str], base: str
    ) -> dict[str, Any]:
        """Pieces of a collection response: context, optional count, encoded rows."""
        q = parse_query(params, entity, self.tz, self.settings.stock_kinetic)
        return self._run(company, entity, q, base, entity.entity_set)

    def _run(
        self, company: str, entity: Entity, q: Query, base: str, context: str
    ) -> dict[str, Any]:
        fetcher = Fetcher(self.conn, company, self.expand_cap)
        rows = fetcher.page(entity, q, self.limit(q.top))
        result: dict[str, Any] = {"context": f"{base}/$metadata#{context}", "rows": rows}
        if q.count:
            result["count"] = self.count(company, entity, q.where, q.params)
        return result

    def count(self, company: str, entity: Entity, where: str, params: list[Any]) -> int:
        sql = f"SELECT COUNT(*) FROM {entity.table} WHERE {entity.base_where}"
        if where:
            sql += f" AND {where}"
        return int(self.conn.execute(sql, [company, *params]).fetchone()[0])

    def count_path(self, company: str, entity: Entity, params: dict[str, str]) -> int:
        where, args = parse_filter(params.get("$filter"), entity, self.tz)
        return self.count(company, entity, where, args)

    def key_filter(self, company: str, entity: Entity, text: str) -> tuple[str, list[Any]]:
        """`('EPIC06',5,'INV1')` or `Company='EPIC06',VendorNum=5,...` -> SQL predicate."""
        parts = split_top(text, ",")
        values: dict[str, str] = {}
        for i, part in enumerate(parts):
            name, eq, given = part.partition("=")
            if eq and not name.strip().startswith("'"):
                name = name.strip()
                if name not in entity.keys:
                    raise unknown_property(name, entity.type_name)
                values[name] = given.strip()
            elif i < len(entity.keys):
                values[entity.keys[i]] = part.strip()
        if set(values) != set(entity.keys):
            raise odata_error(
                f"The key of '{entity.entity_set}' is ({', '.join(entity.keys)}): got '{text}'."
            )
        clauses, args = [], []
        for name in entity.keys:
            raw = values[name]
            col = entity.columns[name]
            value: Any
            if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
                value = raw[1:-1].replace("''", "'")
            elif raw in ("true", "false"):
                value = int(raw == "true")
            else:
                try:
                    value = int(raw)
                except ValueError as exc:
                    raise odata_error(f"Invalid key value {raw} for '{name}'.") from exc
            if col.kind == "bool" and not isinstance(value, int):
                raise odata_error(f"Invalid key value {raw} for '{name}': expected true or false.")
            clauses.append(f'"{name}" = ?')
            args.append(value)
        if args[0] != company:
            return "0", []
        return " AND ".join(clauses[1:]) or "1", args[1:]

    def single(
        self, company: str, entity: Entity, keys: str, params: dict[str, str], base: str
    ) -> str:
        """`Set(keys)`: one encoded object, or 404."""
        where, args = self.key_filter(company, entity, keys)
        q = parse_query(params, entity, self.tz, self.settings.stock_kinetic)
        only = Query(select=q.select, where=where, params=args, expand=q.expand)
        rows = Fetcher(self.conn, company, self.expand_cap).page(entity, only, 1)
        if not rows:
            raise EpicorError(
                404,
                f"Record not found in {entity.entity_set} for key ({keys}).",
                "Ice.Common.RecordNotFoundException",
            )
        context = f'"@odata.context":"{base}/$metadata#{entity.entity_set}/$entity",'
        return "{" + context + rows[0][1:]

    def navigation(
        self,
        company: str,
        entity: Entity,
        keys: str,
        nav: str,
        *,
        params: dict[str, str],
        base: str,
    ) -> dict[str, Any]:
        """`Set(keys)/Nav`: the children of one parent, with query options on the child."""
        link = entity.navs.get(nav)
        if link is None:
            raise unknown_property(nav, entity.type_name)
        where, args = self.key_filter(company, entity, keys)
        parent = self.conn.execute(
            f"SELECT {', '.join(p for p, _ in link.join)} FROM {entity.table} "
            f"WHERE {entity.base_where} AND {where}",
            [company, *args],
        ).fetchone()
        if parent is None:
            raise EpicorError(
                404,
                f"Record not found in {entity.entity_set} for key ({keys}).",
                "Ice.Common.RecordNotFoundException",
            )
        child = self.entities[link.child]
        q = parse_query(params, child, self.tz, self.settings.stock_kinetic)
        join_sql = " AND ".join(f'"{c}" = ?' for _, c in link.join[1:])
        q.where = f"({join_sql})" + (f" AND {q.where}" if q.where else "")
        q.params = list(parent[1:]) + q.params
        return self._run(company, child, q, base, f"{entity.entity_set}({keys})/{nav}")

    def child_set_quirk(self, params: dict[str, str]) -> bool:
        """Top-level child sets answer `[]` to any `$filter` (reference §8.1, seen live)."""
        return bool(params.get("$filter"))

    def truth(self, stream: str, company: str) -> list[str]:
        """Current rows of a stream as served (every column), in key order."""
        table = STREAMS.get(stream)
        if table is None:
            raise EpicorError(404, f"Unknown stream '{stream}'. Known: {', '.join(STREAMS)}.")
        # Every row of the table, whichever service serves it (posted checks leave
        # PaymentEntries but are still the stream's rows).
        ent = replace(self.entities[table], scope="")
        return Fetcher(self.conn, company).page(ent, Query(select=list(ent.columns)), None)

    def stats(self) -> dict[str, dict[str, int]]:
        """Row counts per company and table (cached until the next write: 1M rows count slowly)."""
        if self._stats is not None and self._stats[0] == self.conn.total_changes:
            return self._stats[1]
        result: dict[str, dict[str, int]] = {}
        for table in (*TOP_LEVEL, *CHILD_TABLES):
            sql = f"SELECT Company, COUNT(*) FROM {table} GROUP BY Company"
            for company, n in self.conn.execute(sql):
                result.setdefault(company, {})[table] = int(n)
        self._stats = (self.conn.total_changes, result)
        return result


def _log(message: str) -> None:
    print(f"finance-sandbox epicor: {message}", file=sys.stderr, flush=True)  # noqa: T201
