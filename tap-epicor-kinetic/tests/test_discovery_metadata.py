"""Every column Epicor serves can be selected: listed from `$metadata`, requested when chosen."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import yaml
from tap_epicor_kinetic import odata
from tap_epicor_kinetic.schema import bundled_schema

AP = "Erp.BO.APInvoiceSvc"
HEADER_EXTRAS = ("ApprovedAmt_c", "TermsCodeDescription")  # decimal(18,3) and string
LINE_EXTRA = "PartNumPartDescription"


def _entries(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["tap_stream_id"]: entry for entry in catalog["streams"]}


def _field_metadata(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        m["breadcrumb"][1]: m["metadata"] for m in entry["metadata"] if len(m["breadcrumb"]) == 2
    }


def _discover(tmp_path: Path, config: dict[str, Any], tap_runner: Any) -> dict[str, Any]:
    run = tap_runner.run_cli(tmp_path, config, "--discover")
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def _served(sandbox: Any, service: str) -> odata.ServiceMetadata:
    response = sandbox.session().get(sandbox.odata_url(service, "$metadata"), timeout=60)
    response.raise_for_status()
    return odata.parse_metadata(response.content)


def test_discover_lists_every_served_column_and_selects_the_curated_ones(
    epicor_sandbox: Any, tmp_path: Path, tap_runner: Any
) -> None:
    epicor_sandbox.reset_counters()
    catalog = _entries(_discover(tmp_path, epicor_sandbox.tap_config(), tap_runner))
    offline = _entries(_discover(tmp_path, {}, tap_runner))
    # One $metadata request per service, however many streams it serves.
    by_route = epicor_sandbox.counters()["by_route"]
    metadata_requests = {r: sum(s.values()) for r, s in by_route.items() if "$metadata" in r}
    assert metadata_requests
    assert set(metadata_requests.values()) == {1}, metadata_requests

    served = _served(epicor_sandbox, AP)
    header = served.entity_set_type("APInvoices")
    assert header is not None
    invoices = catalog["ap_invoices"]
    properties = invoices["schema"]["properties"]
    assert set(properties) == set(header.properties) | {"_sdc_deleted_at"}
    assert len(properties) > 500
    curated = set(offline["ap_invoices"]["schema"]["properties"])
    assert len(curated) == 44
    metadata = _field_metadata(invoices)
    for field, meta in metadata.items():
        if field in ("Company", "VendorNum", "InvoiceNum", "SysRevID"):
            assert meta["inclusion"] == "automatic", field
        elif field in curated:
            assert meta == {"inclusion": "available", "selected-by-default": True}, field
        else:
            assert meta == {"inclusion": "available", "selected-by-default": False}, field
    # Types, precision and scale as $metadata declares them; UD columns included.
    assert properties["ApprovedAmt_c"]["format"] == "x-singer.decimal"
    assert (properties["ApprovedAmt_c"]["precision"], properties["ApprovedAmt_c"]["scale"]) == (
        18,
        3,
    )
    assert properties["Character01"]["type"] == ["string", "null"]
    assert properties["ShortChar01"]["type"] == ["string", "null"]
    assert properties["DocTaxAmt"]["scale"] == 3
    # Children list their columns too; a renamed column is listed once, under its emitted name.
    lines = catalog["ap_invoice_lines"]["schema"]["properties"]
    assert {"Character01", LINE_EXTRA} <= set(lines)
    assert _field_metadata(catalog["ap_invoice_lines"])[LINE_EXTRA]["selected-by-default"] is False
    gl_accounts = catalog["gl_accounts"]["schema"]["properties"]
    assert "GLAccount" in gl_accounts
    assert "GLAccount1" not in gl_accounts
    assert "PONUM" not in catalog["purchase_order_lines"]["schema"]["properties"]


def test_sync_extracts_selected_extra_columns_exactly(
    epicor_sandbox: Any, tmp_path: Path, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config()
    catalog = _discover(tmp_path, config, tap_runner)
    chosen = {"ap_invoices": set(HEADER_EXTRAS), "ap_invoice_lines": {LINE_EXTRA}}
    for entry in catalog["streams"]:
        name = entry["tap_stream_id"]
        for meta in entry["metadata"]:
            breadcrumb = meta["breadcrumb"]
            if not breadcrumb:
                meta["metadata"]["selected"] = name in chosen
            elif breadcrumb[1] in chosen.get(name, ()):
                meta["metadata"]["selected"] = True
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))

    run = tap_runner.run_cli(tmp_path, config, "--catalog", str(catalog_file))
    assert run.returncode == 0, run.stderr
    result = tap_runner.SyncResult.parse(run.stdout)
    offline = _entries(_discover(tmp_path, {}, tap_runner))

    for name, extras in chosen.items():
        curated = set(offline[name]["schema"]["properties"]) - {"_sdc_deleted_at"}
        schema = result.schemas[name]["schema"]["properties"]
        assert set(schema) - {"_sdc_deleted_at"} == curated | extras, name
        assert result.records[name], name
        for record in result.records[name]:
            assert set(record) == curated | extras, name
    amount = result.schemas["ap_invoices"]["schema"]["properties"]["ApprovedAmt_c"]
    assert (amount["format"], amount["precision"], amount["scale"]) == ("x-singer.decimal", 18, 3)

    truth = {(r["VendorNum"], r["InvoiceNum"]): r for r in epicor_sandbox.truth("ap_invoices")}
    assert len(result.records["ap_invoices"]) == len(truth)
    for record in result.records["ap_invoices"]:
        source = truth[(record["VendorNum"], record["InvoiceNum"])]
        assert record["TermsCodeDescription"] == source["TermsCodeDescription"]
        # Exact decimal text, equal to what Epicor holds.
        assert Decimal(record["ApprovedAmt_c"]) == Decimal(str(source["ApprovedAmt_c"]))
    assert any(r["TermsCodeDescription"] for r in result.records["ap_invoices"])
    assert any(Decimal(r["ApprovedAmt_c"]) != 0 for r in result.records["ap_invoices"])
    line_truth = {
        (r["VendorNum"], r["InvoiceNum"], r["InvoiceLine"]): r
        for r in epicor_sandbox.truth("ap_invoice_lines")
    }
    assert len(result.records["ap_invoice_lines"]) == len(line_truth)
    for record in result.records["ap_invoice_lines"]:
        source = line_truth[(record["VendorNum"], record["InvoiceNum"], record["InvoiceLine"])]
        assert record[LINE_EXTRA] == source[LINE_EXTRA]
    assert any(r[LINE_EXTRA] for r in result.records["ap_invoice_lines"])


def test_only_selected_columns_are_requested(epicor_sandbox: Any, tap_runner: Any) -> None:
    config = epicor_sandbox.tap_config()
    catalog = tap_runner.select_only(config, {"ap_invoices", "ap_invoice_lines"})
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == ["properties", "Character01"]:
                # Either way of choosing a column in a Singer catalog.
                if entry["tap_stream_id"] == "ap_invoices":
                    meta["metadata"]["selected"] = True
                else:
                    meta["metadata"]["selected-by-default"] = True
    selects: list[dict[str, list[str]]] = []

    def record(response: requests.Response) -> None:
        query = parse_qs(unquote(urlsplit(response.request.url or "").query))
        if "$expand" in query:
            selects.append(query)

    result = tap_runner.sync(config, catalog=catalog, on_response=record)
    assert selects
    header = selects[0]["$select"][0].split(",")
    assert set(header) - set(bundled_schema("ap_invoices")["properties"]) == {"Character01"}
    lines_select = selects[0]["$expand"][0].split(";")[0].removeprefix("APInvDtls($select=")
    lines = lines_select.rstrip(")").split(",")
    assert set(lines) - set(bundled_schema("ap_invoice_lines")["properties"]) == {"Character01"}
    assert all("Character01" in r for r in result.records["ap_invoices"])
    assert all(r["Character01"] == "" for r in result.records["ap_invoice_lines"])


def _meltano_select() -> list[str]:
    """The tap's default `select` in meltano.yml (the Hub definition carries the same list)."""
    project = yaml.safe_load((Path(__file__).parents[2] / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-epicor-kinetic")
    return list(tap["select"])


def test_meltano_default_select_keeps_the_curated_columns_and_ud_fields(
    epicor_sandbox: Any, tmp_path: Path, tap_runner: Any
) -> None:
    # What Meltano does with a select list: every stream and property `selected: false`, then
    # `true` where a pattern names it (keys and replication keys are automatic either way).
    config = epicor_sandbox.tap_config(include_ud_fields=True)
    catalog = _discover(tmp_path, config, tap_runner)
    patterns = set(_meltano_select())
    for entry in catalog["streams"]:
        name = entry["tap_stream_id"]
        for meta in entry["metadata"]:
            breadcrumb = meta["breadcrumb"]
            wanted = name in {"ap_invoices", "vendors"}
            if breadcrumb:
                wanted = wanted and f"{name}.{breadcrumb[1]}" in patterns
            meta["metadata"]["selected"] = wanted
    invoices = _field_metadata(_entries(catalog)["ap_invoices"])
    assert invoices["BudgetCode_c"]["inclusion"] == "automatic"  # include_ud_fields: always
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))

    run = tap_runner.run_cli(tmp_path, config, "--catalog", str(catalog_file))
    assert run.returncode == 0, run.stderr
    result = tap_runner.SyncResult.parse(run.stdout)
    for name in ("ap_invoices", "vendors"):
        listed = _entries(catalog)[name]["schema"]["properties"]
        ud = {field for field in listed if field.endswith("_c")}
        assert ud, name
        curated = set(bundled_schema(name)["properties"]) - {"_sdc_deleted_at"}
        assert result.records[name], name
        for record in result.records[name]:
            assert set(record) == curated | ud, name


def test_a_sync_reads_metadata_of_the_selected_services_only(
    small_sandbox: Any, tap_runner: Any
) -> None:
    # Found by the fault suite: a broken $metadata answer of a service nobody selected failed a
    # vendors-only run before it read a vendor.
    config = small_sandbox.tap_config()
    catalog = tap_runner.select_only(config, {"vendors"})
    small_sandbox.reset_counters()
    result = tap_runner.sync(config, catalog=catalog)
    assert result.counts().keys() == {"vendors"}
    routes = small_sandbox.counters()["by_route"]
    assert [r for r in routes if "$metadata" in r] == ["Erp.BO.VendorSvc/$metadata"], routes
