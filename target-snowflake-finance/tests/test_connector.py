"""The target's tests run with the locked snowflake-connector-python 5; fakesnow stays outside."""

from __future__ import annotations

import importlib.util
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_tests_run_with_the_locked_connector_5() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    name = "snowflake-connector-python"
    locked = next(p["version"] for p in lock["package"] if p["name"] == name)
    assert locked.startswith("5."), f"uv.lock pins {name} {locked}"
    assert version(name) == locked
    # The local Snowflake (fakesnow needs connector 4) runs in an environment of its own.
    assert importlib.util.find_spec("fakesnow") is None
