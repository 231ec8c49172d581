"""A Meltano user's first hour: a fresh `meltano init` project, both plugins from `hub/`.

Plugins are added with `meltano add --from-ref` from the Hub definitions (pip_url pointed at
this checkout), configured only through environment variables, run with `meltano run`, and
what landed is compared with Epicor. Then `meltano config test` for both plugins.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from e2e_helpers import (
    BIN,
    FAULT_STREAMS,
    MELTANO,
    ROOT,
    Sandbox,
    clean_env,
    compare,
    discovered_schemas,
    table_exists,
)

INVOICES = 30

SCHEMA = "FRESH_PROJECT"
PLUGINS = {"extractor": "tap-epicor-kinetic", "loader": "target-snowflake-finance"}
HUB_KIND = {"extractor": "extractors", "loader": "loaders"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Path:
    """`meltano init` plus `meltano add --from-ref hub/...` for both plugins (uv venvs)."""
    base = tmp_path_factory.mktemp("fresh-meltano")
    meltano(base, "init", "project", "--no_usage_stats")
    path = base / "project"
    for plugin_type, name in PLUGINS.items():
        (definition,) = (ROOT / "hub" / "_data" / "meltano" / HUB_KIND[plugin_type] / name).glob(
            "*.yml"
        )
        data = yaml.safe_load(definition.read_text())
        data["pip_url"] = f"-e {ROOT / name}"
        ref = base / f"{name}.yml"
        ref.write_text(yaml.safe_dump(data))
        meltano(path, "add", "--plugin-type", plugin_type, name, "--from-ref", str(ref))
    return path


def env_for(sandbox: Sandbox, project: Path) -> dict[str, str]:
    """Only environment variables: the sandbox's, plus what a user sets for a first run."""
    env = clean_env()
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `uv` for the uv venv backend
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["MELTANO_VENV_BACKEND"] = "uv"
    env.update(sandbox.env)
    env["TAP_EPICOR_KINETIC_START_DATE"] = "2000-01-01T00:00:00Z"
    # A numeric setting set from the environment must reach the plugin (kind round-trip).
    env["TAP_EPICOR_KINETIC_RETRY_BACKOFF_SECONDS"] = "2"
    env["TARGET_SNOWFLAKE_FINANCE_SCHEMA"] = SCHEMA
    env["TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR"] = str(project / "dead_letter")
    return env


def meltano(
    cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if env is None:
        env = clean_env()
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        env["MELTANO_VENV_BACKEND"] = "uv"
    done = subprocess.run(
        [MELTANO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


def test_hub_plugins_in_a_fresh_project_load_what_epicor_has(
    project: Path, sandbox: Sandbox
) -> None:
    env = env_for(sandbox, project)
    dumped = meltano(project, "invoke", "--dump=config", "tap-epicor-kinetic", env=env).stdout
    assert '"retry_backoff_seconds": 2' in dumped
    meltano(project, "run", "tap-epicor-kinetic", "target-snowflake-finance", env=env)
    result = compare(sandbox, SCHEMA, discovered_schemas(), FAULT_STREAMS)
    assert not result.problems, result.report()
    assert result.rows["ap_invoices"] == 30


def test_config_test_of_the_tap_succeeds(project: Path, sandbox: Sandbox) -> None:
    done = meltano(project, "config", "test", "tap-epicor-kinetic", env=env_for(sandbox, project))
    assert "Plugin configuration is valid" in done.stdout + done.stderr


def test_config_test_of_the_target_succeeds_and_leaves_no_table(
    project: Path, sandbox: Sandbox
) -> None:
    env = env_for(sandbox, project)
    done = meltano(project, "config", "test", "target-snowflake-finance", env=env, check=False)
    output = done.stdout + done.stderr
    # Meltano logs this only when the loader exited 0 and printed no line with "error" in it.
    assert "Test data was written to your target system" in output, output[-4000:]
    assert not table_exists(sandbox, SCHEMA, "MELTANO_TEST_STREAM")
    # Meltano 4.4.1 then calls terminate() on the loader that already exited, in a `finally`,
    # and prints a ProcessLookupError traceback (its bug, not the loader's; README says so).
    assert done.returncode == 0 or "ProcessLookupError" in output, output[-4000:]
