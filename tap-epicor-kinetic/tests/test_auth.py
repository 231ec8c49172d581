"""Point 6: basic / token / oauth2 with x-api-key, one shared authenticator, refresh, fail fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

TOKEN_ROUTES = ("TokenResource.svc", "connect/token")


def _statuses(counters: dict[str, Any], route: str) -> dict[str, int]:
    return dict(counters["by_route"].get(route, {}))


@pytest.mark.parametrize(
    ("auth_method", "token_route"),
    [("basic", None), ("token", "TokenResource.svc"), ("oauth2", "connect/token")],
)
def test_each_auth_method_syncs_with_one_shared_token(
    epicor_sandbox: Any, tap_runner: Any, auth_method: str, token_route: str | None
) -> None:
    config = epicor_sandbox.tap_config(auth_method=auth_method)
    catalog = tap_runner.select_only(config, {"vendors", "parts", "ap_invoices"})
    epicor_sandbox.reset_counters()
    result = tap_runner.sync(config, catalog=catalog)
    assert len(result.records["ap_invoices"]) == len(epicor_sandbox.truth("ap_invoices"))
    counters = epicor_sandbox.counters()
    for route in TOKEN_ROUTES:
        # Three streams, one token: the authenticator is shared by every stream.
        expected = {"200": 1} if route == token_route else {}
        assert _statuses(counters, route) == expected, route


def test_bearer_is_refreshed_before_it_expires(
    epicor_sandbox_factory: Any, tap_runner: Any
) -> None:
    sandbox = epicor_sandbox_factory(invoices=40, token_ttl=3)
    sandbox.faults(latency_ms=150)  # ~30 requests: the sync outlasts the token
    config = sandbox.tap_config(auth_method="token", page_size=2)
    catalog = tap_runner.select_only(config, {"vendors", "ap_invoices"})
    result = tap_runner.sync(config, catalog=catalog)
    assert len(result.records["ap_invoices"]) == len(sandbox.truth("ap_invoices"))
    counters = sandbox.counters()
    assert _statuses(counters, "TokenResource.svc").get("200", 0) >= 2
    # Refreshed ahead of expiry: no request ever went out with an expired token.
    assert not [r for r, s in counters["by_route"].items() if "401" in s]


def test_a_revoked_token_is_replaced_once_on_401(small_sandbox: Any, tap_runner: Any) -> None:
    responses = 0

    def revoke_after_a_few(response: requests.Response) -> None:
        nonlocal responses
        responses += 1
        if responses == 4:
            small_sandbox.expire_tokens()

    config = small_sandbox.tap_config(auth_method="oauth2", page_size=10)
    catalog = tap_runner.select_only(config, {"vendors", "ap_invoices", "ap_invoice_lines"})
    small_sandbox.reset_counters()
    result = tap_runner.sync(config, catalog=catalog, on_response=revoke_after_a_few)
    assert len(result.records["ap_invoices"]) == len(small_sandbox.truth("ap_invoices"))
    counters = small_sandbox.counters()
    unauthorized = sum(s.get("401", 0) for s in counters["by_route"].values())
    assert unauthorized == 1
    assert _statuses(counters, "connect/token") == {"200": 2}


@pytest.mark.parametrize(
    ("auth_method", "override", "message"),
    [
        ("basic", {"password": "not-the-password-1"}, "Invalid username or password"),
        ("token", {"password": "not-the-password-1"}, "Invalid username or password"),
        ("basic", {"api_key": "not-the-api-key-2"}, "Invalid API Key"),
        ("token", {"api_key": "not-the-api-key-2"}, "Invalid API Key"),
        ("oauth2", {"client_secret": "not-the-secret-3"}, "client authentication failed"),
    ],
)
def test_bad_credentials_fail_fast_with_epicors_message_and_no_secret(
    small_sandbox: Any,
    tap_runner: Any,
    tmp_path: Path,
    auth_method: str,
    override: dict[str, str],
    message: str,
) -> None:
    config = small_sandbox.tap_config(auth_method=auth_method, **override)
    small_sandbox.reset_counters()
    run = tap_runner.run_cli(tmp_path, config)
    assert run.returncode != 0
    assert message in run.stderr
    # An expected failure says what to fix once, without a Python traceback around it.
    assert "Traceback" not in run.stderr
    assert "RECORD" not in run.stdout
    secrets = {config["password"], config["api_key"], config["client_secret"]}
    for secret in secrets:
        assert secret not in run.stdout
        assert secret not in run.stderr
    # Fails at the first refusal (one token refresh at most), no retry storm.
    counters = small_sandbox.counters()
    assert sum(sum(s.values()) for s in counters["by_route"].values()) <= 4


@pytest.mark.parametrize("problem", ["bad-password", "server-errors"])
@pytest.mark.parametrize("mode", ["--discover", "--test"])
def test_discovery_and_test_fail_like_a_sync_in_one_line(
    small_sandbox: Any, tap_runner: Any, tmp_path: Path, problem: str, mode: str
) -> None:
    # Meltano runs `--discover` before every `meltano run`: an expected failure there (or in a
    # `--test`) must read as the same one line as during a sync, not a traceback through
    # click's option callback.
    if problem == "bad-password":
        config = small_sandbox.tap_config(password="not-the-password-4")
        message = "Invalid username or password"
    else:
        config = small_sandbox.tap_config(max_retries=1, retry_backoff_seconds=0.01)
        message = "still failing after 1 retries (max_retries)"
        small_sandbox.faults(error_next=50)
    try:
        run = tap_runner.run_cli(tmp_path, config, mode)
    finally:
        small_sandbox.clear_faults()
    assert run.returncode == 1, run.stderr[-3000:]
    assert message in run.stderr, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "not-the-password-4" not in run.stderr + run.stdout
