"""Config as Meltano passes it for settings nobody set: nested SDK settings arrive as nulls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# What `meltano invoke --dump=config` shows for a plugin added from a Hub definition that lists
# the SDK's nested settings, with none of them set.
MELTANO_UNSET = {
    "stream_maps": {"__else__": None},
    "faker_config": {"seed": None, "locale": None},
    "batch_config": {
        "encoding": {"format": None, "compression": None},
        "storage": {"root": None, "prefix": None},
    },
}


def test_unset_nested_sdk_settings_from_meltano_extract_every_stream(
    tmp_path: Path, epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = {**epicor_sandbox.tap_config(), **MELTANO_UNSET}
    catalog = tap_runner.select_only(epicor_sandbox.tap_config(), {"vendors"})
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    run = tap_runner.run_cli(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))
    assert run.returncode == 0, run.stderr[-3000:]
    result = tap_runner.SyncResult.parse(run.stdout)
    expected = len(epicor_sandbox.truth("vendors"))
    assert result.counts() == {"vendors": expected}


def _run_with_catalog(
    tmp_path: Path, tap_runner: Any, config: dict[str, Any], catalog: dict[str, Any]
) -> Any:
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    return tap_runner.run_cli(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))


def test_stream_maps_that_exclude_every_selected_stream_fail_before_any_state(
    tmp_path: Path, epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config()
    catalog = tap_runner.select_only(config, {"vendors", "parts"})
    mapped = {**config, "stream_maps": {"vendors": None, "__else__": None}}
    run = _run_with_catalog(tmp_path, tap_runner, mapped, catalog)
    assert run.returncode == 1
    assert '"STATE"' not in run.stdout
    last = run.stderr.strip().splitlines()[-1]
    assert "stream_maps exclude every selected stream (vendors, parts)" in last, last
    assert "Traceback" not in run.stderr


def test_a_catalog_without_selected_streams_fails_before_any_state(
    tmp_path: Path, epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config()
    catalog = tap_runner.select_only(config, set())
    run = _run_with_catalog(tmp_path, tap_runner, config, catalog)
    assert run.returncode == 1
    assert '"STATE"' not in run.stdout
    assert "No stream is selected" in run.stderr.strip().splitlines()[-1]


def test_stream_maps_that_keep_one_selected_stream_still_run(
    tmp_path: Path, epicor_sandbox: Any, tap_runner: Any
) -> None:
    config = epicor_sandbox.tap_config()
    catalog = tap_runner.select_only(config, {"vendors", "parts"})
    mapped = {**config, "stream_maps": {"vendors": None}}
    run = _run_with_catalog(tmp_path, tap_runner, mapped, catalog)
    assert run.returncode == 0, run.stderr[-2000:]
    assert set(tap_runner.SyncResult.parse(run.stdout).counts()) == {"parts"}
