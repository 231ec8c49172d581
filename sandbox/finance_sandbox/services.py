"""`finance-sandbox up|down|status`: both local systems in the background, for Make and Meltano."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

DEFAULT_DIR = ".sandbox"
DEFAULT_EPICOR_PORT = 8701
DEFAULT_SNOWFLAKE_PORT = 8702
# `make demo` and `make sandbox-up` cannot pass options: the ports come from these variables.
PORT_VARIABLES = {"epicor": "EPICOR_PORT", "snowflake": "SNOWFLAKE_PORT"}
HOST = "127.0.0.1"

# Fixed sandbox connection values (sandbox/README.md "Connection values").
EPICOR_INSTANCE = "EpicorSandbox"
EPICOR_COMPANY = "EPIC06"
EPICOR_USERNAME = "integration"
EPICOR_PASSWORD = "sandbox-password"
EPICOR_API_KEY = "sandbox-api-key"
EPICOR_CLIENT_ID = "sandbox-client"
EPICOR_CLIENT_SECRET = "sandbox-secret"
EPICOR_SCOPE = "epicor_erp"
EPICOR_DEFAULT_TIMEZONE = "America/Chicago"

SNOWFLAKE_ACCOUNT = "fakesnow"
SNOWFLAKE_USER = "FINANCE_LOADER"
SNOWFLAKE_ROLE = "FINANCE_LOADER"
SNOWFLAKE_WAREHOUSE = "SANDBOX_WH"
SNOWFLAKE_DATABASE = "FINANCE"
SNOWFLAKE_SCHEMA = "EPICOR"
SNOWFLAKE_KEY_PASSPHRASE = "sandbox-key-passphrase"

_PORT_LINE = re.compile(r"^(EPICOR|SNOWFLAKE)_SANDBOX_PORT=(\d+)\s*$", re.M)


@dataclass
class Service:
    """One background server: where its pid, command and log live under the sandbox directory."""

    name: str
    label: str
    directory: Path

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def cmd_file(self) -> Path:
        return self.directory / f"{self.name}.cmd.json"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file counts as not running)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def recorded(self) -> dict[str, object]:
        try:
            data = json.loads(self.cmd_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def port(self) -> int | None:
        """The port it listens on: as requested, or as printed by the server for `--port 0`."""
        requested = self.recorded().get("port")
        if isinstance(requested, int) and requested != 0:
            return requested
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return None
        ports = [int(m.group(2)) for m in _PORT_LINE.finditer(text)]
        return ports[-1] if ports else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no procfs (macOS): trust the signal check
    try:
        stat = (proc / "stat").read_text()
        text = (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False  # exited, not yet reaped
    # A recycled pid belongs to some other program: not ours.
    return not text or "finance_sandbox" in text or "finance-sandbox" in text


def _services(directory: Path) -> tuple[Service, Service]:
    return (
        Service("epicor", "Epicor emulator", directory),
        Service("snowflake", "local Snowflake", directory),
    )


def _epicor_answers(port: int) -> dict[str, object] | None:
    try:
        response = requests.get(f"http://{HOST}:{port}/_sandbox/health", timeout=2)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else {}


def _port_open(port: int) -> bool:
    """Something accepts TCP connections on the port (how the local Snowflake is checked)."""
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def _answers(service: Service) -> bool:
    port = service.port()
    if port is None:
        return False
    if service.name == "epicor":
        return _epicor_answers(port) is not None
    return _port_open(port)


def _log_tail(service: Service, lines: int = 15) -> str:
    try:
        text = service.log_file.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _start(service: Service, argv: list[str], port: int) -> subprocess.Popen[bytes]:
    """Start the server detached from this process (own session, so `up` can exit)."""
    service.directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "finance_sandbox.cli", service.name, *argv]
    with service.log_file.open("w") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service.pid_file.write_text(f"{process.pid}\n")
    service.cmd_file.write_text(json.dumps({"argv": argv, "port": port}))
    return process


def _stop(service: Service, timeout: float = 15.0) -> bool:
    """Stop the server (SIGTERM, then SIGKILL after `timeout`); True if one was running."""
    pid = service.pid()
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
    for path in (service.pid_file, service.cmd_file):
        path.unlink(missing_ok=True)
    return pid is not None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return


def _wait_until_ready(service: Service, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll until the server answers; show progress, fail with its log if it dies or hangs."""
    started = time.monotonic()
    next_note = started + 5
    while True:
        if _answers(service):
            return
        if process.poll() is not None:
            service.pid_file.unlink(missing_ok=True)
            raise SandboxError(
                f"{service.label} exited during start-up. Last lines of {service.log_file}:\n"
                f"{_log_tail(service)}"
            )
        now = time.monotonic()
        if now - started > timeout:
            raise SandboxError(
                f"{service.label} did not answer within {timeout:.0f}s (raise --timeout for large "
                f"data sets). Last lines of {service.log_file}:\n{_log_tail(service)}"
            )
        if now >= next_note:
            print(f"  ... waiting for the {service.label} ({now - started:.0f}s)", flush=True)  # noqa: T201
            next_note = now + 5
        time.sleep(0.2)


class SandboxError(Exception):
    """A sandbox service could not be started; the message says why and where the log is."""


def _ensure(service: Service, argv: list[str], port: int, timeout: float) -> str:
    """Reuse the running server when it was started the same way, else (re)start it."""
    pid = service.pid()
    if pid is not None:
        same = service.recorded() == {"argv": argv, "port": port}
        if same and _answers(service):
            return f"{service.label}: already running (pid {pid}, port {service.port()})"
        _stop(service)
        verb = "restarted with new options" if not same else "restarted (it did not answer)"
    else:
        verb = "started"
    if port != 0 and _port_open(port):
        variable = PORT_VARIABLES[service.name]
        raise SandboxError(
            f"port {port} for the {service.label} is taken by another program; stop it, or "
            f"choose another port: {variable}=<port> (0 picks a free one), e.g. "
            f"`{variable}=0 make demo`, or --{service.name}-port with `finance-sandbox up`"
        )
    process = _start(service, argv, port)
    print(f"{service.label}: starting (pid {process.pid}, log {service.log_file}) ...", flush=True)  # noqa: T201
    try:
        _wait_until_ready(service, process, timeout)
    except SandboxError:
        _stop(service)
        raise
    return f"{service.label}: {verb} (pid {process.pid}, port {service.port()})"


def ensure_key_pair(directory: Path) -> Path:
    """An encrypted PKCS#8 RSA key for the target's key-pair auth (kept across runs)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key_path = directory / "snowflake_key.p8"
    if key_path.exists():
        return key_path.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(SNOWFLAKE_KEY_PASSPHRASE.encode()),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_path.write_bytes(pem)
    key_path.chmod(0o600)
    (directory / "snowflake_key.pub").write_bytes(public)
    return key_path.resolve()


def env_values(
    epicor_port: int, snowflake_port: int, timezone: str, key_path: Path
) -> dict[str, str]:
    """Every setting Meltano and Make need to reach the sandbox, as environment variables."""
    epicor_root = f"http://{HOST}:{epicor_port}"
    return {
        "EPICOR_SANDBOX_URL": epicor_root,
        "TAP_EPICOR_KINETIC_BASE_URL": f"{epicor_root}/{EPICOR_INSTANCE}",
        "TAP_EPICOR_KINETIC_COMPANY": EPICOR_COMPANY,
        "TAP_EPICOR_KINETIC_AUTH_METHOD": "basic",
        "TAP_EPICOR_KINETIC_USERNAME": EPICOR_USERNAME,
        "TAP_EPICOR_KINETIC_PASSWORD": EPICOR_PASSWORD,
        "TAP_EPICOR_KINETIC_API_KEY": EPICOR_API_KEY,
        "TAP_EPICOR_KINETIC_CLIENT_ID": EPICOR_CLIENT_ID,
        "TAP_EPICOR_KINETIC_CLIENT_SECRET": EPICOR_CLIENT_SECRET,
        "TAP_EPICOR_KINETIC_TOKEN_URL": f"{epicor_root}/connect/token",
        "TAP_EPICOR_KINETIC_SCOPE": EPICOR_SCOPE,
        "TAP_EPICOR_KINETIC_SERVER_TIMEZONE": timezone,
        "EPICOR_PORT": str(epicor_port),
        "SNOWFLAKE_PORT": str(snowflake_port),
        "SNOWFLAKE_SANDBOX_PORT": str(snowflake_port),
        "TARGET_SNOWFLAKE_FINANCE_HOST": HOST,
        "TARGET_SNOWFLAKE_FINANCE_PORT": str(snowflake_port),
        "TARGET_SNOWFLAKE_FINANCE_PROTOCOL": "http",
        "TARGET_SNOWFLAKE_FINANCE_ACCOUNT": SNOWFLAKE_ACCOUNT,
        "TARGET_SNOWFLAKE_FINANCE_USER": SNOWFLAKE_USER,
        "TARGET_SNOWFLAKE_FINANCE_ROLE": SNOWFLAKE_ROLE,
        "TARGET_SNOWFLAKE_FINANCE_WAREHOUSE": SNOWFLAKE_WAREHOUSE,
        "TARGET_SNOWFLAKE_FINANCE_DATABASE": SNOWFLAKE_DATABASE,
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": SNOWFLAKE_SCHEMA,
        "TARGET_SNOWFLAKE_FINANCE_AUTH_METHOD": "key_pair",
        "TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PATH": str(key_path),
        "TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PASSPHRASE": SNOWFLAKE_KEY_PASSPHRASE,
    }


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """KEY=value lines that make (include), a shell (`. file`) and Meltano (--env-file) read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"# written by `finance-sandbox up` at {stamp}; local sandbox values, not secrets"]
    lines += [f"{key}={value}" for key, value in values.items()]
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=value pairs of an env file written by `up` (comments and blanks skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _up(args: argparse.Namespace, epicor_options: list[str]) -> int:
    directory = Path(args.dir)
    epicor, snowflake = _services(directory)
    epicor_argv = [
        "--port",
        str(args.epicor_port),
        "--data-dir",
        str(directory / "epicor"),
        "--timezone",
        args.timezone,
        *epicor_options,
        *(["--latency", args.latency] if args.latency else []),
    ]
    snowflake_argv = [
        "--port",
        str(args.snowflake_port),
        "--data-dir",
        str(directory / "snowflake"),
        *(["--latency", args.latency] if args.latency else []),
    ]
    try:
        key_path = ensure_key_pair(directory)
        notes = [
            _ensure(snowflake, snowflake_argv, args.snowflake_port, args.timeout),
            _ensure(epicor, epicor_argv, args.epicor_port, args.timeout),
        ]
    except SandboxError as error:
        print(f"finance-sandbox up: {error}", file=sys.stderr)  # noqa: T201
        return 1
    epicor_port, snowflake_port = epicor.port(), snowflake.port()
    if epicor_port is None or snowflake_port is None:
        print("finance-sandbox up: a server answered but its port is unknown", file=sys.stderr)  # noqa: T201
        return 1
    env_file = Path(args.env_file)
    write_env_file(env_file, env_values(epicor_port, snowflake_port, args.timezone, key_path))
    for note in notes:
        print(note)  # noqa: T201
    print(f"connection settings written to {env_file}")  # noqa: T201
    return 0


def _down(args: argparse.Namespace) -> int:
    for service in _services(Path(args.dir)):
        was_running = _stop(service)
        print(f"{service.label}: {'stopped' if was_running else 'not running'}")  # noqa: T201
    return 0


def _status(args: argparse.Namespace) -> int:
    all_up = True
    for service in _services(Path(args.dir)):
        pid = service.pid()
        if pid is None:
            all_up = False
            print(f"{service.label}: not running")  # noqa: T201
            continue
        answering = _answers(service)
        all_up = all_up and answering
        state = "running" if answering else "running but not answering"
        where = f"pid {pid}, port {service.port()}, log {service.log_file}"
        print(f"{service.label}: {state} ({where})")  # noqa: T201
    env_file = Path(args.env_file)
    if all_up and env_file.exists():
        print(f"connection settings: {env_file}")  # noqa: T201
    # LSB convention: 3 = not running, so scripts can test `finance-sandbox status`.
    return 0 if all_up else 3


def _port_from_env(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) > 65535:
        raise SystemExit(f"{variable}={value!r} is not a port: use 1-65535, or 0 for a free one")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finance-sandbox",
        description="Start, stop or inspect the local Epicor emulator and Snowflake.",
        epilog="Options `up` does not know (e.g. --invoices, --seed, --page-cap) go to the Epicor "
        "emulator; see `finance-sandbox epicor --help`.",
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--dir", default=DEFAULT_DIR, help="pid files, logs and data (default .sandbox)"
    )
    parser.add_argument(
        "--env-file",
        default=None,
        help="where `up` writes the connection settings (default <dir>/sandbox.env)",
    )
    parser.add_argument(
        "--epicor-port",
        type=int,
        default=_port_from_env("EPICOR_PORT", DEFAULT_EPICOR_PORT),
        help=f"0 = any free port (default: $EPICOR_PORT, else {DEFAULT_EPICOR_PORT})",
    )
    parser.add_argument(
        "--snowflake-port",
        type=int,
        default=_port_from_env("SNOWFLAKE_PORT", DEFAULT_SNOWFLAKE_PORT),
        help=f"0 = any free port (default: $SNOWFLAKE_PORT, else {DEFAULT_SNOWFLAKE_PORT})",
    )
    parser.add_argument(
        "--timezone", default=EPICOR_DEFAULT_TIMEZONE, help="Epicor server time zone (IANA)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for each server (default 900)"
    )
    parser.add_argument(
        "--latency",
        default=None,
        help="latency model for both servers: off, default, or a JSON file "
        "(default: $FINANCE_SANDBOX_LATENCY, else off; see benchmarks/README.md)",
    )
    return parser


def main(argv: list[str]) -> int:
    """Entry point for `finance-sandbox up|down|status`; returns the exit code."""
    args, rest = _parser().parse_known_args(argv)
    if args.env_file is None:
        args.env_file = str(Path(args.dir) / "sandbox.env")
    if args.command == "up":
        return _up(args, rest)
    if rest:
        print(f"finance-sandbox {args.command}: unexpected options {rest}", file=sys.stderr)  # noqa: T201
        return 2
    if args.command == "down":
        return _down(args)
    return _status(args)
