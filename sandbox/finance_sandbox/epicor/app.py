"""Starlette routes: REST v2 OData, Token Resource, OAuth2 token, `/_sandbox` control API."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from finance_sandbox.epicor import auth as epicor_auth
from finance_sandbox.epicor.emulator import INSTANCE, Emulator
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.hooks import Hooks
from finance_sandbox.epicor.model import STREAMS

log = logging.getLogger("finance_sandbox.epicor")
JSON = "application/json; charset=utf-8"

# Bodies of the `html_next` / `invalid_json_next` faults: what a proxy or a broken server sends.
HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 - Web server received an invalid response while "
    "acting as a gateway or proxy server.</title></head><body><h1>Server Error</h1><h2>502 - "
    "Web server received an invalid response while acting as a gateway or proxy server.</h2>"
    "</body></html>"
)
INVALID_JSON = b'{"odata.metadata": "$metadata", "value": [{"Company": "EPIC06", } ]'


def truncated(resp: Response) -> Response:
    """The response cut in half while its Content-Length still promises the whole body."""
    body = bytes(resp.body)
    cut = Response(body[: len(body) // 2], status_code=resp.status_code)
    cut.raw_headers = [(k, v) for k, v in resp.raw_headers if k.lower() != b"content-length"] + [
        (b"content-length", str(len(body)).encode())
    ]
    return cut


def error_response(err: EpicorError) -> Response:
    """Every error leaves through here, with Epicor's body."""
    return Response(json.dumps(err.body()), err.status, headers=err.headers, media_type=JSON)


def _unexpected(exc: Exception) -> EpicorError:
    log.error("unexpected error: %s", "".join(traceback.format_exception(exc)))
    return EpicorError(500, f"Internal server error: {type(exc).__name__}.", "System.Exception")


def build_app(emu: Emulator, hooks: Hooks) -> Starlette:
    """The ASGI app of one emulator; `hooks` provides writes, activity, BAQ and $metadata."""

    async def guarded(route: str, fn: Callable[[], Awaitable[Response]]) -> Response:
        try:
            resp = await fn()
        except EpicorError as err:
            resp = error_response(err)
        except Exception as exc:
            resp = error_response(_unexpected(exc))
        emu.counters.add(route, resp.status_code)
        return resp

    # -- REST v2 ---------------------------------------------------------------------------

    async def v2(request: Request) -> Response:
        instance = request.path_params["instance"]
        company = request.path_params["company"]
        rest = request.path_params["rest"]
        segments = rest.split("/")
        service = segments[0]
        route = _route_name(emu, segments)

        async def handle() -> Response:
            hooks.release_due()
            if instance != INSTANCE:
                raise EpicorError(
                    404,
                    f"Unknown server instance '{instance}'.",
                    "Epicor.RESTApi.ErrorHandling.ApiException",
                )
            emu.data_requests += 1
            if emu.faults.latency_ms:
                await asyncio.sleep(emu.faults.latency_ms / 1000)
            fault = emu.faults.next_error()
            if fault:
                raise fault
            bad_body = emu.faults.next_bad_body()
            if bad_body == "html":
                return HTMLResponse(HTML_ERROR_PAGE, status_code=emu.faults.html_status)
            if bad_body == "invalid_json":
                return Response(INVALID_JSON, media_type="application/json; charset=utf-8")
            emu.auth.user_from_authorization(request.headers.get("authorization"))
            emu.auth.check_api_key(
                request.headers.get("x-api-key") or request.query_params.get("api-key")
            )
            emu.check_company(company)
            params = {k: v for k, v in request.query_params.items() if k != "api-key"}
            base = (
                f"{str(request.base_url).rstrip('/')}/{INSTANCE}/api/v2/odata/{company}/{service}"
            )
            resp = await _dispatch(
                request, company, service, segments[1:], params=params, base=base
            )
            if bad_body == "truncated":
                return truncated(resp)
            return resp

        resp = await guarded(route, handle)
        if resp.status_code < 500:
            hooks.after_data_request()
        return resp

    async def _dispatch(
        request: Request,
        company: str,
        service: str,
        segments: list[str],
        *,
        params: dict[str, str],
        base: str,
    ) -> Response:
        if service == "BaqSvc":
            return await hooks.baq(request, company, segments, params, base)
        if not emu.service_known(service):
            raise EpicorError(
                404,
                f"Service '{service}' was not found. Check the service name "
                "(e.g. Erp.BO.APInvoiceSvc).",
                "Epicor.RESTApi.ErrorHandling.ApiException",
            )
        target = segments[0] if segments else ""
        if target == "":
            return JSONResponse(_service_document(emu, service, base))
        if target == "$metadata":
            return hooks.metadata(service)
        name, _, keys = target.partition("(")
        if request.method == "POST" or hooks.is_method(service, name):
            return await hooks.method(request, company, service, name, params)
        entity, top_level = emu.entity_set(service, name)
        if request.method != "GET":
            raise EpicorError(405, f"{request.method} is not supported on {name}.")
        if keys:
            if not keys.endswith(")"):
                raise EpicorError(
                    400, f"Malformed key predicate in '{target}'.", "Microsoft.OData.ODataException"
                )
            keys = keys[:-1]
            if len(segments) > 1 and segments[1]:
                page = emu.navigation(company, entity, keys, segments[1], params=params, base=base)
                return _collection_response(page)
            body = emu.single(company, entity, keys, params, base)
            return Response(body, media_type=JSON)
        if len(segments) > 1 and segments[1] == "$count":
            return PlainTextResponse(str(emu.count_path(company, entity, params)))
        if len(segments) > 1 and segments[1]:
            raise EpicorError(404, f"Resource '{'/'.join(segments)}' was not found.")
        if not top_level and emu.child_set_quirk(params):
            page = {"context": f"{base}/$metadata#{name}", "rows": []}
            return _collection_response(page)
        return _collection_response(emu.collection(company, entity, params, base))

    # -- tokens ----------------------------------------------------------------------------

    async def token_resource(request: Request) -> Response:
        async def handle() -> Response:
            if request.path_params["instance"] != INSTANCE:
                raise EpicorError(404, "Unknown server instance.")
            user = request.headers.get("username")
            auth_header = request.headers.get("authorization", "")
            if user is not None:
                name = epicor_auth.Auth.check_password(user, request.headers.get("password") or "")
            elif auth_header.lower().startswith("basic "):
                name = emu.auth.user_from_authorization(auth_header)
            else:
                form = await _form(request)
                name = epicor_auth.Auth.check_password(
                    str(form.get("username") or form.get("userName") or ""),
                    str(form.get("password") or ""),
                )
            token = emu.auth.issue(name)
            ttl = emu.auth.token_ttl
            if "application/json" in request.headers.get("accept", ""):
                return JSONResponse(
                    {
                        "AccessToken": token,
                        "ExpiresIn": ttl,
                        "TokenType": "Bearer",
                        "RefreshToken": "",
                    }
                )
            xml = (
                '<Token xmlns="http://schemas.datacontract.org/2004/07/Epicor.Ice.Lib" '
                'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
                f"<AccessToken>{token}</AccessToken><ExpiresIn>{ttl}</ExpiresIn>"
                "<RefreshToken></RefreshToken><TokenType>Bearer</TokenType></Token>"
            )
            return Response(xml, media_type="application/xml")

        return await guarded("TokenResource.svc", handle)

    async def connect_token(request: Request) -> Response:
        """OAuth2 token endpoint (Epicor IdP stand-in): client credentials or password grant."""

        def oauth_error(status: int, code: str, description: str) -> Response:
            return JSONResponse({"error": code, "error_description": description}, status)

        try:
            form = await _form(request)
            grant = str(form.get("grant_type") or "")
            client_id = str(form.get("client_id") or "")
            secret = str(form.get("client_secret") or "")
            header = request.headers.get("authorization", "")
            if header.lower().startswith("basic "):
                client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            scopes = str(form.get("scope") or "").split()
            if grant not in ("client_credentials", "password"):
                resp = oauth_error(
                    400, "unsupported_grant_type", f"grant_type '{grant}' is not supported"
                )
            elif client_id != epicor_auth.CLIENT_ID or (
                grant == "client_credentials" and secret != epicor_auth.CLIENT_SECRET
            ):
                resp = oauth_error(401, "invalid_client", "client authentication failed")
            elif epicor_auth.SCOPE not in scopes:
                resp = oauth_error(
                    400, "invalid_scope", f"scope must include '{epicor_auth.SCOPE}'"
                )
            else:
                user = epicor_auth.USERNAME
                if grant == "password":
                    user = epicor_auth.Auth.check_password(
                        str(form.get("username") or ""), str(form.get("password") or "")
                    )
                token = emu.auth.issue(user)
                resp = JSONResponse(
                    {
                        "access_token": token,
                        "expires_in": emu.auth.token_ttl,
                        "token_type": "Bearer",
                        "scope": " ".join(scopes),
                    }
                )
        except EpicorError:
            resp = oauth_error(400, "invalid_grant", "invalid username or password")
        emu.counters.add("connect/token", resp.status_code)
        return resp

    # -- control API -----------------------------------------------------------------------

    async def health(_: Request) -> Response:
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

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            emu.faults.clear()
            emu.page_cap = emu.settings.page_cap
            emu.expand_cap = emu.settings.expand_cap
            emu.auth.token_ttl = emu.settings.token_ttl
        elif request.method == "POST":
            body = await _json_body(request)
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

    async def expire_tokens(_: Request) -> Response:
        emu.auth.expire_all()
        return JSONResponse({"expired": emu.auth.issued})

    async def counters(request: Request) -> Response:
        if request.method == "DELETE":
            emu.counters.reset()
        return JSONResponse(emu.counters.snapshot())

    async def truth(request: Request) -> Response:
        stream = request.path_params["stream"]
        company = request.query_params.get("company", "EPIC06")
        hooks.release_due()
        try:
            rows = emu.truth(stream, company)
        except EpicorError as err:
            return error_response(err)
        return Response("".join(r + "\n" for r in rows), media_type="application/x-ndjson")

    async def activity(request: Request) -> Response:
        try:
            body = await _json_body(request)
            return JSONResponse(hooks.activity_once(body))
        except EpicorError as err:
            return error_response(err)

    async def activity_auto(request: Request) -> Response:
        if request.method == "DELETE":
            hooks.auto_stop()
            return JSONResponse({"auto": None})
        body = await _json_body(request)
        return JSONResponse({"auto": hooks.auto_start(body)})

    async def late_commits(request: Request) -> Response:
        if request.method == "POST":
            body = await _json_body(request)
            seconds = body.get("seconds", 60)
            hooks.store.late.configure(
                int(body.get("hold_next") or 0), None if seconds is None else float(seconds)
            )
        return JSONResponse(hooks.store.late.status())

    async def late_commit_now(_: Request) -> Response:
        released = hooks.store.late.release_due(everything=True)
        return JSONResponse({"committed": released, **hooks.store.late.status()})

    async def not_found(request: Request) -> Response:
        return error_response(
            EpicorError(
                404,
                f"No route for {request.url.path}.",
                "Epicor.RESTApi.ErrorHandling.ApiException",
            )
        )

    def control(
        fn: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """Control routes answer bad input with a 400 Epicor body, never a bare 500."""

        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except EpicorError as err:
                return error_response(err)
            except (ValueError, TypeError, KeyError) as exc:
                return error_response(EpicorError(400, f"Bad control request: {exc}."))

        return wrapped

    routes = [
        Route("/_sandbox/health", control(health)),
        Route("/_sandbox/faults", control(faults), methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/tokens/expire", control(expire_tokens), methods=["POST"]),
        Route("/_sandbox/counters", control(counters), methods=["GET", "DELETE"]),
        Route("/_sandbox/activity", control(activity), methods=["POST"]),
        Route("/_sandbox/activity/auto", control(activity_auto), methods=["POST", "DELETE"]),
        Route("/_sandbox/truth/{stream}", control(truth)),
        Route("/_sandbox/late-commits", control(late_commits), methods=["GET", "POST"]),
        Route("/_sandbox/late-commits/commit", control(late_commit_now), methods=["POST"]),
        Route("/connect/token", connect_token, methods=["POST"]),
        Route("/{instance}/TokenResource.svc", token_resource, methods=["POST"]),
        Route("/{instance}/TokenResource.svc/", token_resource, methods=["POST"]),
        Route(
            "/{instance}/api/v2/odata/{company}/{rest:path}",
            v2,
            methods=["GET", "POST", "PATCH", "DELETE"],
        ),
        Route("/{rest:path}", not_found, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
    ]
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False
    return app


def _route_name(emu: Emulator, segments: list[str]) -> str:
    """Counter key: `Erp.BO.APInvoiceSvc/APInvoices`, `Erp.BO.POSvc/POes/PODetails`, ...

    A keyed navigation (`POes(...)/PODetails`) is its own key, so tests can tell it apart.
    """
    service = segments[0]
    if service == "BaqSvc":
        return "BaqSvc/" + (segments[1] if len(segments) > 1 else "")
    canonical = emu.canonical_service(service)
    target = segments[1].partition("(")[0] if len(segments) > 1 else ""
    if target and len(segments) > 2 and segments[2] and "(" in segments[1]:
        target += "/" + segments[2]
    return f"{canonical}/{target}" if target else canonical


def _service_document(emu: Emulator, service: str, base: str) -> dict[str, Any]:
    sets = [e.entity_set for e in emu.entities.values() if e.service.lower() == service.lower()]
    return {
        "@odata.context": f"{base}/$metadata",
        "value": [{"name": s, "kind": "EntitySet", "url": s} for s in sets],
    }


def _collection_response(page: dict[str, Any]) -> Response:
    head = '{"@odata.context":' + json.dumps(page["context"])
    if "count" in page:
        head += f',"@odata.count":{page["count"]}'
    body = head + ',"value":[' + ",".join(page["rows"]) + "]}"
    return Response(body, media_type=JSON)


async def _form(request: Request) -> dict[str, str]:
    """URL-encoded form body (parsed here: python-multipart is not a dependency)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


async def _json_body(request: Request) -> dict[str, Any]:
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


__all__ = ["STREAMS", "build_app", "error_response"]
