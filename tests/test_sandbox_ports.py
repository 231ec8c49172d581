"""`make demo` / `make sandbox-up` run anywhere: ports come from EPICOR_PORT and SNOWFLAKE_PORT."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import ROOT, clean_env
from finance_sandbox.services import read_env_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finance_sandbox.cli", *args, "--dir", str(directory)],
        cwd=ROOT,
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    sandbox(tmp_path, "down")


def test_ports_from_the_environment_reach_the_env_file(directory: Path) -> None:
    snowflake_port = free_port()
    up = sandbox(
        directory, "up", "--invoices", "5", EPICOR_PORT="0", SNOWFLAKE_PORT=str(snowflake_port)
    )
    assert up.returncode == 0, up.stdout + up.stderr
    env = read_env_file(directory / "sandbox.env")
    assert env["SNOWFLAKE_PORT"] == env["TARGET_SNOWFLAKE_FINANCE_PORT"] == str(snowflake_port)
    epicor_port = int(env["EPICOR_PORT"])
    assert epicor_port not in (0, 8701)
    assert env["EPICOR_SANDBOX_URL"] == f"http://127.0.0.1:{epicor_port}"


def test_a_taken_port_names_the_variable_to_set(directory: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = sandbox(directory, "up", "--invoices", "5", EPICOR_PORT=str(port), SNOWFLAKE_PORT="0")
    assert up.returncode != 0
    message = up.stdout + up.stderr
    assert f"port {port}" in message
    assert "EPICOR_PORT=" in message, message
