"""A setting left unset (absent or null) takes the default `--about` shows, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from target_snowflake_finance.target import TargetSnowflakeFinance

DEFAULTS = {
    name: prop["default"]
    for name, prop in TargetSnowflakeFinance.config_jsonschema["properties"].items()
    if "default" in prop
}


@pytest.mark.parametrize("unset", ["absent", "null"])
def test_unset_settings_take_the_schema_default(config: dict[str, Any], unset: str) -> None:
    for name in DEFAULTS:
        config.pop(name, None)
        if unset == "null":
            config[name] = None
    target = TargetSnowflakeFinance(config=config, validate_config=True)

    assert {name: target.config[name] for name in DEFAULTS} == DEFAULTS
    # The values the code uses, through the target's own attributes.
    assert target.schema_name == DEFAULTS["schema"]
    assert target.stage_name == DEFAULTS["stage"]
    assert target.table_name("audit_table") == DEFAULTS["audit_table"]
    assert target.table_name("rejects_table") == DEFAULTS["rejects_table"]
    assert target.dead_letter_dir == Path(DEFAULTS["dead_letter_dir"])
