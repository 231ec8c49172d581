"""What the local Snowflake's route handlers share: one explicit object per app.

The handlers used to be closures over a dozen variables of `build_app`; grouping them by concern
(sessions, statements, control) needs the state in one place they all receive.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fakesnow.server as fs_server

if TYPE_CHECKING:
    from starlette.requests import Request

    from finance_sandbox.snowflake import (
        FaultInjector,
        HeldStatements,
        SessionTracker,
        WarehouseLayer,
    )
    from finance_sandbox.snowflake_ddl import DdlGate
    from finance_sandbox.snowflake_grants import RoleGrants
    from finance_sandbox.snowflake_streams import StreamCatalog
    from finance_sandbox.snowflake_users import UserRegistry


@dataclass
class ServerState:
    """The warehouse layer, fault and hold control, sessions, users, grants and streams."""

    layer: WarehouseLayer
    faults: FaultInjector
    held: HeldStatements
    tracker: SessionTracker
    users: UserRegistry
    ddl: DdlGate
    grants: RoleGrants
    streams: StreamCatalog


class Catalog:
    """Lookups in fakesnow's shared DuckDB catalog (read when asked: the server's own DDL
    changes it)."""

    def __init__(self, layer: WarehouseLayer) -> None:
        self.layer = layer

    def _exists(self, sql: str, params: list[str]) -> bool:
        cur = fs_server.shared_fs.duck_conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchone() is not None
        finally:
            cur.close()

    def stage_exists(self, database: str, schema: str, stage: str) -> bool:
        return self._exists(
            "SELECT 1 FROM _fs_global._fs_information_schema._fs_stages "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            [database, schema, stage],
        )

    def table_exists(self, database: str, schema: str, table: str) -> bool:
        return self._exists(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
            [database, schema, table],
        )

    def owned_objects(
        self, database: str | None, schema: str | None
    ) -> list[tuple[str, tuple[str, ...]]]:
        """Warehouses, `database`, and its schema `schema` with the schema's tables and stages.

        Only the session's schema: tests share one server with hundreds of schemas, and a
        loader asks only about its own.
        """
        objects: list[tuple[str, tuple[str, ...]]] = [
            ("WAREHOUSE", (name,)) for name in self.layer.registry.warehouses
        ]
        if not database:
            return objects
        objects.append(("DATABASE", (database,)))
        if not schema or schema.upper() == "INFORMATION_SCHEMA":
            return objects
        objects.append(("SCHEMA", (database, schema)))
        cur = fs_server.shared_fs.duck_conn.cursor()
        try:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = ? AND table_schema = ?",
                [database, schema],
            )
            objects += [("TABLE", (database, schema, r[0])) for r in cur.fetchall()]
            cur.execute(
                "SELECT name FROM _fs_global._fs_information_schema._fs_stages "
                "WHERE database_name = ? AND schema_name = ?",
                [database, schema],
            )
            objects += [("STAGE", (database, schema, r[0])) for r in cur.fetchall()]
        finally:
            cur.close()
        return objects


async def json_body(request: Request, *, empty_ok: bool = False) -> Any:
    """The connector's JSON request body, gzipped when it says `Content-Encoding: gzip`;
    `empty_ok`: an empty body reads as `{}`."""
    body = await request.body()
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body or b"{}") if empty_ok else json.loads(body)
