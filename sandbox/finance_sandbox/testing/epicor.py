"""Epicor emulator for tests: the `EpicorSandbox` handle and `epicor_sandbox*` fixtures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

__all__ = [
    "EpicorSandbox",
    "epicor_sandbox",
    "epicor_sandbox_factory",
    "epicor_sandbox_updated_on",
]

USERNAME = "integration"
PASSWORD = "sandbox-password"
API_KEY = "sandbox-api-key"
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
INSTANCE = "EpicorSandbox"
DEFAULT_INVOICES = 300
START_TIMEOUT_S = 600.0


class EpicorSandbox:
    """A running emulator subprocess (real HTTP), with helpers for its control API."""

    def __init__(self, data_dir: Path | None = None, **options: Any) -> None:
        # No latency model unless asked for, whatever $FINANCE_SANDBOX_LATENCY says.
        self.options = {"invoices": DEFAULT_INVOICES, "seed": 42, "latency": "off", **options}
        self.timezone = str(self.options.get("timezone", "America/Chicago"))
        self.company = "EPIC06"
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="epicor-sandbox-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "finance_sandbox.cli", "epicor", "--port", "0"]
        args += ["--data-dir", str(self.data_dir)]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value not in (False, None):
                args += [flag, str(value)]
        fd, log_name = tempfile.mkstemp(prefix="epicor-sandbox-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_name)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.port = self._wait_for_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/{INSTANCE}"
        self.token_url = f"{self.root}/connect/token"
        self.control_url = f"{self.root}/_sandbox"
        self.http = requests.Session()
        self._wait_until_healthy()

    # -- lifecycle -----------------------------------------------------------------------

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("EPICOR_SANDBOX_PORT="):
                    return int(line.split("=", 1)[1])
            if self.process.poll() is not None:
                raise RuntimeError(f"Epicor emulator exited early:\n{self.log()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"Epicor emulator did not start within {START_TIMEOUT_S}s:\n{self.log()}"
        )

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get(f"{self.control_url}/health", timeout=5).ok:
                    return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def log(self) -> str:
        """What the emulator printed (stdout and stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """Hard-kill the server (SIGKILL), as a crash would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self._cleanup()

    def stop(self) -> None:
        """Stop the server and remove its working copy of the database."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        for path in self.data_dir.glob(f"live-{self.process.pid}-*"):
            path.unlink(missing_ok=True)
        if hasattr(self, "http"):
            self.http.close()
        self.log_path.unlink(missing_ok=True)
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- client settings -----------------------------------------------------------------

    def tap_config(self, **overrides: Any) -> dict[str, Any]:
        """A complete tap-epicor-kinetic config (DESIGN §3 names) for this emulator."""
        config: dict[str, Any] = {
            "base_url": self.base_url,
            "company": self.company,
            "username": USERNAME,
            "password": PASSWORD,
            "api_key": API_KEY,
            "auth_method": "basic",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_url": self.token_url,
            "scope": "epicor_erp",
            "server_timezone": self.timezone,
            "start_date": "2000-01-01T00:00:00Z",
        }
        config.update(overrides)
        return config

    def odata_url(self, service: str, path: str = "", company: str | None = None) -> str:
        """`{base_url}/api/v2/odata/{company}/{service}/{path}`."""
        return f"{self.base_url}/api/v2/odata/{company or self.company}/{service}/{path}"

    def session(self) -> requests.Session:
        """A `requests` session with Basic auth and the API key, for direct calls in tests."""
        s = requests.Session()
        s.auth = (USERNAME, PASSWORD)
        s.headers.update({"x-api-key": API_KEY, "Accept": "application/json"})
        return s

    def call_method(self, service: str, method: str, body: dict[str, Any]) -> requests.Response:
        """POST a BO method (`Update`, `GetNew...`) as a Kinetic client does; dates as text."""
        with self.session() as s:
            return s.post(
                self.odata_url(service, method),
                data=json.dumps(body, default=str),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )

    # -- control API ---------------------------------------------------------------------

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, f"{self.control_url}/{path}", json=body, timeout=300)
        resp.raise_for_status()
        return resp.json()

    def health(self) -> dict[str, Any]:
        return dict(self._control("GET", "health"))

    def faults(self, **kw: Any) -> dict[str, Any]:
        """Set faults: latency_ms, error_rate, error_next, rate_limit_next, retry_after,
        license_exhausted_next, page_cap, token_ttl."""
        return dict(self._control("POST", "faults", kw))

    def clear_faults(self) -> dict[str, Any]:
        return dict(self._control("DELETE", "faults"))

    def expire_tokens(self) -> None:
        self._control("POST", "tokens/expire")

    def counters(self) -> dict[str, Any]:
        return dict(self._control("GET", "counters"))

    def reset_counters(self) -> None:
        self._control("DELETE", "counters")

    def activity(self, **counts: Any) -> dict[str, Any]:
        """Run the simulator once: a count per kind (`simulator.COUNT_KEYS`: new_invoices,
        changed_invoices, header_edits, line_edits, allocation_recodes, posted_invoices, new_pos,
        changed_pos, po_receipts, new_payments, new_unposted_payments, deleted_invoices,
        deleted_invoice_lines, deleted_po_lines, deleted_payments, late_invoices), plus
        `late_seconds` (None: until `commit_late()`) and `company`."""
        return dict(self._control("POST", "activity", counts))

    def auto_activity(self, every_requests: int, **counts: Any) -> dict[str, Any]:
        return dict(
            self._control("POST", "activity/auto", {"every_requests": every_requests, **counts})
        )

    def stop_auto_activity(self) -> None:
        self._control("DELETE", "activity/auto")

    def hold_commits(self, hold_next: int, seconds: float | None = 60) -> dict[str, Any]:
        """Hold the next `hold_next` write transactions: their SysRevIDs are taken now, their
        rows become visible `seconds` later (None: at `commit_late()`)."""
        body = {"hold_next": hold_next, "seconds": seconds}
        return dict(self._control("POST", "late-commits", body))

    def commit_late(self) -> dict[str, Any]:
        """Make every held transaction visible now."""
        return dict(self._control("POST", "late-commits/commit"))

    def truth(self, stream: str, company: str | None = None) -> list[dict[str, Any]]:
        """Current rows of a stream (every column); numbers with a fraction parse as Decimal."""
        resp = self.http.get(
            f"{self.control_url}/truth/{stream}",
            params={"company": company or self.company},
            timeout=300,
        )
        resp.raise_for_status()
        return [json.loads(line, parse_float=Decimal) for line in resp.text.splitlines() if line]


def _cache_dir(config: pytest.Config) -> Path:
    """Generated databases are cached across runs (keyed by seed and size)."""
    cache = getattr(config, "cache", None)  # absent with `-p no:cacheprovider`
    if cache is not None:
        return Path(cache.mkdir("finance-sandbox-epicor"))
    return Path(tempfile.gettempdir(), "finance-sandbox-epicor")


@pytest.fixture(scope="session")
def epicor_sandbox(request: pytest.FixtureRequest) -> Iterator[EpicorSandbox]:
    """A running emulator: default options, seed 42, 300 invoices (shared by the session)."""
    sandbox = EpicorSandbox(_cache_dir(request.config))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def epicor_sandbox_updated_on(request: pytest.FixtureRequest) -> Iterator[EpicorSandbox]:
    """Like `epicor_sandbox` but started with `--updated-on`, for tests of the UpdatedOn path."""
    sandbox = EpicorSandbox(_cache_dir(request.config), updated_on=True)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def epicor_sandbox_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., EpicorSandbox]]:
    """Start fresh emulators with CLI options (`page_cap=37`, `updated_on=True`, ...)."""
    started: list[EpicorSandbox] = []

    def start(**options: Any) -> EpicorSandbox:
        sandbox = EpicorSandbox(_cache_dir(request.config), **options)
        started.append(sandbox)
        return sandbox

    try:
        yield start
    finally:
        for sandbox in started:
            sandbox.stop()
