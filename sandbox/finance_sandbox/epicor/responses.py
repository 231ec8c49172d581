"""What every Epicor route shares: Epicor's error body, the per-route counter, request bodies."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from finance_sandbox.epicor.emulator import Emulator
from finance_sandbox.epicor.errors import EpicorError

log = logging.getLogger("finance_sandbox.epicor")
JSON = "application/json; charset=utf-8"


def error_response(err: EpicorError) -> Response:
    """Every error leaves through here, with Epicor's body."""
    return Response(json.dumps(err.body()), err.status, headers=err.headers, media_type=JSON)


def _unexpected(exc: Exception) -> EpicorError:
    log.error("unexpected error: %s", "".join(traceback.format_exception(exc)))
    return EpicorError(500, f"Internal server error: {type(exc).__name__}.", "System.Exception")


async def guarded(emu: Emulator, route: str, fn: Callable[[], Awaitable[Response]]) -> Response:
    """Run a handler: its errors become Epicor's error body, and the answer is counted."""
    try:
        resp = await fn()
    except EpicorError as err:
        resp = error_response(err)
    except Exception as exc:
        resp = error_response(_unexpected(exc))
    emu.counters.add(route, resp.status_code)
    return resp


async def form_body(request: Request) -> dict[str, str]:
    """URL-encoded form body (parsed here: python-multipart is not a dependency)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


async def json_body(request: Request) -> dict[str, Any]:
    """A JSON object body; anything else is a 400 naming what is wrong."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise EpicorError(400, f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise EpicorError(400, "The request body must be a JSON object.")
    return body
