"""Glue between the routes and the write side: BO methods, activity, BAQ and $metadata."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from finance_sandbox.epicor import ap_charges, baq
from finance_sandbox.epicor.ap_invoices import APInvoices
from finance_sandbox.epicor.emulator import Emulator
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.metadata import csdl
from finance_sandbox.epicor.odata import parse_query
from finance_sandbox.epicor.payments import Payments
from finance_sandbox.epicor.purchase_orders import PurchaseOrders
from finance_sandbox.epicor.rows import Fetcher
from finance_sandbox.epicor.simulator import COUNT_KEYS, Simulator
from finance_sandbox.epicor.store import Store, dumps_exact

JSON = "application/json; charset=utf-8"
AP_METHODS = {
    "GetNewAPInvHedInvoice": "POST",
    "GetNewAPInvDtlMiscellaneous": "POST",
    "GetNewHdrCharge": "POST",
    "Update": "POST",
    "UpdateMaster": "POST",
    "GetByID": "GET",
}


class Hooks:
    """Owns the write-side objects of one emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.store = Store(
            emu.conn, emu.tz, emu.entities, rewrite_headers=emu.settings.rewrite_headers
        )
        self.invoices = APInvoices(self.store)
        self.pos = PurchaseOrders(self.store)
        self.payments = Payments(self.store, self.invoices)
        self.simulator = Simulator(emu.settings.seed, self.invoices, self.pos, self.payments)
        self.auto: dict[str, Any] | None = None
        self.auto_seen = 0
        baq.install(emu.conn)

    def release_due(self) -> None:
        """Late commits whose time has come become visible before the next read."""
        self.store.late.release_due()

    # -- BO methods ------------------------------------------------------------------------

    def is_method(self, service: str, name: str) -> bool:
        return service.lower() == "erp.bo.apinvoicesvc" and name in AP_METHODS

    async def method(
        self, request: Request, company: str, service: str, name: str, params: dict[str, str]
    ) -> Response:
        if not self.is_method(service, name):
            raise EpicorError(
                404,
                f"Method '{name}' was not found on service '{service}'.",
                "Epicor.RESTApi.ErrorHandling.ApiException",
            )
        if request.method != AP_METHODS[name]:
            raise EpicorError(405, f"{name} must be called with {AP_METHODS[name]}.")
        if name == "GetByID":
            result = self.invoices.get_by_id(company, dict(params))
        else:
            raw = await request.body()
            try:
                body = json.loads(raw or b"{}", parse_float=Decimal)
            except ValueError as exc:
                raise EpicorError(400, f"The request body is not valid JSON: {exc}.") from exc
            if not isinstance(body, dict):
                raise EpicorError(400, "The request body must be a JSON object of parameters.")
            if name == "GetNewAPInvHedInvoice":
                result = self.invoices.get_new_header(company, body)
            elif name == "GetNewAPInvDtlMiscellaneous":
                result = self.invoices.get_new_misc_line(company, body)
            elif name == "GetNewHdrCharge":
                result = ap_charges.get_new(self.invoices, company, body)
            else:
                result = self.invoices.update(company, body, master=name == "UpdateMaster")
        return Response(dumps_exact(result), media_type=JSON)

    # -- $metadata and BAQ -----------------------------------------------------------------

    def metadata(self, service: str) -> Response:
        """CSDL of every entity set of the service (child sets too, as Epicor's Swagger lists)."""
        ents = [e for e in self.emu.entities.values() if e.service.lower() == service.lower()]
        xml = csdl(self.emu.canonical_service(service), ents, self.emu.entities)
        return Response(xml, media_type="application/xml")

    async def baq(
        self, request: Request, company: str, segments: list[str], params: dict[str, str], base: str
    ) -> Response:
        if not segments or segments[0] != baq.BAQ_ID:
            name = segments[0] if segments else ""
            raise EpicorError(
                404,
                f"BAQ '{name}' was not found. Available: {baq.BAQ_ID}.",
                "Epicor.RESTApi.ErrorHandling.ApiException",
            )
        ent = baq.entity(self.emu.settings.stock_kinetic)
        root = f"{base}/{baq.BAQ_ID}"
        rest = segments[1] if len(segments) > 1 else ""
        if rest == "":
            body = {
                "@odata.context": f"{root}/$metadata",
                "value": [{"name": "Data", "kind": "EntitySet", "url": "Data"}],
            }
            return Response(json.dumps(body), media_type=JSON)
        if rest == "$metadata":
            return Response(
                csdl(f"BaqSvc.{baq.BAQ_ID}", [ent], {ent.table: ent}), media_type="application/xml"
            )
        if rest != "Data":
            raise EpicorError(404, f"Resource '{rest}' was not found on BAQ {baq.BAQ_ID}.")
        baq.set_as_of(params.get("AsOfDate"), datetime.now(self.emu.tz).date())
        options = {k: v for k, v in params.items() if k.startswith("$")}
        q = parse_query(options, ent, self.emu.tz, self.emu.settings.stock_kinetic)
        rows = Fetcher(self.emu.conn, company).page(ent, q, self.emu.limit(q.top))
        head = '{"@odata.context":' + json.dumps(f"{root}/$metadata#Results")
        if q.count:
            head += f',"@odata.count":{self.emu.count(company, ent, q.where, q.params)}'
        return Response(head + ',"value":[' + ",".join(rows) + "]}", media_type=JSON)

    # -- activity ----------------------------------------------------------------------------

    def activity_once(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.simulator.run(body)

    def auto_start(self, body: dict[str, Any]) -> dict[str, Any]:
        every = int(body.get("every_requests") or 0)
        if every <= 0:
            raise EpicorError(400, "every_requests must be a positive number of data requests.")
        self.auto = {"every_requests": every, **{k: int(body.get(k) or 0) for k in COUNT_KEYS}}
        self.auto["company"] = str(body.get("company") or "EPIC06")
        if "late_seconds" in body:
            self.auto["late_seconds"] = body["late_seconds"]
        self.auto_seen = 0
        return self.auto

    def auto_stop(self) -> None:
        self.auto = None

    def after_data_request(self) -> None:
        """Run the simulator after every k-th data request (so the next page sees the change)."""
        if self.auto is None:
            return
        self.auto_seen += 1
        if self.auto_seen % int(self.auto["every_requests"]) == 0:
            self.simulator.run(self.auto)
