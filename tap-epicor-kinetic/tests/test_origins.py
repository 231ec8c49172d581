"""Credentials go only to the configured origins: a redirect elsewhere is refused, nothing sent.

A proxy in front of the emulator is `base_url`'s origin; it answers one chosen request with a
redirect to a second real server (another port: another origin), which must receive nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from finance_sandbox.testing.hostile import Forward, HostileServer, Reply, Seen
from singer_sdk.exceptions import FatalAPIError

Match = Callable[[Seen], bool]

CASES: dict[str, tuple[str, Match]] = {
    # case: (auth_method, which request is redirected)
    "data-page": ("basic", lambda s: s.method == "GET" and "/Vendors?" in s.path),
    "metadata": ("basic", lambda s: s.path.endswith("/$metadata")),
    "token-resource": ("token", lambda s: "TokenResource.svc" in s.path),
    "oauth2-token": ("oauth2", lambda s: "connect/token" in s.path),
}


def _redirecting(status: int, target: str, match: Match) -> Callable[[Seen, Forward], Reply]:
    def respond(seen: Seen, forward: Forward) -> Reply:
        if match(seen):
            return Reply(status, b"", {"Location": target + seen.path})
        return forward()

    return respond


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("case", list(CASES))
def test_a_redirect_to_another_origin_is_refused_and_sends_it_nothing(
    epicor_sandbox: Any, tap_runner: Any, case: str, status: int
) -> None:
    method, match = CASES[case]
    with (
        HostileServer(lambda seen, forward: Reply(200, b'{"value": []}')) as elsewhere,
        HostileServer(
            _redirecting(status, elsewhere.url, match), upstream=epicor_sandbox.root
        ) as proxy,
    ):
        config = epicor_sandbox.tap_config(
            auth_method=method,
            base_url=f"{proxy.url}/EpicorSandbox",
            token_url=f"{proxy.url}/connect/token",
            max_retries=0,
        )
        catalog = tap_runner.select_only(epicor_sandbox.tap_config(), {"vendors"})
        with pytest.raises(FatalAPIError) as failed:
            tap_runner.sync(config, catalog=catalog)
        setting = "token_url" if case == "oauth2-token" else "base_url"
        message = str(failed.value)
        assert setting in message
        assert "redirect" in message
        assert elsewhere.received == []
        for secret in (config["password"], config["api_key"], config["client_secret"]):
            assert secret not in message


def test_a_redirect_within_the_origin_is_followed(epicor_sandbox: Any, tap_runner: Any) -> None:
    def respond(seen: Seen, forward: Forward) -> Reply:
        if seen.path.startswith("/moved/"):
            return forward(seen.path.removeprefix("/moved"))
        if "/Vendors?" in seen.path:
            return Reply(302, b"", {"Location": "/moved" + seen.path})
        return forward()

    with HostileServer(respond, upstream=epicor_sandbox.root) as proxy:
        config = epicor_sandbox.tap_config(base_url=f"{proxy.url}/EpicorSandbox")
        catalog = tap_runner.select_only(config, {"vendors"})
        result = tap_runner.sync(config, catalog=catalog)
    assert len(result.records["vendors"]) == len(epicor_sandbox.truth("vendors"))
    assert any(path.startswith("/moved/") for path in proxy.paths())
