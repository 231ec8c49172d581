"""A setting left unset (absent or null) takes the default `--about` shows, and nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tap_epicor_kinetic.tap import TapEpicorKinetic

DEFAULTS = {
    name: prop["default"]
    for name, prop in TapEpicorKinetic.config_jsonschema["properties"].items()
    if "default" in prop
}


@pytest.mark.parametrize("unset", ["absent", "null"])
def test_unset_settings_take_the_schema_default(epicor_sandbox: Any, unset: str) -> None:
    config = epicor_sandbox.tap_config()
    for name in DEFAULTS:
        config.pop(name, None)
        if unset == "null":
            config[name] = None
    tap = TapEpicorKinetic(config=config, validate_config=True)

    assert {name: tap.config[name] for name in DEFAULTS} == DEFAULTS
    # The values the code uses, through the services the streams share.
    services = tap.services
    assert services.credentials.method == DEFAULTS["auth_method"]
    assert services.credentials.token_url == DEFAULTS["token_url"]
    assert services.credentials.scope == DEFAULTS["scope"]
    assert services.request_timeout == DEFAULTS["request_timeout"]
    assert tap.streams["vendors"].timeout == DEFAULTS["request_timeout"]
    assert services.page_size == DEFAULTS["page_size"]
    assert services.max_concurrent_requests == DEFAULTS["max_concurrent_requests"]
    assert services.late_commit_lookback == dt.timedelta(
        minutes=DEFAULTS["late_commit_lookback_minutes"]
    )
    assert services.retry_policy.max_retries == DEFAULTS["max_retries"]
    assert services.retry_policy.base_seconds == DEFAULTS["retry_backoff_seconds"]
    assert services.zone.utcoffset(dt.datetime(2026, 1, 1)) == dt.timedelta(0)  # "UTC"
    assert tap.streams["vendors"].services is services
    assert services.http_session.verify is DEFAULTS["verify_ssl"]
