"""REST v2 routes: OData reads, BO methods and writes (through hooks), faults on data requests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from finance_sandbox.epicor.emulator import INSTANCE, Emulator
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.hooks import Hooks
from finance_sandbox.epicor.responses import JSON, guarded

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


class ODataRoutes:
    """`/{instance}/api/v2/odata/{company}/...` of one emulator."""

    def __init__(self, emu: Emulator, hooks: Hooks) -> None:
        """`hooks` provides writes, activity, BAQ and $metadata."""
        self.emu = emu
        self.hooks = hooks

    def routes(self) -> list[Route]:
        """The one REST v2 route (every service, set and method goes through `v2`)."""
        return [
            Route(
                "/{instance}/api/v2/odata/{company}/{rest:path}",
                self.v2,
                methods=["GET", "POST", "PATCH", "DELETE"],
            )
        ]

    async def v2(self, request: Request) -> Response:
        """A data request: faults first, then auth, company, and the service's answer."""
        segments = request.path_params["rest"].split("/")
        route = _route_name(self.emu, segments)
        resp = await guarded(self.emu, route, lambda: self._handle(request, segments))
        if resp.status_code < 500:
            self.hooks.after_data_request()
        return resp

    async def _handle(self, request: Request, segments: list[str]) -> Response:
        emu = self.emu
        instance = request.path_params["instance"]
        company = request.path_params["company"]
        service = segments[0]
        self.hooks.release_due()
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
        base = f"{str(request.base_url).rstrip('/')}/{INSTANCE}/api/v2/odata/{company}/{service}"
        resp = await self._dispatch(
            request, company, service, segments[1:], params=params, base=base
        )
        if bad_body == "truncated":
            return truncated(resp)
        return resp

    async def _dispatch(
        self,
        request: Request,
        company: str,
        service: str,
        segments: list[str],
        *,
        params: dict[str, str],
        base: str,
    ) -> Response:
        emu, hooks = self.emu, self.hooks
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
