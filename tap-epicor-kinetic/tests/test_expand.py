"""An expanded collection a server may have cut short is read again in full, never sent short."""

from __future__ import annotations

import re
from typing import Any

BIG_PO = 9_000_001
PO_STREAMS = {"purchase_orders", "purchase_order_lines"}


def _po_lines(result: Any, po: int) -> list[dict[str, Any]]:
    return [r for r in result.records["purchase_order_lines"] if r["PONum"] == po]


def test_a_capped_expand_still_delivers_every_line(
    epicor_sandbox_factory: Any, tap_runner: Any
) -> None:
    sandbox = epicor_sandbox_factory(invoices=40, big_po_lines=150, expand_cap=100)
    config = sandbox.tap_config()
    result = tap_runner.sync(config, catalog=tap_runner.select_only(config, PO_STREAMS))
    lines = _po_lines(result, BIG_PO)
    assert sorted(r["POLine"] for r in lines) == list(range(1, 151))
    assert len(result.records["purchase_order_lines"]) == len(sandbox.truth("purchase_order_lines"))
    # The PO was re-read through POes(...)/PODetails; no other PO comes near 100 lines.
    assert tap_runner.data_requests(sandbox.counters(), "POes/PODetails") >= 2


def test_ordinary_documents_cost_no_extra_request(epicor_sandbox: Any, tap_runner: Any) -> None:
    epicor_sandbox.reset_counters()
    result = tap_runner.sync(epicor_sandbox.tap_config())
    assert result.records["ap_invoice_gl_allocations"]
    routes = epicor_sandbox.counters()["by_route"]
    # `Service/Set/Navigation`: a keyed re-read of one document's children.
    assert [r for r in routes if r.count("/") >= 2] == [], routes


INVOICE_STREAMS = {"ap_invoices", "ap_invoice_lines", "ap_invoice_gl_allocations"}


def test_nested_expands_are_completed_level_by_level(
    epicor_sandbox_factory: Any, tap_runner: Any, monkeypatch: Any
) -> None:
    # A cap of 2 with the tap suspecting 2 rows: the same mechanism as a cap of 100, but every
    # invoice with 2+ lines and every line with 2+ allocations is cut and must be re-read.
    from tap_epicor_kinetic import children

    monkeypatch.setattr(children, "EXPAND_SUSPECT_ROWS", 2)
    sandbox = epicor_sandbox_factory(invoices=40, expand_cap=2)
    config = sandbox.tap_config()
    result = tap_runner.sync(config, catalog=tap_runner.select_only(config, INVOICE_STREAMS))
    for stream in ("ap_invoice_lines", "ap_invoice_gl_allocations"):
        truth = set(tap_runner.row_keys(stream, sandbox.truth(stream), odata=True))
        got = set(tap_runner.row_keys(stream, result.records[stream]))
        assert got == truth, stream
        assert len(result.records[stream]) == len(truth), stream
    lines_per_invoice: dict[tuple[Any, ...], int] = {}
    for r in sandbox.truth("ap_invoice_lines"):
        key = (r["VendorNum"], r["InvoiceNum"])
        lines_per_invoice[key] = lines_per_invoice.get(key, 0) + 1
    assert max(lines_per_invoice.values()) > 2  # the cap did cut collections
    routes = sandbox.counters()["by_route"]
    assert any(r.endswith("APInvoices/APInvDtls") for r in routes), routes
    assert any(r.endswith("APInvDtls/APInvExps") for r in routes), routes


def test_a_collection_that_cannot_be_completed_stops_the_run(
    epicor_sandbox_factory: Any, tap_runner: Any, tmp_path: Any
) -> None:
    import json

    from finance_sandbox.testing.hostile import Forward, HostileServer, Reply, Seen

    def respond(seen: Seen, forward: Forward) -> Reply:
        if "/PODetails?" in seen.path and "/POes(" in seen.path:
            return Reply(200, b'{"value":[]}', {"Content-Type": "application/json"})
        return forward()

    sandbox = epicor_sandbox_factory(invoices=40, big_po_lines=150, expand_cap=100)
    with HostileServer(respond, upstream=sandbox.root) as proxy:
        config = sandbox.tap_config(base_url=f"{proxy.url}/EpicorSandbox")
        catalog = tap_runner.select_only(sandbox.tap_config(), PO_STREAMS)
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        run = tap_runner.run_cli(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "Stream 'purchase_order_lines'" in last, last
    assert f"{BIG_PO}" in last, last
    assert "Traceback" not in run.stderr
    # Not one line of the document that could not be completed was sent.
    assert not re.search(r'"PONum":\s*9000001\b', run.stdout)
