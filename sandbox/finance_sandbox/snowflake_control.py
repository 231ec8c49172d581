"""The local Snowflake's `/_sandbox/*` control routes: health, faults, idle sessions, restricted
roles and key-pair users (what tests set up; a real account has none of these)."""

from __future__ import annotations

import re

import fakesnow.server as fs_server
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from finance_sandbox.snowflake import normalise_name
from finance_sandbox.snowflake_state import ServerState


class ControlRoutes:
    """Handlers of the control routes; `routes()` lists them in matching order."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/health", self.health, methods=["GET"]),
            Route("/_sandbox/faults", self.add_fault, methods=["POST"]),
            Route("/_sandbox/faults", self.list_faults, methods=["GET"]),
            Route("/_sandbox/faults", self.clear_faults, methods=["DELETE"]),
            Route("/_sandbox/sessions/abort-idle", self.abort_idle, methods=["POST"]),
            Route("/_sandbox/roles", self.define_role, methods=["POST"]),
            Route("/_sandbox/roles", self.list_roles, methods=["GET"]),
            Route("/_sandbox/roles/{role}/statements", self.role_statements, methods=["GET"]),
            Route("/_sandbox/roles/{role}", self.drop_role, methods=["DELETE"]),
            Route("/_sandbox/users", self.add_user, methods=["POST"]),
            Route("/_sandbox/users", self.clear_users, methods=["DELETE"]),
        ]

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "sessions": len(fs_server.sessions)})

    async def add_fault(self, request: Request) -> Response:
        body = await request.json()
        faults = self.state.faults
        try:
            faults.add(
                str(body["match"]),
                int(body.get("times", 1)),
                str(body["code"]),
                float(body.get("delay_s", 0)),
                bool(body.get("after", False)),
            )
        except (KeyError, ValueError, TypeError, re.error) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"faults": len(faults.faults)})

    async def list_faults(self, _request: Request) -> Response:
        return JSONResponse({"faults": self.state.faults.describe()})

    async def clear_faults(self, _request: Request) -> Response:
        self.state.faults.clear()
        return JSONResponse({"faults": 0})

    async def abort_idle(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        idle = float(body.get("idle_seconds", 0))
        tracker = self.state.tracker
        aborted = await run_in_threadpool(tracker.abort_idle, fs_server.sessions, idle)
        return JSONResponse({"aborted": aborted})

    async def define_role(self, request: Request) -> Response:
        """`{"role": R, "grants": ["GRANT … TO ROLE R", …]}`: R becomes restricted to these."""
        body = await request.json()
        try:
            role, statements = str(body["role"]), [str(g) for g in body.get("grants", [])]
            count = self.state.grants.define(role, statements)
        except (KeyError, ValueError, TypeError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"role": normalise_name(str(body["role"])), "grants": count})

    async def list_roles(self, _request: Request) -> Response:
        return JSONResponse({"roles": self.state.grants.describe()})

    async def role_statements(self, request: Request) -> Response:
        """Every statement sessions of a restricted role sent (refused ones included)."""
        return JSONResponse({"statements": self.state.grants.log(request.path_params["role"])})

    async def drop_role(self, request: Request) -> Response:
        self.state.grants.drop(request.path_params["role"])
        return JSONResponse({"dropped": True})

    async def add_user(self, request: Request) -> Response:
        body = await request.json()
        try:
            self.state.users.add(str(body["name"]), str(body["rsa_public_key"]))
        except (KeyError, ValueError, TypeError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"user": str(body["name"]).upper()})

    async def clear_users(self, _request: Request) -> Response:
        self.state.users.clear()
        return JSONResponse({"users": 0})
