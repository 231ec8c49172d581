"""Issue point 8: `--about --format=markdown` documents every setting; credentials are secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from target_snowflake_finance.target import CONFIG_SCHEMA

CONTRACT_SETTINGS = {
    "account", "user", "role", "warehouse", "database", "schema", "auth_method",
    "private_key", "private_key_path", "private_key_passphrase", "token", "host", "port",
    "protocol", "load_method", "batch_size_rows", "table_mapping", "manage_tables",
    "column_case", "timestamp_type", "resume_warehouse", "on_invalid_record", "audit_table",
    "rejects_table", "dead_letter_dir", "max_retries",
}  # fmt: skip


def about(fmt: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "target_snowflake_finance.target", "--about", f"--format={fmt}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


def test_markdown_about_documents_every_setting() -> None:
    text = about("markdown")
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")}
    assert set(CONFIG_SCHEMA["properties"]) >= CONTRACT_SETTINGS
    for setting in CONFIG_SCHEMA["properties"]:
        assert setting in rows, setting
        assert CONFIG_SCHEMA["properties"][setting].get("description"), setting


def test_credentials_are_secret() -> None:
    settings = json.loads(about("json"))["settings"]["properties"]
    secret = {name for name, spec in settings.items() if spec.get("secret")}
    assert secret == {"private_key", "private_key_passphrase", "token", "password"}


def test_replay_is_a_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "target_snowflake_finance.target", "replay", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "--config" in result.stdout
    assert "dead-letter" in result.stdout


def test_replay_after_options_as_meltano_invokes_it(tmp_path: Path) -> None:
    """`meltano invoke target-snowflake-finance replay` runs `target --config FILE replay`."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dead_letter_dir": str(tmp_path / "dl")}), encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "target_snowflake_finance.target",
            "--config",
            str(config),
            "replay",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "unexpected extra argument" not in result.stderr
    # The replay command itself answered: it names the settings it needs to connect.
    assert "replay" in (result.stdout + result.stderr).lower()
