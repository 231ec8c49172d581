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


def test_a_login_never_probes_cloud_metadata_endpoints() -> None:
    """The connector's platform detection (HTTP to 169.254.169.254 at login) is off in the target.

    Connector 4 reads the variable in Python, connector 5 in its native core: both must know it.
    """
    import os
    import subprocess
    import sys

    import snowflake.connector

    variable = "SNOWFLAKE_DISABLE_PLATFORM_DETECTION"
    package = Path(snowflake.connector.__file__).parent
    assert any(
        variable.encode() in f.read_bytes()
        for f in package.rglob("*")
        if f.is_file() and f.suffix in {".py", ".so", ".pyd"}
    ), f"the connector no longer reads {variable}"
    env = {k: v for k, v in os.environ.items() if k != variable}
    code = f"import os, target_snowflake_finance.connector; print(os.environ.get('{variable}'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "true"
