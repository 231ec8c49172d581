"""Each plugin stands on its own: its pyproject declares what its code and its tests import.

A plugin is installed from PyPI by users who never see this workspace, and its tests must run
with only the plugin and its `test` dependency group installed (`make test-plugins-alone`). The
root environment holds everything, so an undeclared import would pass every other test here.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ("tap-epicor-kinetic", "target-snowflake-finance")
WORKSPACE = (*PLUGINS, "sandbox")


def _pyproject(member: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / member / "pyproject.toml").read_text())


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return _normalized(match.group())


def _member_modules() -> dict[str, str]:
    """Top-level module → distribution for workspace members (editable installs list no files)."""
    modules = {}
    for member in WORKSPACE:
        project = _pyproject(member)
        for package in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
            modules[package] = _normalized(project["project"]["name"])
    return modules


def _distributions(module: str) -> set[str]:
    """The distributions that provide a top-level module."""
    installed = importlib.metadata.packages_distributions()
    names = {_normalized(d) for d in installed.get(module, [])}
    if member := _member_modules().get(module):
        names.add(member)
    return names


def _imports(files: list[Path]) -> dict[str, Path]:
    """Third-party top-level modules imported anywhere in `files` (first file naming each)."""
    found: dict[str, Path] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, path)
    return found


def _package_dir(member: str) -> Path:
    (package,) = _pyproject(member)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return ROOT / member / package


def _undeclared(files: list[Path], declared: set[str], own: str) -> list[str]:
    missing = []
    for module, path in sorted(_imports(files).items()):
        providers = _distributions(module)
        assert providers, f"{path.relative_to(ROOT)} imports {module}, which nothing installs"
        if own not in providers and not providers & declared:
            missing.append(f"{module} ({path.relative_to(ROOT)}; from {sorted(providers)})")
    return missing


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_package_declares_every_import_of_its_code(plugin: str) -> None:
    project = _pyproject(plugin)["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    files = sorted(_package_dir(plugin).rglob("*.py"))
    missing = _undeclared(files, declared, _normalized(project["name"]))
    assert not missing, f"{plugin}/pyproject.toml [project] dependencies lacks: {missing}"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_test_group_declares_every_import_and_command_of_the_tests(plugin: str) -> None:
    pyproject = _pyproject(plugin)
    group = pyproject.get("dependency-groups", {}).get("test")
    assert group, f"{plugin}/pyproject.toml has no [dependency-groups] test"
    declared = {_requirement_name(r) for r in [*pyproject["project"]["dependencies"], *group]}
    assert {"pytest", "finance-sandbox"} <= declared
    own = _normalized(pyproject["project"]["name"])
    tests = sorted((ROOT / plugin / "tests").glob("*.py"))
    missing = _undeclared(tests, declared, own)
    assert not missing, f"{plugin}/pyproject.toml [dependency-groups] test lacks: {missing}"
    # Other workspace members' console scripts the tests start as processes.
    for member in WORKSPACE:
        member_project = _pyproject(member)["project"]
        name = _normalized(member_project["name"])
        for script in member_project.get("scripts", {}):
            started = [t.name for t in tests if re.search(rf"[\"/]{script}\"", t.read_text())]
            if name != own and started:
                assert name in declared, f"{started} start {script}: add {name} to the test group"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_workspace_members_in_the_test_group_come_from_the_workspace(plugin: str) -> None:
    pyproject = _pyproject(plugin)
    sources = pyproject.get("tool", {}).get("uv", {}).get("sources", {})
    members = {_normalized(_pyproject(m)["project"]["name"]) for m in WORKSPACE}
    for requirement in pyproject["dependency-groups"]["test"]:
        name = _requirement_name(requirement)
        if name in members:
            assert sources.get(name) == {"workspace": True}, f"{plugin}: {name} needs a source"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_plugin_ships_a_license_and_configures_pytest_itself(plugin: str) -> None:
    # Hatchling puts a LICENSE found next to pyproject.toml into the sdist and the wheel.
    license_text = (ROOT / plugin / "LICENSE").read_text()
    assert license_text == (ROOT / "LICENSE").read_text(), f"{plugin}/LICENSE differs"
    # Run from the plugin's folder, pytest would otherwise take the root's settings (and its
    # testpaths: the whole workspace suite).
    own = _pyproject(plugin)["tool"]["pytest"]["ini_options"]
    root = _pyproject(".")["tool"]["pytest"]["ini_options"]
    assert own["testpaths"] == ["tests"]
    assert "--import-mode=importlib" in own["addopts"]
    assert own["filterwarnings"] == root["filterwarnings"]
    assert set(own["markers"]) <= set(root["markers"])
