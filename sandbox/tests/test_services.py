"""`finance-sandbox up|down|status`: background servers, reuse, env file, clean stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from finance_sandbox.demo import snowflake_connect
from finance_sandbox.services import read_env_file

EXPECTED_KEYS = {
    "EPICOR_SANDBOX_URL",
    "TAP_EPICOR_KINETIC_BASE_URL",
    "TAP_EPICOR_KINETIC_COMPANY",
    "TAP_EPICOR_KINETIC_USERNAME",
    "TAP_EPICOR_KINETIC_PASSWORD",
    "TAP_EPICOR_KINETIC_API_KEY",
    "TAP_EPICOR_KINETIC_SERVER_TIMEZONE",
    "TARGET_SNOWFLAKE_FINANCE_HOST",
    "TARGET_SNOWFLAKE_FINANCE_PORT",
    "TARGET_SNOWFLAKE_FINANCE_PROTOCOL",
    "TARGET_SNOWFLAKE_FINANCE_ACCOUNT",
    "TARGET_SNOWFLAKE_FINANCE_USER",
    "TARGET_SNOWFLAKE_FINANCE_DATABASE",
    "TARGET_SNOWFLAKE_FINANCE_SCHEMA",
    "TARGET_SNOWFLAKE_FINANCE_WAREHOUSE",
    "TARGET_SNOWFLAKE_FINANCE_ROLE",
    "TARGET_SNOWFLAKE_FINANCE_AUTH_METHOD",
    "TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PATH",
    "TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PASSPHRASE",
}


def sandbox(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finance_sandbox.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def pids(cwd: Path) -> dict[str, int]:
    return {
        name: int((cwd / ".sandbox" / f"{name}.pid").read_text())
        for name in ("epicor", "snowflake")
        if (cwd / ".sandbox" / f"{name}.pid").exists()
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] != "Z"


def invoices(env: dict[str, str]) -> int:
    """AP invoices of the main company the emulator serves (its --invoices)."""
    truth = requests.get(
        f"{env['EPICOR_SANDBOX_URL']}/_sandbox/truth/ap_invoices",
        params={"company": env["TAP_EPICOR_KINETIC_COMPANY"]},
        timeout=30,
    )
    assert truth.status_code == 200, truth.text
    return len(truth.text.splitlines())


@pytest.fixture
def workdir(tmp_path: Path):
    yield tmp_path
    sandbox(tmp_path, "down")


def test_up_starts_both_writes_env_file_and_down_stops_them(workdir: Path) -> None:
    up = sandbox(workdir, "up", "--epicor-port", "0", "--snowflake-port", "0", "--invoices", "40")
    assert up.returncode == 0, up.stderr + up.stdout
    env = read_env_file(workdir / ".sandbox" / "sandbox.env")
    assert env.keys() >= EXPECTED_KEYS

    # The Epicor values work against the emulator: auth, API key and company as written.
    vendors = requests.get(
        f"{env['TAP_EPICOR_KINETIC_BASE_URL']}/api/v2/odata/"
        f"{env['TAP_EPICOR_KINETIC_COMPANY']}/Erp.BO.VendorSvc/Vendors",
        params={"$top": "1", "$select": "VendorNum"},
        auth=(env["TAP_EPICOR_KINETIC_USERNAME"], env["TAP_EPICOR_KINETIC_PASSWORD"]),
        headers={"x-api-key": env["TAP_EPICOR_KINETIC_API_KEY"]},
        timeout=10,
    )
    assert vendors.status_code == 200, vendors.text
    assert len(vendors.json()["value"]) == 1
    assert invoices(env) == 40

    # The Snowflake values work with the real connector and the generated encrypted key.
    conn = snowflake_connect(env)
    try:
        assert conn.cursor().execute("SELECT 1").fetchone() == (1,)
    finally:
        conn.close()

    status = sandbox(workdir, "status")
    assert status.returncode == 0
    assert "Epicor emulator: running" in status.stdout
    assert "local Snowflake: running" in status.stdout

    running = pids(workdir)
    down = sandbox(workdir, "down")
    assert down.returncode == 0
    assert not any(alive(pid) for pid in running.values())
    after = sandbox(workdir, "status")
    assert after.returncode == 3
    assert "not running" in after.stdout


def test_up_twice_reuses_running_servers_and_restarts_on_new_options(workdir: Path) -> None:
    args = ["up", "--epicor-port", "0", "--snowflake-port", "0", "--invoices", "30"]
    assert sandbox(workdir, *args).returncode == 0
    first = pids(workdir)

    again = sandbox(workdir, *args)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert pids(workdir) == first

    changed = sandbox(workdir, *args[:-1], "31")
    assert changed.returncode == 0, changed.stderr
    assert "restarted with new options" in changed.stdout
    assert pids(workdir)["snowflake"] == first["snowflake"]
    assert pids(workdir)["epicor"] != first["epicor"]
    env = read_env_file(workdir / ".sandbox" / "sandbox.env")
    assert invoices(env) == 31


def test_up_names_the_taken_port_and_fails(workdir: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        up = sandbox(workdir, "up", "--epicor-port", "0", "--snowflake-port", str(port))
    assert up.returncode == 1
    assert f"port {port}" in up.stderr
    assert "--snowflake-port" in up.stderr
    assert pids(workdir) == {}


def test_emulator_that_cannot_start_fails_with_its_log(workdir: Path) -> None:
    up = sandbox(workdir, "up", "--epicor-port", "0", "--snowflake-port", "0", "--no-such-flag")
    assert up.returncode == 1
    assert "Epicor emulator exited during start-up" in up.stderr
    assert "--no-such-flag" in up.stderr  # the emulator's own message, from its log
