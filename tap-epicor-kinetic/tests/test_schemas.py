"""Point 2: bundled curated schemas, `$select` exactly those, UD fields, offline discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from tap_epicor_kinetic import odata
from tap_epicor_kinetic.tap import TapEpicorKinetic

HEADER_STREAMS = {
    "gl_account_categories": ("Erp.BO.COAActCatSvc", "COAActCats"),
    "coa_segment_values": ("Erp.BO.COASegValuesSvc", "COASegValues"),
    "gl_accounts": ("Erp.BO.GLAccountSvc", "GLAccounts"),
    "vendors": ("Erp.BO.VendorSvc", "Vendors"),
    "parts": ("Erp.BO.PartSvc", "Parts"),
    "purchase_orders": ("Erp.BO.POSvc", "POes"),
    "ap_invoices": ("Erp.BO.APInvoiceSvc", "APInvoices"),
    "ap_payments": ("Erp.BO.PaymentEntrySvc", "PaymentEntries"),
}
CHILD_STREAMS = {
    "purchase_order_lines": ("purchase_orders", "PODetails"),
    "ap_invoice_lines": ("ap_invoices", "APInvDtls"),
    "ap_invoice_gl_allocations": ("ap_invoice_lines", "APInvExps"),
    "ap_invoice_taxes": ("ap_invoices", "APInvTaxes"),
    "ap_invoice_misc_charges": ("ap_invoices", "APIHAPInvMscs"),
    "ap_invoice_header_allocations": ("ap_invoices", "APIHAPInvExps"),
    "ap_payment_lines": ("ap_payments", "APTrans"),
}
RENAMED = {("gl_accounts", "GLAccount"): "GLAccount1", ("purchase_order_lines", "PONum"): "PONUM"}


def _odata(stream: str, field: str) -> str:
    return RENAMED.get((stream, field), field)


def _metadata(sandbox: Any, service: str) -> odata.ServiceMetadata:
    response = sandbox.session().get(sandbox.odata_url(service, "$metadata"), timeout=60)
    response.raise_for_status()
    return odata.parse_metadata(response.content)


def _entity(sandbox: Any, stream: str) -> odata.EntityType:
    if stream in HEADER_STREAMS:
        service, entity_set = HEADER_STREAMS[stream]
        entity = _metadata(sandbox, service).entity_set_type(entity_set)
    else:
        parent, navigation = CHILD_STREAMS[stream]
        service = HEADER_STREAMS.get(parent, HEADER_STREAMS["ap_invoices"])[0]
        meta = _metadata(sandbox, service)
        entity = meta.navigation_type(_entity(sandbox, parent), navigation)
    assert entity is not None, stream
    return entity


def test_schemas_are_curated_described_and_match_the_instance_metadata(
    epicor_sandbox_updated_on: Any,
) -> None:
    tap = TapEpicorKinetic(config={}, parse_env_config=False, validate_config=False)
    for name, stream in tap.streams.items():
        properties = stream.schema["properties"]
        if name in HEADER_STREAMS:
            assert len(properties) >= 20, name
        assert all(p.get("description") for p in properties.values()), name
        entity = _entity(epicor_sandbox_updated_on, name)
        for field, prop in properties.items():
            if field == "_sdc_deleted_at":
                # Not an Epicor column: set on tombstones of deleted rows.
                assert prop["format"] == "date-time"
                continue
            column = entity.properties.get(_odata(name, field))
            assert column is not None, f"{name}.{field} is not in $metadata"
            if column.edm_type == "Edm.Decimal":
                # Exact decimals: string-or-number text, NUMBER(p,s) in the target.
                assert prop["format"] == "x-singer.decimal", f"{name}.{field}"
                assert (prop["precision"], prop["scale"]) == (column.precision, column.scale), (
                    f"{name}.{field}"
                )
            elif column.edm_type.startswith("Edm.Int"):
                assert "integer" in prop["type"], f"{name}.{field}"
            elif column.edm_type == "Edm.Boolean":
                assert "boolean" in prop["type"], f"{name}.{field}"
            else:
                assert "string" in prop["type"], f"{name}.{field}"
            assert not field.endswith("_c"), "UD fields only with include_ud_fields"


def test_requests_select_exactly_the_schema_columns(
    epicor_sandbox_updated_on: Any, tap_runner: Any
) -> None:
    seen: dict[str, dict[str, list[str]]] = {}

    def record(response: requests.Response) -> None:
        parts = urlsplit(response.request.url or "")
        assert "%24" not in parts.query, "OData options must keep a literal $"
        query = parse_qs(unquote(parts.query))
        if "$expand" in query or ("$select" in query and "desc" not in query["$orderby"][0]):
            seen[parts.path.rsplit("/", 1)[-1]] = dict(query)

    config = epicor_sandbox_updated_on.tap_config()
    result = tap_runner.sync(config, on_response=record)
    tap = TapEpicorKinetic(config=config, parse_env_config=False)
    for name, (_, entity_set) in HEADER_STREAMS.items():
        stream = tap.streams[name]
        # The curated columns: the other columns $metadata lists are requested only if selected.
        schema_columns = [
            _odata(name, f)
            for f in stream.schema["properties"]
            if f != "_sdc_deleted_at" and f not in stream.extra_fields
        ]
        assert seen[entity_set]["$select"][0].split(",") == schema_columns, name
        assert seen[entity_set]["$top"] == ["100"]
        assert set(result.records[name][0]) == set(schema_columns) - {"GLAccount1"} | (
            {"GLAccount"} if name == "gl_accounts" else set()
        )
    expand = seen["APInvoices"]["$expand"][0]

    def fields(name: str) -> str:
        stream = tap.streams[name]
        props = stream.schema["properties"]
        return ",".join(f for f in props if f not in {"_sdc_deleted_at", *stream.extra_fields})

    lines = fields("ap_invoice_lines")
    allocations = fields("ap_invoice_gl_allocations")
    header_level = ",".join(
        f"{entity_set}($select={fields(name)})"
        for name, entity_set in (
            ("ap_invoice_taxes", "APInvTaxes"),
            ("ap_invoice_misc_charges", "APIHAPInvMscs"),
            ("ap_invoice_header_allocations", "APIHAPInvExps"),
        )
    )
    assert expand == (
        f"APInvDtls($select={lines};$expand=APInvExps($select={allocations})),{header_level}"
    )


def test_deselected_fields_are_neither_requested_nor_emitted(
    small_sandbox: Any, tap_runner: Any
) -> None:
    config = small_sandbox.tap_config()
    catalog = tap_runner.select_only(config, {"ap_invoices", "ap_invoice_lines"})
    dropped = {"ap_invoices": "InvoiceAmt", "ap_invoice_lines": "ExtCost"}
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == ["properties", dropped.get(entry["tap_stream_id"])]:
                meta["metadata"]["selected"] = False
    selects: list[str] = []

    def record(response: requests.Response) -> None:
        query = parse_qs(unquote(urlsplit(response.request.url or "").query))
        selects.extend(query.get("$select", []) + query.get("$expand", []))

    result = tap_runner.sync(config, catalog=catalog, on_response=record)
    assert result.counts()["ap_invoices"] == len(small_sandbox.truth("ap_invoices"))
    for stream, field in dropped.items():
        records = result.records[stream]
        assert records, stream
        assert all(field not in r for r in records), f"{stream}.{field} was emitted"
        assert all("Company" in r and "InvoiceNum" in r for r in records), "keys always kept"
        assert not any(field in s.split(",") for s in selects), f"{field} was requested"
        assert field not in result.schemas[stream]["schema"]["properties"]
    # The replication key (SysRevID on stock Kinetic) stays, so the bookmark moves.
    assert all(r["SysRevID"] for r in result.records["ap_invoices"])
    assert result.state["bookmarks"]["ap_invoices"]["partitions"][0]["replication_key_value"]


def test_stream_maps_apply_to_every_record(small_sandbox: Any, tap_runner: Any) -> None:
    config = {
        **small_sandbox.tap_config(),
        "stream_maps": {
            "vendors": {"Name": "__NULL__", "vendor_label": "VendorID + ' / ' + Name"},
        },
    }
    catalog = tap_runner.select_only(config, {"vendors"})
    result = tap_runner.sync(config, catalog=catalog)
    truth = {row["VendorNum"]: row for row in small_sandbox.truth("vendors")}
    assert len(result.records["vendors"]) == len(truth)
    for record in result.records["vendors"]:
        source = truth[record["VendorNum"]]
        assert "Name" not in record
        assert record["vendor_label"] == f"{source['VendorID']} / {source['Name']}"


def test_include_ud_fields_adds_the_instance_user_defined_columns(
    epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config(include_ud_fields=True)
    catalog = tap_runner.select_only(config, {"vendors", "ap_invoices", "gl_accounts"})
    result = tap_runner.sync(config, catalog=catalog)

    invoice_schema = result.schemas["ap_invoices"]["schema"]["properties"]
    assert invoice_schema["ApprovedAmt_c"]["format"] == "x-singer.decimal"
    assert invoice_schema["ApprovedAmt_c"]["scale"] == 3
    assert "BudgetCode_c" in invoice_schema
    truth = {(r["VendorNum"], r["InvoiceNum"]): r for r in epicor_sandbox.truth("ap_invoices")}
    for record in result.records["ap_invoices"]:
        source = truth[(record["VendorNum"], record["InvoiceNum"])]
        assert record["BudgetCode_c"] == source["BudgetCode_c"]
        assert record["ApprovedAmt_c"] is not None
    # SCHEMA messages keep every decimal's precision and scale (the target makes NUMBER(p,s)).
    assert invoice_schema["DocInvoiceAmt"]["precision"] == 18
    assert all("VendorTier_c" in r for r in result.records["vendors"])
    assert all("BudgetSegCode_c" in r for r in result.records["gl_accounts"])

    plain_config = epicor_sandbox.tap_config()
    plain_catalog = tap_runner.select_only(plain_config, {"ap_invoices"})
    plain = tap_runner.sync(plain_config, catalog=plain_catalog)
    assert not [f for f in plain.records["ap_invoices"][0] if f.endswith("_c")]


def test_discover_works_offline_without_base_url(tmp_path: Path, tap_runner: Any) -> None:
    run = tap_runner.run_cli(tmp_path, {}, "--discover")
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    assert sorted(s["tap_stream_id"] for s in catalog["streams"]) == sorted(
        [*HEADER_STREAMS, *CHILD_STREAMS]
    )
    invoices = next(s for s in catalog["streams"] if s["tap_stream_id"] == "ap_invoices")
    assert invoices["key_properties"] == ["Company", "VendorNum", "InvoiceNum"]
    assert invoices["schema"]["properties"]["DocInvoiceAmt"]["precision"] == 18
