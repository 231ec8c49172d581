"""Regenerate what is derived from the plugins' `--about`: README settings sections and Hub files.

Also the tap's default `select` (its curated columns, from the bundled schemas) in the Hub file
and meltano.yml: with base_url set, discovery lists every column Epicor serves, and Meltano's own
default (`*.*`) would select them all.

    uv run python scripts/plugin_docs.py          # rewrite README.md and hub/_data/...
    uv run python scripts/plugin_docs.py --check  # exit 1 with a diff when anything is stale

The plugins are the source of truth for settings and capabilities; this keeps the README and the
Meltano Hub definitions from drifting (tests/test_docs_sync.py runs --check).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MELTANO_YML = ROOT / "meltano.yml"
VARIANT = "epicor-snowflake-finance"
REPO_URL = f"https://github.com/{VARIANT}/{VARIANT}"

PLUGINS: dict[str, dict[str, Any]] = {
    "tap-epicor-kinetic": {
        "type": "extractors",
        "hub": {
            "label": "Epicor Kinetic",
            "description": "ERP finance data: AP invoices, POs, payments, vendors, parts, GL",
            "namespace": "tap_epicor_kinetic",
            "domain_url": "https://www.epicor.com/en-us/erp-systems/epicor-kinetic/",
            "keywords": ["meltano_sdk", "erp", "finance", "epicor"],
        },
    },
    "target-snowflake-finance": {
        "type": "loaders",
        "hub": {
            "label": "Snowflake (finance)",
            "description": "Exact, idempotent bulk loads into Snowflake with an audit trail",
            "namespace": "target_snowflake_finance",
            "domain_url": "https://www.snowflake.com/",
            "keywords": ["meltano_sdk", "database", "snowflake", "finance"],
            "dialect": "snowflake",
        },
    },
}


def executable(name: str) -> str:
    """The plugin's console script: next to this Python first (uv run), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed: run `make env` (uv sync --all-packages) first")
    return found


def about(name: str, fmt: str) -> str:
    """`<plugin> --about --format=<fmt>`, run without any config so no local secret can leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))}
    result = subprocess.run(
        [executable(name), "--about", f"--format={fmt}"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"{name} --about failed:\n{result.stderr}")
    return result.stdout


def readme_section(name: str) -> str:
    """The plugin's `--about --format=markdown`, headings two levels down for README."""
    text = about(name, "markdown").strip()
    lines = [("##" + line) if line.startswith("#") else line for line in text.splitlines()]
    return "\n".join(lines)


def markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- BEGIN GENERATED: {name} --about --format=markdown (make docs) -->",
        f"<!-- END GENERATED: {name} -->",
    )


def updated_readme(text: str, sections: dict[str, str]) -> str:
    """README text with each plugin's generated section replaced between its markers."""
    for name, body in sections.items():
        begin, end = markers(name)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        match = pattern.search(text)
        if match is None:
            raise SystemExit(f"README.md lacks the markers for {name}:\n{begin}\n{end}")
        text = f"{text[: match.start()]}{begin}\n{body}\n{end}{text[match.end() :]}"
    return text


def _types(prop: dict[str, Any]) -> list[str]:
    raw = prop.get("type", [])
    return [raw] if isinstance(raw, str) else list(raw)


def setting_kind(prop: dict[str, Any]) -> str:
    """Meltano setting kind for a JSON-schema property of `--about`."""
    types = _types(prop)
    if "enum" in prop:
        return "options"
    for json_type, kind in (
        ("boolean", "boolean"),
        ("integer", "integer"),
        # Not `decimal`: Meltano 4.4.1 reads a decimal setting from an environment variable as
        # Decimal and then fails to write the plugin's JSON config ("Decimal is not JSON
        # serializable"). The plugins still accept fractions from a config file or meltano.yml.
        ("number", "integer"),
        ("array", "array"),
        ("object", "object"),
    ):
        if json_type in types:
            return kind
    if prop.get("format") in {"date-time", "date"}:
        return "date_iso8601"
    return "string"


Flat = list[tuple[str, dict[str, Any]]]


def top_level_settings(properties: dict[str, Any]) -> Flat:
    """One Hub setting per top-level property; nested objects stay one `object` setting.

    Meltano passes a dotted setting nobody set (`batch_config.encoding.format`) as a nested null,
    which the SDK's structures read as a value: a failed validation for `batch_config`, "drop
    every stream" for `stream_maps.__else__`. A whole object set by the user passes as it is.
    """
    return list(properties.items())


def hub_setting(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    setting: dict[str, Any] = {
        "name": name,
        "label": prop.get("title") or name.replace(".", " ").replace("_", " ").strip().title(),
        "kind": setting_kind(prop),
    }
    if prop.get("description"):
        setting["description"] = prop["description"]
    if prop.get("default") is not None:
        default = prop["default"]
        if setting["kind"] == "integer" and isinstance(default, float) and default.is_integer():
            default = int(default)
        setting["value"] = default
    if "enum" in prop:
        setting["options"] = [
            {"label": str(v), "value": str(v)} for v in prop["enum"] if v is not None
        ]
    if prop.get("secret"):
        setting["sensitive"] = True
    return setting


def meltano_plugin(name: str) -> dict[str, Any]:
    """The plugin's block in meltano.yml (for settings_group_validation, one source for both)."""
    project = yaml.safe_load(MELTANO_YML.read_text())
    for plugins in project["plugins"].values():
        for plugin in plugins:
            if plugin["name"] == name:
                return dict(plugin)
    raise SystemExit(f"meltano.yml does not declare {name}")


def hub_definition(name: str) -> dict[str, Any]:
    """A Hub `_data` definition built from `--about --format=json` and fixed Hub metadata."""
    info = json.loads(about(name, "json"))
    meta = PLUGINS[name]["hub"]
    definition: dict[str, Any] = {
        "name": name,
        "variant": VARIANT,
        "label": meta["label"],
        "description": meta["description"],
        "namespace": meta["namespace"],
        "pip_url": f"git+{REPO_URL}.git#subdirectory={name}",
        "executable": name,
        "repo": REPO_URL,
        "docs": f"{REPO_URL}#readme",
        "domain_url": meta["domain_url"],
        "keywords": meta["keywords"],
        "maintenance_status": "beta",
        "quality": "unknown",
        "capabilities": sorted(info["capabilities"]),
    }
    if info.get("supported_python_versions"):
        definition["supported_python_versions"] = list(info["supported_python_versions"])
    if "dialect" in meta:
        definition["dialect"] = meta["dialect"]
    definition["settings_group_validation"] = meltano_plugin(name).get(
        "settings_group_validation", []
    )
    properties = info["settings"].get("properties", {})
    definition["settings"] = [hub_setting(n, p) for n, p in top_level_settings(properties)]
    if name == "tap-epicor-kinetic":
        definition["select"] = curated_select()
    return definition


def curated_select() -> list[str]:
    """`stream.column` for every curated column of the tap, in stream and schema order."""
    from tap_epicor_kinetic.schema import bundled_schema
    from tap_epicor_kinetic.streams import STREAM_TYPES

    return [
        f"{stream.stream_name()}.{column}"
        for stream in STREAM_TYPES
        for column in bundled_schema(stream.stream_name())["properties"]
    ]


SELECT_BEGIN = "    # BEGIN GENERATED: curated columns selected by default (make docs)"
SELECT_END = "    # END GENERATED: curated columns"


def updated_meltano_yml(text: str) -> str:
    """meltano.yml with the tap's `select` list replaced between its markers."""
    pattern = re.compile(re.escape(SELECT_BEGIN) + r".*?" + re.escape(SELECT_END), re.S)
    match = pattern.search(text)
    if match is None:
        raise SystemExit(f"meltano.yml lacks the markers of the tap's select:\n{SELECT_BEGIN}")
    body = "\n".join(["    select:", *(f"    - {pattern}" for pattern in curated_select())])
    return f"{text[: match.start()]}{SELECT_BEGIN}\n{body}\n{SELECT_END}{text[match.end() :]}"


def hub_path(name: str) -> Path:
    return ROOT / "hub" / "_data" / "meltano" / PLUGINS[name]["type"] / name / f"{VARIANT}.yml"


def render_yaml(definition: dict[str, Any]) -> str:
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=100)


def expected_files(names: list[str]) -> dict[Path, str]:
    """Every file derived from these plugins and the text it should have now."""
    files = {hub_path(name): render_yaml(hub_definition(name)) for name in names}
    sections = {name: readme_section(name) for name in names}
    files[README] = updated_readme(README.read_text(), sections)
    if "tap-epicor-kinetic" in names:
        files[MELTANO_YML] = updated_meltano_yml(MELTANO_YML.read_text())
    return files


def runnable(name: str) -> bool:
    """Whether the plugin answers `--about` (a plugin still being built is skipped on write)."""
    try:
        about(name, "json")
    except SystemExit as error:
        sys.stderr.write(f"skipping {name}: {error}\n")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="report stale files, change nothing")
    args = parser.parse_args(argv)
    stale = []
    names = list(PLUGINS) if args.check else [n for n in PLUGINS if runnable(n)]
    for path, text in expected_files(names).items():
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        stale.append(path)
        rel = path.relative_to(ROOT)
        if args.check:
            diff = difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{rel} (now)",
                f"{rel} (from --about)",
                lineterm="",
            )
            sys.stdout.write("\n".join(diff) + "\n")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            sys.stdout.write(f"updated {rel}\n")
    if args.check and stale:
        sys.stdout.write("stale: run `make docs` (uv run python scripts/plugin_docs.py)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
