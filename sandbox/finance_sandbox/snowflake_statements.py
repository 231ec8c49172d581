"""The local Snowflake's query route: faults and holds, then the warehouse, grant, stream and
stage layers, then fakesnow."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import fakesnow.server as fs_server
import fakesnow.transforms.stage as fs_stage
from starlette.requests import Request
from starlette.responses import Response

from finance_sandbox.snowflake import (
    _CANCEL_ALL_RE,
    FAULT_MESSAGES,
    Fault,
    WarehouseError,
    _error_response,
    complete_stage_info,
    remove_stage_files,
)
from finance_sandbox.snowflake_state import Catalog, ServerState, json_body


class StatementRoutes:
    """`/queries/v1/query-request`: one statement of a session."""

    def __init__(self, state: ServerState, catalog: Catalog) -> None:
        self.state = state
        self.catalog = catalog

    async def _fault(
        self, request: Request, token: str, sql: str
    ) -> tuple[WarehouseError | None, bool, Fault | None]:
        """The injected error for this statement, if any, whether it comes after running it, and
        the fault; a statement held before it runs that gets cancelled is answered as Snowflake
        answers that."""
        state = self.state
        fault: Fault | None
        error, fault = state.faults.take(sql, state.layer.session_warehouse.get(token))
        after = fault is not None and fault.after
        if (
            fault is not None
            and fault.delay_s
            and not after
            and await self._hold(request, token, fault)
        ):
            sqlstate, message = FAULT_MESSAGES["000604"]
            error, after = WarehouseError("000604", message, sqlstate), False
        return error, after, fault

    async def _hold(self, request: Request, token: str, fault: Fault) -> bool:
        """Hold the statement `fault.delay_s`; True if the client cancelled it meanwhile."""
        request_id = request.query_params.get("requestId")
        cancelled = await self.state.held.hold(token, request_id, fault.delay_s)
        fault.cancelled += cancelled
        return cancelled

    def _rewrite(self, token: str, sql: str) -> str | None:
        """The SQL fakesnow runs instead of `sql`, or None to run it as sent; raises
        WarehouseError for what Snowflake would refuse."""
        state = self.state
        conn: Any = fs_server.sessions.get(token)
        database, schema = getattr(conn, "database", None), getattr(conn, "schema", None)
        if cancel_all := _CANCEL_ALL_RE.match(sql):
            session_id = int(cancel_all.group(1))
            count = state.held.cancel(session_id=session_id)
            return f"SELECT '{count} cancelled.' AS \"SYSTEM$CANCEL_ALL_QUERIES({session_id})\""
        replacement = state.grants.check(token, sql, database, schema) or state.layer.rewrite(
            token, sql, lambda name: state.grants.visible_warehouse(token, name)
        )
        if replacement is None:
            replacement = state.streams.rewrite(sql, database, schema)
        if replacement is None:
            replacement = remove_stage_files(
                sql, Path(fs_stage.LOCAL_BUCKET_PATH), database, schema, self.catalog.stage_exists
            )
        return replacement

    async def _run(self, request: Request, token: str, sql: str) -> Response:
        """fakesnow runs the statement, in turn with DDL and tracked as the session's."""
        state = self.state
        altering = await state.ddl.enter(token, sql)
        state.tracker.note_sql(token, sql, done=False)
        state.tracker.start(token)
        try:
            return await fs_server.query_request(request)
        finally:
            state.tracker.note_sql(token, sql, done=True)
            state.tracker.end(token)
            if altering:
                state.ddl.leave()

    async def query(self, request: Request) -> Response:
        payload = await json_body(request)
        gzipped = request.headers.get("Content-Encoding") == "gzip"
        token = fs_server.to_token(request) if request.headers.get("Authorization") else ""
        sql = payload.get("sqlText", "")
        error, after, fault = await self._fault(request, token, sql)
        try:
            if error is not None and not after:
                raise error
            replacement = self._rewrite(token, sql)
        except WarehouseError as e:
            return _error_response(e)
        if replacement is not None:
            payload["sqlText"] = replacement
            raw = json.dumps(payload).encode()
            request._body = gzip.compress(raw) if gzipped else raw
        response = await self._run(request, token, sql)
        if after and fault is not None and fault.delay_s:
            # The statement took effect; its answer is late (a COMMIT whose reply is in flight).
            await self._hold(request, token, fault)
        if re.match(r"^\s*PUT\s", sql, re.I):
            response = complete_stage_info(response, sql)
        # An `after` fault: the statement ran, but the client is told it failed.
        return _error_response(error) if error is not None else response
