"""The `/_sandbox` control API: health, faults, tokens, counters, truth, activity, late commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from finance_sandbox.epicor.emulator import INSTANCE, Emulator
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.hooks import Hooks
from finance_sandbox.epicor.responses import error_response, json_body

Handler = Callable[[Request], Awaitable[Response]]


def control(fn: Handler) -> Handler:
    """Control routes answer bad input with a 400 Epicor body, never a bare 500."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except EpicorError as err:
            return error_response(err)
        except (ValueError, TypeError, KeyError) as exc:
            return error_response(EpicorError(400, f"Bad control request: {exc}."))

    return wrapped


class ControlRoutes:
    """What tests and benchmarks use to steer and inspect one emulator."""

    def __init__(self, emu: Emulator, hooks: Hooks) -> None:
        """`hooks` runs activity and holds late commits."""
        self.emu = emu
        self.hooks = hooks

    def routes(self) -> list[Route]:
        """Every `/_sandbox` route."""
        return [
            Route("/_sandbox/health", control(self.health)),
            Route("/_sandbox/faults", control(self.faults), methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/tokens/expire", control(self.expire_tokens), methods=["POST"]),
            Route("/_sandbox/counters", control(self.counters), methods=["GET", "DELETE"]),
            Route("/_sandbox/activity", control(self.activity), methods=["POST"]),
            Route(
                "/_sandbox/activity/auto", control(self.activity_auto), methods=["POST", "DELETE"]
            ),
            Route("/_sandbox/truth/{stream}", control(self.truth)),
            Route("/_sandbox/late-commits", control(self.late_commits), methods=["GET", "POST"]),
            Route("/_sandbox/late-commits/commit", control(self.late_commit_now), methods=["POST"]),
        ]

    async def health(self, _: Request) -> Response:
        """Row counts and the settings the emulator runs with."""
        emu = self.emu
        stats = emu.stats()
        return JSONResponse(
            {
                "status": "ok",
                "invoices": stats["EPIC06"]["APInvHed"],
                "rows": stats,
                "seed": emu.settings.seed,
                "timezone": emu.settings.timezone,
                "page_cap": emu.page_cap,
                "stock_kinetic": emu.settings.stock_kinetic,
                "updated_on": emu.settings.updated_on,
                "token_ttl": emu.auth.token_ttl,
                "instance": INSTANCE,
            }
        )

    async def faults(self, request: Request) -> Response:
        """GET shows, POST adds, DELETE clears the faults and caps."""
        emu = self.emu
        if request.method == "DELETE":
            emu.faults.clear()
            emu.page_cap = emu.settings.page_cap
            emu.expand_cap = emu.settings.expand_cap
            emu.auth.token_ttl = emu.settings.token_ttl
        elif request.method == "POST":
            body = await json_body(request)
            emu.faults.update(body)
            if "page_cap" in body:
                emu.page_cap = int(body["page_cap"])
            if "expand_cap" in body:
                emu.expand_cap = int(body["expand_cap"])
            if "token_ttl" in body:
                emu.auth.token_ttl = int(body["token_ttl"])
        return JSONResponse(
            {
                **emu.faults.state(),
                "page_cap": emu.page_cap,
                "expand_cap": emu.expand_cap,
                "token_ttl": emu.auth.token_ttl,
            }
        )

    async def expire_tokens(self, _: Request) -> Response:
        """Every token issued so far stops working."""
        self.emu.auth.expire_all()
        return JSONResponse({"expired": self.emu.auth.issued})

    async def counters(self, request: Request) -> Response:
        """Requests per route and status; DELETE resets them."""
        if request.method == "DELETE":
            self.emu.counters.reset()
        return JSONResponse(self.emu.counters.snapshot())

    async def truth(self, request: Request) -> Response:
        """Every stored row of a stream as the tap should emit it (NDJSON)."""
        stream = request.path_params["stream"]
        company = request.query_params.get("company", "EPIC06")
        self.hooks.release_due()
        rows = self.emu.truth(stream, company)
        return Response("".join(r + "\n" for r in rows), media_type="application/x-ndjson")

    async def activity(self, request: Request) -> Response:
        """One round of simulated users' activity."""
        body = await json_body(request)
        return JSONResponse(self.hooks.activity_once(body))

    async def activity_auto(self, request: Request) -> Response:
        """POST starts activity after data requests, DELETE stops it."""
        if request.method == "DELETE":
            self.hooks.auto_stop()
            return JSONResponse({"auto": None})
        body = await json_body(request)
        return JSONResponse({"auto": self.hooks.auto_start(body)})

    async def late_commits(self, request: Request) -> Response:
        """POST holds the next writes uncommitted for a while; GET shows what is held."""
        if request.method == "POST":
            body = await json_body(request)
            seconds = body.get("seconds", 60)
            self.hooks.store.late.configure(
                int(body.get("hold_next") or 0), None if seconds is None else float(seconds)
            )
        return JSONResponse(self.hooks.store.late.status())

    async def late_commit_now(self, _: Request) -> Response:
        """Commit everything held now."""
        released = self.hooks.store.late.release_due(everything=True)
        return JSONResponse({"committed": released, **self.hooks.store.late.status()})
