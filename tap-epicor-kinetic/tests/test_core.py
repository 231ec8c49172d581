"""singer-sdk's standard tap tests on all twelve streams, against the sandbox over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_epicor_kinetic.tap import TapEpicorKinetic

# Filled with the sandbox's connection values before the class's sync runs (see below); the
# placeholder only lets the SDK build the per-stream test parameters offline (no base_url: with
# one, discovery reads each service's $metadata).
SANDBOX_CONFIG: dict[str, Any] = {
    "company": "EPIC06",
    "api_key": "placeholder",
    "username": "placeholder",
    "password": "placeholder",
}

_StandardTests = get_tap_test_class(
    TapEpicorKinetic,
    config=SANDBOX_CONFIG,
    suite_config=SuiteConfig(max_records_limit=None),
    parse_env_config=False,
    validate_config=False,  # base_url, required, is only known once the sandbox runs
)


class TestTapEpicorKinetic(_StandardTests):  # type: ignore[misc, valid-type]
    """Discovery, connection, sync, schemas, keys and attribute types of every stream."""

    # A classmethod: pytest deprecates class-scoped fixtures defined as instance methods.
    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _point_at_sandbox(cls, epicor_sandbox: Any) -> None:
        SANDBOX_CONFIG.update(epicor_sandbox.tap_config())
