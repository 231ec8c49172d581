"""Auth rules of the Epicor emulator over real HTTP: Basic/Bearer + x-api-key, tokens, expiry."""

from __future__ import annotations

import time

import pytest
import requests
from finance_sandbox.testing.epicor import EpicorSandbox

VENDORS = ("Erp.BO.VendorSvc", "Vendors")
PARAMS = {"$top": "1", "$select": "VendorNum"}


def _get(sb: EpicorSandbox, headers: dict[str, str], auth: tuple[str, str] | None = None, **kw):
    return requests.get(
        sb.odata_url(*VENDORS, **kw), params=PARAMS, headers=headers, auth=auth, timeout=10
    )


def _bearer(sb: EpicorSandbox) -> str:
    resp = requests.post(
        f"{sb.base_url}/TokenResource.svc/",
        headers={
            "username": "integration",
            "password": "sandbox-password",
            "Accept": "application/json",
        },
        timeout=10,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["TokenType"] == "Bearer"
    assert body["RefreshToken"] == ""
    return str(body["AccessToken"])


def test_basic_auth_with_api_key_is_accepted(epicor_sandbox: EpicorSandbox) -> None:
    resp = _get(
        epicor_sandbox, {"x-api-key": "sandbox-api-key"}, ("integration", "sandbox-password")
    )
    assert resp.status_code == 200
    assert resp.json()["value"] == [{"VendorNum": 1}]


def test_api_key_is_also_accepted_as_query_parameter(epicor_sandbox: EpicorSandbox) -> None:
    resp = requests.get(
        epicor_sandbox.odata_url(*VENDORS),
        params={**PARAMS, "api-key": "sandbox-api-key"},
        auth=("integration", "sandbox-password"),
        timeout=10,
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("headers", "auth", "message"),
    [
        (
            {"x-api-key": "sandbox-api-key"},
            ("integration", "wrong"),
            "Invalid username or password",
        ),
        (
            {"x-api-key": "sandbox-api-key"},
            ("someone", "sandbox-password"),
            "Invalid username or password",
        ),
        ({"x-api-key": "sandbox-api-key"}, None, "Invalid username or password"),
        ({}, ("integration", "sandbox-password"), "Invalid API Key"),
        ({"x-api-key": "wrong-key"}, ("integration", "sandbox-password"), "Invalid API Key"),
    ],
)
def test_each_401_carries_epicors_message(
    epicor_sandbox: EpicorSandbox,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
    message: str,
) -> None:
    resp = _get(epicor_sandbox, headers, auth)
    assert resp.status_code == 401
    body = resp.json()
    assert body["ErrorMessage"] == message
    assert body["HttpStatus"] == 401
    assert set(body) >= {"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "ErrorDetails"}
    assert "sandbox-password" not in resp.text


def test_unknown_company_is_access_denied(epicor_sandbox: EpicorSandbox) -> None:
    for company in ("EPIC99", "EPICHQ"):
        resp = _get(
            epicor_sandbox,
            {"x-api-key": "sandbox-api-key"},
            ("integration", "sandbox-password"),
            company=company,
        )
        assert resp.status_code == 401
        assert resp.json()["ErrorMessage"] == "Access denied"


def test_second_company_is_served(epicor_sandbox: EpicorSandbox) -> None:
    resp = _get(
        epicor_sandbox,
        {"x-api-key": "sandbox-api-key"},
        ("integration", "sandbox-password"),
        company="EPIC07",
    )
    assert resp.status_code == 200
    assert len(resp.json()["value"]) == 1


def test_token_resource_answers_json_or_xml(epicor_sandbox: EpicorSandbox) -> None:
    token = _bearer(epicor_sandbox)
    assert token.count(".") == 2
    xml = requests.post(
        f"{epicor_sandbox.base_url}/TokenResource.svc/",
        auth=("integration", "sandbox-password"),
        timeout=10,
    )
    assert xml.status_code == 200
    assert xml.text.startswith("<Token")
    assert "<AccessToken>" in xml.text
    form = requests.post(
        f"{epicor_sandbox.base_url}/TokenResource.svc/",
        data={"grant_type": "password", "username": "integration", "password": "sandbox-password"},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    assert form.status_code == 200
    bad = requests.post(
        f"{epicor_sandbox.base_url}/TokenResource.svc/",
        headers={"username": "integration", "password": "nope", "Accept": "application/json"},
        timeout=10,
    )
    assert bad.status_code == 401
    assert bad.json()["ErrorMessage"] == "Invalid username or password"


def test_bearer_needs_the_api_key_too(epicor_sandbox: EpicorSandbox) -> None:
    token = _bearer(epicor_sandbox)
    ok = _get(epicor_sandbox, {"Authorization": f"Bearer {token}", "x-api-key": "sandbox-api-key"})
    assert ok.status_code == 200
    no_key = _get(epicor_sandbox, {"Authorization": f"Bearer {token}"})
    assert no_key.status_code == 401
    assert no_key.json()["ErrorMessage"] == "Invalid API Key"
    forged = _get(
        epicor_sandbox,
        {"Authorization": f"Bearer {token[:-4]}AAAA", "x-api-key": "sandbox-api-key"},
    )
    assert forged.status_code == 401


def test_expire_tokens_invalidates_every_issued_token(epicor_sandbox: EpicorSandbox) -> None:
    token = _bearer(epicor_sandbox)
    headers = {"Authorization": f"Bearer {token}", "x-api-key": "sandbox-api-key"}
    assert _get(epicor_sandbox, headers).status_code == 200
    epicor_sandbox.expire_tokens()
    resp = _get(epicor_sandbox, headers)
    assert resp.status_code == 401
    assert resp.json()["ErrorMessage"] == "Invalid username or password"
    fresh = _bearer(epicor_sandbox)
    assert _get(epicor_sandbox, {**headers, "Authorization": f"Bearer {fresh}"}).status_code == 200


def test_bearer_expires_after_token_ttl(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(token_ttl=1, invoices=50)
    token = _bearer(sb)
    headers = {"Authorization": f"Bearer {token}", "x-api-key": "sandbox-api-key"}
    assert _get(sb, headers).status_code == 200
    time.sleep(2.1)
    resp = _get(sb, headers)
    assert resp.status_code == 401
    assert resp.json()["ErrorMessage"] == "Invalid username or password"


def test_oauth2_client_credentials(epicor_sandbox: EpicorSandbox) -> None:
    resp = requests.post(
        epicor_sandbox.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "scope": "epicor_erp",
        },
        timeout=10,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    ok = _get(
        epicor_sandbox,
        {"Authorization": f"Bearer {body['access_token']}", "x-api-key": "sandbox-api-key"},
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "x",
                "scope": "epicor_erp",
            },
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
                "scope": "openid",
            },
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "authorization_code", "client_id": "sandbox-client"},
            400,
            "unsupported_grant_type",
        ),
    ],
)
def test_oauth2_errors(
    epicor_sandbox: EpicorSandbox, data: dict[str, str], status: int, error: str
) -> None:
    resp = requests.post(epicor_sandbox.token_url, data=data, timeout=10)
    assert resp.status_code == status
    assert resp.json()["error"] == error


def test_token_ttl_can_change_at_run_time(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(invoices=50)
    assert sb.faults(token_ttl=1)["token_ttl"] == 1
    resp = requests.post(
        f"{sb.base_url}/TokenResource.svc/",
        headers={
            "username": "integration",
            "password": "sandbox-password",
            "Accept": "application/json",
        },
        timeout=10,
    )
    assert resp.json()["ExpiresIn"] == 1
    headers = {
        "Authorization": f"Bearer {resp.json()['AccessToken']}",
        "x-api-key": "sandbox-api-key",
    }
    time.sleep(2.1)
    assert _get(sb, headers).status_code == 401
