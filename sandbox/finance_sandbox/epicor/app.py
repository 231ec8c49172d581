"""The Epicor emulator's ASGI app: its routes, grouped by concern in modules of their own."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from finance_sandbox.epicor.control_routes import ControlRoutes
from finance_sandbox.epicor.emulator import Emulator
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.hooks import Hooks
from finance_sandbox.epicor.model import STREAMS
from finance_sandbox.epicor.odata_routes import ODataRoutes
from finance_sandbox.epicor.responses import error_response
from finance_sandbox.epicor.token_routes import TokenRoutes


def build_app(emu: Emulator, hooks: Hooks) -> Starlette:
    """The ASGI app of one emulator; `hooks` provides writes, activity, BAQ and $metadata."""
    routes = [
        *ControlRoutes(emu, hooks).routes(),
        *TokenRoutes(emu).routes(),
        *ODataRoutes(emu, hooks).routes(),
        Route("/{rest:path}", not_found, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
    ]
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False
    return app


async def not_found(request: Request) -> Response:
    """Anything else: Epicor's 404 body."""
    return error_response(
        EpicorError(
            404,
            f"No route for {request.url.path}.",
            "Epicor.RESTApi.ErrorHandling.ApiException",
        )
    )


__all__ = ["STREAMS", "build_app", "error_response"]
