"""meltano.yml, .env.example and the CI workflow: valid, complete, consistent with the README."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# DESIGN.md §3 and §4 settings tables (names are a contract) and the credentials among them.
TAP_SETTINGS = {
    "base_url", "company", "companies", "api_key", "auth_method", "username", "password",
    "client_id", "client_secret", "token_url", "scope", "start_date", "page_size",
    "server_timezone", "replication_keys", "request_timeout", "max_retries", "verify_ssl",
    "ca_bundle", "baq_streams", "include_ud_fields",
}  # fmt: skip
TAP_SECRETS = {"api_key", "password", "client_secret"}
TARGET_SETTINGS = {
    "account", "user", "role", "warehouse", "database", "schema", "auth_method", "private_key",
    "private_key_path", "private_key_passphrase", "token", "host", "port", "protocol",
    "load_method", "batch_size_rows", "table_mapping", "manage_tables", "column_case",
    "timestamp_type", "resume_warehouse", "on_invalid_record", "audit_table", "rejects_table",
    "dead_letter_dir", "max_retries",
}  # fmt: skip
TARGET_SECRETS = {"private_key", "private_key_passphrase", "token"}
MELTANO_KINDS = {
    "string", "integer", "boolean", "decimal", "date_iso8601", "email", "file", "array",
    "object", "options",
}  # fmt: skip


def project() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def plugin(name: str) -> dict:
    for plugins in project()["plugins"].values():
        for item in plugins:
            if item["name"] == name:
                return item
    raise AssertionError(f"{name} not in meltano.yml")


def meltano(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "meltano"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_meltano_yml_matches_meltanos_own_schema() -> None:
    import meltano as meltano_pkg

    schema_path = Path(next(iter(meltano_pkg.__path__))) / "schemas" / "meltano.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(project(), schema)


def test_meltano_yml_uses_meltano_4_syntax() -> None:
    data = project()
    assert "requires_meltano" in data
    assert "version" not in data
    assert data["venv"] == {"backend": "uv"}
    assert data["default_environment"] == "sandbox"
    assert {env["name"] for env in data["environments"]} == {"sandbox", "prod"}
    text = (ROOT / "meltano.yml").read_text()
    assert "kind: password" not in text
    assert "kind: hidden" not in text


def test_both_plugins_install_from_their_folders_with_state_capability() -> None:
    tap, target = plugin("tap-epicor-kinetic"), plugin("target-snowflake-finance")
    assert tap["pip_url"] == "-e ./tap-epicor-kinetic"
    assert target["pip_url"] == "-e ./target-snowflake-finance"
    assert "state" in tap["capabilities"]
    assert tap["settings_group_validation"]
    assert target["settings_group_validation"]


def test_every_design_setting_is_declared_with_a_kind_and_credentials_are_sensitive() -> None:
    for name, expected, secrets in (
        ("tap-epicor-kinetic", TAP_SETTINGS, TAP_SECRETS),
        ("target-snowflake-finance", TARGET_SETTINGS, TARGET_SECRETS),
    ):
        settings = {s["name"]: s for s in plugin(name)["settings"]}
        assert expected <= settings.keys(), f"{name} lacks {expected - settings.keys()}"
        for setting in settings.values():
            assert setting.get("kind") in MELTANO_KINDS, setting
        sensitive = {n for n, s in settings.items() if s.get("sensitive")}
        assert secrets <= sensitive, f"{name}: not sensitive: {secrets - sensitive}"
        for group in plugin(name)["settings_group_validation"]:
            assert set(group) <= settings.keys(), group


def test_job_and_eight_hourly_schedule_are_what_meltano_sees() -> None:
    jobs = meltano("job", "list")
    assert jobs.returncode == 0, jobs.stderr
    assert "epicor-to-snowflake: ['tap-epicor-kinetic target-snowflake-finance']" in jobs.stdout
    schedules = meltano("schedule", "list")
    assert schedules.returncode == 0, schedules.stderr
    assert "[0 */8 * * *] job epicor-to-snowflake-every-8h: epicor-to-snowflake" in schedules.stdout


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s*((TAP|TARGET)_[A-Z0-9_]+)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(3)
    return values


def test_env_example_names_only_declared_settings_and_every_connection_value() -> None:
    documented = env_example()
    declared = {
        "TAP_EPICOR_KINETIC_" + s["name"].upper() for s in plugin("tap-epicor-kinetic")["settings"]
    } | {
        "TARGET_SNOWFLAKE_FINANCE_" + s["name"].upper()
        for s in plugin("target-snowflake-finance")["settings"]
    }
    assert documented.keys() <= declared, documented.keys() - declared
    for group in (
        plugin("tap-epicor-kinetic")["settings_group_validation"][0],
        plugin("target-snowflake-finance")["settings_group_validation"][0],
        ["server_timezone", "auth_method", "start_date", "private_key_passphrase", "role"],
    ):
        for setting in group:
            assert any(key.endswith("_" + setting.upper()) for key in documented), setting


def test_prod_environment_takes_its_values_from_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    values = {k: v for k, v in env_example().items() if v}
    values["TAP_EPICOR_KINETIC_PASSWORD"] = "from-the-environment"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    result = meltano(
        "--environment=prod",
        "--env-file",
        str(env_file),
        "config",
        "list",
        "tap-epicor-kinetic",
    )
    assert result.returncode == 0, result.stderr
    assert "current value: 'https://erp.example.com/ERP11PROD'" in result.stdout
    assert "from-the-environment" not in result.stdout  # sensitive: shown redacted
    target = meltano(
        "--environment=prod", "--env-file", str(env_file), "config", "list",
        "target-snowflake-finance",
    )  # fmt: skip
    assert target.returncode == 0, target.stderr
    assert "current value: 'myorg-myaccount'" in target.stdout


def test_ci_workflow_is_a_valid_github_workflow() -> None:
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(ROOT / ".github" / "workflows" / "ci.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_make_test_on_python_311_312_313_and_on_the_newest_singer_sdk() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    job = workflow["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12", "3.13"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert ".ci/run" in runs
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    newest = [step.get("run", "") for step in workflow["jobs"]["newest-singer-sdk"]["steps"]]
    upgrade = next(i for i, run in enumerate(newest) if "--upgrade-package singer-sdk" in run)
    assert newest.index(".ci/run") > upgrade


def test_readme_opens_with_the_two_commands() -> None:
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:6])
    assert "make demo" in head
    assert "make test" in head


def test_the_job_validates_in_the_prod_environment() -> None:
    result = meltano(
        "--environment=prod", "run", "--dry-run", "--no-install", "epicor-to-snowflake"
    )
    assert result.returncode == 0, result.stderr
    assert "would have run block 1/1" in result.stdout + result.stderr


def test_every_tap_setting_can_come_from_an_environment_variable() -> None:
    """Meltano 4.4 crashes on `kind: decimal` values read from the environment (Decimal in JSON)."""
    import os

    env = {**os.environ, "TAP_EPICOR_KINETIC_RETRY_BACKOFF_SECONDS": "2"}
    result = meltano("config", "print", "tap-epicor-kinetic", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"retry_backoff_seconds": 2' in result.stdout


PLUGINS = {
    "tap-epicor-kinetic": "tap_epicor_kinetic",
    "target-snowflake-finance": "target_snowflake_finance",
}


def _imported_top_modules(package_dir: Path) -> set[str]:
    modules: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_each_plugin_declares_what_it_imports_and_ships_its_license(plugin: str) -> None:
    # A plugin installed on its own (pip_url from Meltano Hub) gets only its declared
    # dependencies: a module that arrives only through another package breaks when that one moves.
    module = PLUGINS[plugin]
    project = tomllib.loads((ROOT / plugin / "pyproject.toml").read_text())["project"]
    declared = {
        re.split(r"[\s;<>=~!\[]", dep)[0].lower().replace("_", "-")
        for dep in project["dependencies"]
    }
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for name in _imported_top_modules(ROOT / plugin / module) - {module}:
        if name in sys.stdlib_module_names:
            continue
        dists = {d.lower().replace("_", "-") for d in distributions.get(name, [name])}
        if not dists & declared:
            undeclared[name] = sorted(dists)
    assert undeclared == {}, f"{plugin} imports these without declaring them: {undeclared}"
    assert project["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / plugin / "LICENSE").read_text()
