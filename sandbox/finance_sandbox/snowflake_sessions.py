"""The local Snowflake's session routes: login, close, token renewal and statement cancel."""

from __future__ import annotations

import json

import fakesnow.server as fs_server
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from finance_sandbox.snowflake import (
    FAULT_MESSAGES,
    WarehouseError,
    _error_response,
    login_extras,
    normalise_name,
)
from finance_sandbox.snowflake_state import ServerState, json_body


class SessionRoutes:
    """What a connector session does besides running statements."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def login(self, request: Request) -> Response:
        state = self.state
        if refused := state.users.refusal((await json_body(request)).get("data") or {}):
            return _error_response(WarehouseError(*refused))
        response = await fs_server.login_request(request)
        warehouse = request.query_params.get("warehouse")
        payload = json.loads(bytes(response.body))
        token = payload.get("data", {}).get("token")
        if token:
            name = normalise_name(warehouse) if warehouse else None
            if name:
                state.layer.registry.get_or_create(name)
            state.layer.session_warehouse[token] = name
            role = request.query_params.get("roleName")
            state.grants.session_role[token] = normalise_name(role) if role else None
            payload["data"]["sessionId"] = state.held.new_session(token)
            payload["data"].update(login_extras(token))
            return JSONResponse(payload)
        return response

    async def session(self, request: Request) -> Response:
        """Closing a session rolls back its open transaction, as Snowflake does."""
        if request.query_params.get("delete") and request.headers.get("Authorization"):
            token = fs_server.to_token(request)
            conn = fs_server.sessions.get(token)
            tracker = self.state.tracker
            if conn is not None and tracker.in_transaction(token, conn):
                try:
                    await run_in_threadpool(conn.rollback)
                finally:
                    tracker.note_sql(token, "ROLLBACK", done=True)
        return await fs_server.session(request)

    async def token_request(self, request: Request) -> Response:
        """Renew an expired session with the master token (what Snowflake answers a RENEW).

        The connector renews on its own when a statement is answered 390112 and then repeats
        the statement; without this the renewal got a 404 and the statement failed (250001).
        """
        master = fs_server.to_token(request) if request.headers.get("Authorization") else ""
        token = master.removesuffix("-master")
        if not master.endswith("-master") or token not in fs_server.sessions:
            sqlstate, message = FAULT_MESSAGES["390114"]
            return _error_response(WarehouseError("390114", message, sqlstate))
        extras = login_extras(token)
        return JSONResponse(
            {
                "data": {
                    "sessionToken": token,
                    "validityInSecondsST": extras["validityInSeconds"],
                    "masterToken": extras["masterToken"],
                    "validityInSecondsMT": extras["masterValidityInSeconds"],
                    "sessionId": self.state.held.session_id(token),
                },
                "code": None,
                "message": None,
                "success": True,
            }
        )

    async def abort_request(self, request: Request) -> Response:
        """The connector's cancel of one running statement (by its request id)."""
        request_id = (await json_body(request, empty_ok=True)).get("requestId")
        self.state.held.cancel(request_id=str(request_id) if request_id else None)
        return JSONResponse({"data": None, "success": True})
