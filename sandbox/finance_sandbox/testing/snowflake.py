"""Local Snowflake for tests: `SnowflakeSandbox` and the session fixture `snowflake_sandbox`."""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SnowflakeSandbox", "snowflake_sandbox"]

SANDBOX_ACCOUNT = "fakesnow"
SANDBOX_USER = "LOADER"
SANDBOX_ROLE = "LOADER_ROLE"
SANDBOX_WAREHOUSE = "SANDBOX_WH"
SANDBOX_DATABASE = "SANDBOX_DB"
SANDBOX_SCHEMA = "FINANCE"
KEY_PASSPHRASE = "sandbox-key-passphrase"
_PORT_RE = re.compile(r"SNOWFLAKE_SANDBOX_PORT=(\d+)")


def generate_encrypted_key(passphrase: str = KEY_PASSPHRASE) -> str:
    """A fresh RSA 2048 key as encrypted PKCS#8 PEM (`BEGIN ENCRYPTED PRIVATE KEY`)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()


def add_fault(
    url: str, match: str, times: int, code: str, *, delay_s: float = 0.0, after: bool = False
) -> None:
    """Inject a statement fault into the local Snowflake at `url` (see `fail_next`)."""
    import requests

    response = requests.post(
        f"{url}/_sandbox/faults",
        json={"match": match, "times": times, "code": code, "delay_s": delay_s, "after": after},
        timeout=10,
    )
    response.raise_for_status()


class SnowflakeSandbox:
    """A `finance-sandbox snowflake` subprocess on a free port, with its data in a temp dir."""

    def __init__(
        self,
        data_dir: Path | None = None,
        startup_timeout: float = 60.0,
        latency: str | Path | None = None,
    ) -> None:
        """`latency`: a latency model (`default` or a JSON file); off when None, whatever
        $FINANCE_SANDBOX_LATENCY says, so that a test's timing never depends on the shell."""
        self._tmp = tempfile.TemporaryDirectory(prefix="snowflake-sandbox-")
        self.root = Path(self._tmp.name)
        self.data_dir = data_dir or self.root / "data"
        self.host = "127.0.0.1"
        self.private_key_pem = generate_encrypted_key()
        self.private_key_passphrase = KEY_PASSPHRASE
        self.private_key_path = self.root / "rsa_key.p8"
        self.private_key_path.write_text(self.private_key_pem)
        self.private_key_path.chmod(0o600)
        self._log = (self.root / "server.log").open("wb")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "finance_sandbox.cli",
                "snowflake",
                "--host",
                self.host,
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
                "--latency",
                str(latency or "off"),
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.port = self._read_port(startup_timeout)
        self._conn: Any = None
        self._lock = threading.Lock()

    def _read_port(self, timeout: float) -> int:
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"local Snowflake exited early; see {self.root / 'server.log'}")
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.1)
            if ready:
                buffer += os.read(self._proc.stdout.fileno(), 4096)
                if match := _PORT_RE.search(buffer.decode(errors="replace")):
                    return int(match.group(1))
        self.stop()
        raise RuntimeError(f"local Snowflake did not report its port in {timeout}s")

    def connect_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for `snowflake.connector.connect` (password: fakesnow checks none)."""
        kwargs: dict[str, Any] = {
            "account": SANDBOX_ACCOUNT,
            "user": SANDBOX_USER,
            "password": "sandbox-password",
            "role": SANDBOX_ROLE,
            "warehouse": SANDBOX_WAREHOUSE,
            "database": SANDBOX_DATABASE,
            "schema": SANDBOX_SCHEMA,
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "login_timeout": 30,
        }
        kwargs.update(overrides)
        return kwargs

    def connect(self, **overrides: Any) -> Any:
        """A new connection from the real connector."""
        import snowflake.connector

        return snowflake.connector.connect(**self.connect_kwargs(**overrides))

    def target_config(self, **overrides: Any) -> dict[str, Any]:
        """A complete target config: key-pair auth with an encrypted PKCS#8 key."""
        dead_letter = tempfile.mkdtemp(prefix="dead-letter-", dir=self.root)
        config: dict[str, Any] = {
            "account": SANDBOX_ACCOUNT,
            "user": SANDBOX_USER,
            "role": SANDBOX_ROLE,
            "warehouse": SANDBOX_WAREHOUSE,
            "database": SANDBOX_DATABASE,
            "schema": SANDBOX_SCHEMA,
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "auth_method": "key_pair",
            "private_key": self.private_key_pem,
            "private_key_passphrase": self.private_key_passphrase,
            "dead_letter_dir": dead_letter,
        }
        config.update(overrides)
        return config

    def unique_schema(self, prefix: str = "T") -> str:
        """A schema name no other test uses (tests share one server)."""
        return f"{prefix.upper()}_{uuid.uuid4().hex[:10].upper()}"

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement on a shared connection and return its rows."""
        with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = self.connect()
            cur = self._conn.cursor()
            try:
                cur.execute(sql, params)
                return list(cur.fetchall())
            finally:
                cur.close()

    def fail_next(
        self,
        match: str,
        times: int = 1,
        code: str = "000608",
        delay_s: float = 0.0,
        after: bool = False,
    ) -> None:
        """Answer the next `times` statements matching regex `match` with Snowflake error `code`.

        Codes: see `finance_sandbox.snowflake.FAULT_MESSAGES`; `hold` only holds the statement
        for `delay_s`, then runs it. `delay_s` holds each matching
        statement that long first. `after=True` runs the statement and then answers with the
        error (e.g. a COMMIT that took effect but whose response was lost); with `delay_s` too,
        that answer comes `delay_s` late.
        """
        add_fault(
            f"http://{self.host}:{self.port}", match, times, code, delay_s=delay_s, after=after
        )

    def faults(self) -> list[dict[str, Any]]:
        """The injected faults: match, times left, code, delay_s and how often each was taken."""
        import requests

        response = requests.get(f"http://{self.host}:{self.port}/_sandbox/faults", timeout=10)
        response.raise_for_status()
        return list(response.json()["faults"])

    def add_user(self, name: str, rsa_public_key: str) -> None:
        """From now on, check logins: `name` logs in only with the key `rsa_public_key` (PEM)."""
        import requests

        response = requests.post(
            f"http://{self.host}:{self.port}/_sandbox/users",
            json={"name": name, "rsa_public_key": rsa_public_key},
            timeout=10,
        )
        response.raise_for_status()

    def clear_users(self) -> None:
        """Let every login in again."""
        import requests

        requests.delete(f"http://{self.host}:{self.port}/_sandbox/users", timeout=10)

    def public_key_pem(self) -> str:
        """The public half of the key pair: what `ALTER USER … SET RSA_PUBLIC_KEY` takes."""
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(
            self.private_key_pem.encode(), self.private_key_passphrase.encode()
        )
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def clear_faults(self) -> None:
        """Drop every injected fault."""
        import requests

        requests.delete(f"http://{self.host}:{self.port}/_sandbox/faults", timeout=10)

    def define_role(self, role: str, grants: list[str]) -> None:
        """Make `role` a restricted role holding exactly these `GRANT … TO ROLE` statements.

        Its sessions are then refused everything else, with Snowflake's errors (003001, 002003).
        Other roles stay unrestricted.
        """
        import requests

        response = requests.post(
            f"http://{self.host}:{self.port}/_sandbox/roles",
            json={"role": role, "grants": grants},
            timeout=10,
        )
        response.raise_for_status()

    def role_statements(self, role: str) -> list[str]:
        """Every statement the sessions of a restricted role sent, refused ones included."""
        import requests

        response = requests.get(
            f"http://{self.host}:{self.port}/_sandbox/roles/{role}/statements", timeout=10
        )
        response.raise_for_status()
        return list(response.json()["statements"])

    def abort_idle_transactions(self, idle_seconds: float = 0) -> int:
        """Roll back transactions left open by clients that went away (e.g. a killed target)."""
        import requests

        response = requests.post(
            f"http://{self.host}:{self.port}/_sandbox/sessions/abort-idle",
            json={"idle_seconds": idle_seconds},
            timeout=30,
        )
        response.raise_for_status()
        return int(response.json()["aborted"])

    def stop(self) -> None:
        """Stop the server and remove its data."""
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                self._conn.close()
            self._conn = None
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._log.close()
        self._tmp.cleanup()


@pytest.fixture(scope="session")
def snowflake_sandbox() -> Iterator[SnowflakeSandbox]:
    """One local Snowflake for the whole test session (use `unique_schema()` per test)."""
    sandbox = SnowflakeSandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()
