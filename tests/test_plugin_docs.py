"""README settings, Hub definitions and meltano.yml agree with what the plugins say in `--about`."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PLUGINS = {"tap-epicor-kinetic": "extractors", "target-snowflake-finance": "loaders"}


@cache
def about(name: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(BIN / name), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout)


def hub_files(kind: str, name: str) -> list[Path]:
    return sorted((ROOT / "hub" / "_data" / "meltano" / kind / name).glob("*.yml"))


def hub_validator(kind: str) -> jsonschema.Draft7Validator:
    """The Hub's schema for `kind`, with its relative $refs resolved from the local copies."""
    base = ROOT / "hub" / "schemas"  # copies of meltano/hub schemas/ (see hub/schemas/README.md)
    files = {p.name: p for p in base.rglob("*.json")}

    def retrieve(uri: str) -> referencing.Resource:
        name = uri.rsplit("/", 1)[-1]
        contents = json.loads(files[name].read_text())
        return referencing.Resource.from_contents(
            contents, default_specification=referencing.jsonschema.DRAFT7
        )

    registry: referencing.Registry = referencing.Registry(retrieve=retrieve)  # type: ignore[call-arg]
    schema = json.loads((base / "plugin_definitions" / f"{kind}.schema.json").read_text())
    return jsonschema.Draft7Validator(schema, registry=registry)


@pytest.mark.parametrize(("name", "kind"), PLUGINS.items())
def test_hub_definition_is_valid_for_the_hub_schema(name: str, kind: str) -> None:
    (path,) = hub_files(kind, name)
    definition = yaml.safe_load(path.read_text())
    errors = sorted(hub_validator(kind).iter_errors(definition), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    assert definition["name"] == name
    assert path.stem == definition["variant"]


def test_hub_schema_rejects_a_broken_definition() -> None:
    """The validator really applies the referenced common schemas (a wrong kind is caught)."""
    path = hub_files("extractors", "tap-epicor-kinetic")[0]
    definition = yaml.safe_load(path.read_text())
    definition["settings"][0]["kind"] = "no-such-kind"
    del definition["namespace"]
    messages = [e.message for e in hub_validator("extractors").iter_errors(definition)]
    assert any("namespace" in m for m in messages)
    assert any("no-such-kind" in m for m in messages)


@pytest.mark.parametrize(("name", "kind"), PLUGINS.items())
def test_hub_settings_and_capabilities_match_about(name: str, kind: str) -> None:
    info = about(name)
    definition = yaml.safe_load(hub_files(kind, name)[0].read_text())
    assert sorted(definition["capabilities"]) == sorted(info["capabilities"])
    hub = {s["name"]: s for s in definition["settings"]}
    properties = info["settings"]["properties"]
    assert set(properties) <= set(hub)
    for setting, prop in properties.items():
        assert bool(hub[setting].get("sensitive")) == bool(prop.get("secret")), setting


@pytest.mark.parametrize("name", PLUGINS)
def test_meltano_yml_declares_every_plugin_setting_with_matching_sensitivity(name: str) -> None:
    info = about(name)
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (plugin,) = [p for group in project["plugins"].values() for p in group if p["name"] == name]
    declared = {s["name"]: s for s in plugin["settings"]}
    sdk_builtin = sdk_builtin_settings(name)
    own = {k: v for k, v in info["settings"]["properties"].items() if k not in sdk_builtin}
    assert set(own) <= set(declared), f"declare in meltano.yml: {sorted(set(own) - set(declared))}"
    for setting, prop in own.items():
        assert bool(declared[setting].get("sensitive")) == bool(prop.get("secret")), setting
    # meltano.yml's own schema lists fewer loader capabilities than the SDK advertises.
    assert set(plugin["capabilities"]) <= set(info["capabilities"])
    if name == "tap-epicor-kinetic":
        assert set(plugin["capabilities"]) == set(info["capabilities"])


def sdk_builtin_settings(name: str) -> set[str]:
    """Settings the SDK adds to every tap or target (stream maps, flattening, batch, ...)."""
    from singer_sdk import SQLTarget, Tap

    base: Any = Tap if name.startswith("tap-") else SQLTarget
    bare = type("Bare", (base,), {"name": "bare", "config_jsonschema": {"properties": {}}})
    bare.append_builtin_config(bare.config_jsonschema)
    builtin = set(bare.config_jsonschema["properties"])
    # Settings DESIGN.md gives our own meaning to stay ours even where the SDK has one too.
    return builtin - {"load_method", "batch_size_rows"}


def test_readme_settings_and_hub_files_are_regenerated() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "plugin_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
