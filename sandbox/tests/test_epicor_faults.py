"""Fault switches and request counters of the Epicor emulator, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from finance_sandbox.testing.epicor import EpicorSandbox

VENDORS = ("Erp.BO.VendorSvc", "Vendors")


@pytest.fixture
def sb(epicor_sandbox: EpicorSandbox) -> Iterator[EpicorSandbox]:
    """The shared emulator with clean faults and counters before and after each test."""
    epicor_sandbox.clear_faults()
    epicor_sandbox.reset_counters()
    yield epicor_sandbox
    epicor_sandbox.clear_faults()


def vendors(sb: EpicorSandbox) -> requests.Response:
    with sb.session() as s:
        return s.get(
            sb.odata_url(*VENDORS), params={"$top": "1", "$select": "VendorNum"}, timeout=30
        )


def test_rate_limit_next_answers_429_with_retry_after(sb: EpicorSandbox) -> None:
    sb.faults(rate_limit_next=2, retry_after=7)
    first, second, third = vendors(sb), vendors(sb), vendors(sb)
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "7"
    assert first.json()["HttpStatus"] == 429


def test_error_next_answers_500(sb: EpicorSandbox) -> None:
    sb.faults(error_next=1)
    resp = vendors(sb)
    assert resp.status_code == 500
    assert resp.json()["ErrorMessage"]
    assert vendors(sb).status_code == 200


def test_license_exhausted_next_is_a_400_license_access_exception(sb: EpicorSandbox) -> None:
    sb.faults(license_exhausted_next=1)
    resp = vendors(sb)
    assert resp.status_code == 400
    assert "LicenseAccessException" in resp.text
    assert "Maximum users exceeded" in resp.json()["ErrorMessage"]
    assert vendors(sb).status_code == 200


def test_error_rate_one_fails_every_request_and_zero_none(sb: EpicorSandbox) -> None:
    sb.faults(error_rate=1.0)
    assert {vendors(sb).status_code for _ in range(5)} == {503}
    sb.faults(error_rate=0.0)
    assert {vendors(sb).status_code for _ in range(5)} == {200}


def test_latency_is_added_to_data_requests(sb: EpicorSandbox) -> None:
    sb.faults(latency_ms=300)
    resp = vendors(sb)
    assert resp.status_code == 200
    assert resp.elapsed.total_seconds() >= 0.3
    assert sb.faults()["latency_ms"] == 300


def test_page_cap_can_change_at_run_time(sb: EpicorSandbox) -> None:
    sb.faults(page_cap=5)
    with sb.session() as s:
        page = s.get(sb.odata_url(*VENDORS), params={"$top": "50"}, timeout=30).json()["value"]
    assert len(page) == 5
    sb.clear_faults()
    assert sb.faults()["page_cap"] == 100


def test_counters_count_per_route_and_status(sb: EpicorSandbox) -> None:
    sb.faults(rate_limit_next=1)
    vendors(sb)
    vendors(sb)
    with sb.session() as s:
        s.get(sb.odata_url("Erp.BO.APInvoiceSvc", "APInvoices"), params={"$top": "1"}, timeout=30)
    requests.post(
        f"{sb.base_url}/TokenResource.svc/",
        headers={"username": "integration", "password": "sandbox-password"},
        timeout=10,
    )
    counters = sb.counters()
    assert counters["by_route"]["Erp.BO.VendorSvc/Vendors"] == {"429": 1, "200": 1}
    assert counters["by_route"]["Erp.BO.APInvoiceSvc/APInvoices"] == {"200": 1}
    assert counters["by_route"]["TokenResource.svc"] == {"200": 1}
    assert counters["total"] == 4
    sb.reset_counters()
    assert sb.counters() == {"total": 0, "by_route": {}}


def test_cli_flags_set_faults_at_start(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(error_rate=1.0, latency_ms=10, invoices=50)
    assert vendors(sb).status_code == 503
    assert sb.faults()["latency_ms"] == 10


def test_killed_emulator_refuses_connections(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(invoices=50)
    assert vendors(sb).status_code == 200
    sb.kill()
    with pytest.raises(requests.ConnectionError):
        vendors(sb)


def test_bad_control_request_is_a_400_with_epicor_body(sb: EpicorSandbox) -> None:
    resp = requests.post(f"{sb.control_url}/faults", json={"error_next": "many"}, timeout=10)
    assert resp.status_code == 400
    assert "error_next" in resp.json()["ErrorMessage"] or "many" in resp.json()["ErrorMessage"]
    unknown = requests.get(f"{sb.control_url}/truth/no_such_stream", timeout=10)
    assert unknown.status_code == 404
    assert "ap_invoices" in unknown.json()["ErrorMessage"]
