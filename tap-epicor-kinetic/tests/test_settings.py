"""Settings users trip on: companies alone, base_url spelt several ways, unreachable hosts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest


def _catalog(tap_runner: Any, sandbox: Any, tmp_path: Path) -> str:
    catalog = tap_runner.select_only(sandbox.tap_config(), {"vendors"})
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return str(path)


def test_companies_alone_is_enough(epicor_sandbox: Any, tap_runner: Any) -> None:
    config = epicor_sandbox.tap_config(companies=[epicor_sandbox.company])
    del config["company"]
    catalog = tap_runner.select_only(config, {"vendors"})
    result = tap_runner.sync(config, catalog=catalog)
    assert len(result.records["vendors"]) == len(epicor_sandbox.truth("vendors"))


@pytest.mark.parametrize("suffix", ["/", "/api/v2", "/api/v2/", "/api/v2/odata", "//"])
def test_base_url_with_api_path_or_trailing_slash_works(
    epicor_sandbox: Any, tap_runner: Any, suffix: str
) -> None:
    config = epicor_sandbox.tap_config(base_url=epicor_sandbox.base_url + suffix)
    catalog = tap_runner.select_only(config, {"vendors"})
    seen: list[str] = []
    result = tap_runner.sync(config, catalog=catalog, on_response=lambda r: seen.append(r.url))
    assert len(result.records["vendors"]) == len(epicor_sandbox.truth("vendors"))
    assert seen
    assert all("/EpicorSandbox/api/v2/odata/EPIC06/" in url for url in seen)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:9/EpicorSandbox",  # discard port: nothing listens, refused
        "http://erp.does-not-exist.invalid/EpicorSandbox",  # RFC 2606: never resolves
    ],
)
@pytest.mark.parametrize("auth_method", ["basic", "token"])
def test_an_unreachable_host_fails_at_once_naming_base_url(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path, base_url: str, auth_method: str
) -> None:
    config = epicor_sandbox.tap_config(base_url=base_url, auth_method=auth_method)
    catalog = _catalog(tap_runner, epicor_sandbox, tmp_path)
    started = time.monotonic()
    run = tap_runner.run_cli(tmp_path, config, "--catalog", catalog)
    elapsed = time.monotonic() - started
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "base_url" in last
    assert "retry" not in run.stderr  # no five retries with backoff (1+2+4+8+16 s)
    assert elapsed < 15
    assert "Traceback" not in run.stderr


BAD_SETTINGS = {
    "no-company-at-all": ({"company": None}, "company"),
    "empty-companies": ({"company": None, "companies": []}, "company"),
    "page_size-zero": ({"page_size": 0}, "page_size"),
    "max_concurrent_requests-zero": ({"max_concurrent_requests": 0}, "max_concurrent_requests"),
    "server_timezone-unknown": ({"server_timezone": "Mars/Base"}, "server_timezone"),
    "start_date-garbage": ({"start_date": "soon"}, "start_date"),
    "auth_method-missing-password": ({"password": None}, "password"),
    "base_url-not-http": ({"base_url": "ftp://erp/EpicorSandbox"}, "base_url"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_a_setting_error_comes_first_and_alone(
    epicor_sandbox: Any, tap_runner: Any, tmp_path: Path, case: str
) -> None:
    overrides, setting = BAD_SETTINGS[case]
    config = {
        k: v for k, v in {**epicor_sandbox.tap_config(), **overrides}.items() if v is not None
    }
    catalog = _catalog(tap_runner, epicor_sandbox, tmp_path)  # (discovery reads $metadata)
    epicor_sandbox.reset_counters()
    run = tap_runner.run_cli(tmp_path, config, "--catalog", catalog)
    assert run.returncode != 0
    assert setting in run.stderr.strip().splitlines()[-1]
    assert "while syncing" not in run.stderr
    assert "Beginning sync" not in run.stderr
    assert "Traceback" not in run.stderr
    # Checked before anything is asked of Epicor.
    assert sum(sum(s.values()) for s in epicor_sandbox.counters()["by_route"].values()) == 0
