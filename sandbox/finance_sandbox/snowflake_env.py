"""The local Snowflake runs in an environment of its own (fakesnow + snowflake-connector 4).

fakesnow 0.12.1 cannot import snowflake-connector-python 5 (reference §6.2), while the target is
locked with connector 5. So the test double must not dictate the plugins' dependencies: the
server runs from a separate virtual environment, built once from the pinned
`snowflake-server.txt` next to this file (with uv when it is there, else venv + pip), and
`finance-sandbox snowflake` re-executes itself in it (same process id, so pid files and signals
keep working). The environment lives in the current environment's prefix, so a fresh `uv sync`
(a new `.venv`) builds it anew.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("snowflake-server.txt")
# An interpreter that can already run the server (skips building the environment).
PYTHON_OVERRIDE = "FINANCE_SANDBOX_SNOWFLAKE_PYTHON"


def env_dir() -> Path:
    return Path(sys.prefix) / "finance-sandbox-snowflake"


def _python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _fingerprint() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def can_serve_here() -> bool:
    """True when this interpreter has fakesnow with a connector it can import (4.x)."""
    if importlib.util.find_spec("fakesnow") is None:
        return False
    from importlib.metadata import version

    return int(version("snowflake-connector-python").split(".")[0]) < 5


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # parallel test workers build it once
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _uv() -> list[str] | None:
    """uv as `make env` finds it: on PATH, or as a module of this or the system Python."""
    if uv := shutil.which("uv"):
        return [uv]
    for python in (sys.executable, shutil.which("python3")):
        if (
            python
            and subprocess.run(
                [python, "-m", "uv", "--version"], capture_output=True, check=False
            ).returncode
            == 0
        ):
            return [python, "-m", "uv"]
    return None


def _build(env: Path) -> None:
    uv_cmd = _uv()
    shutil.rmtree(env, ignore_errors=True)
    python = str(_python(env))
    if uv_cmd is not None:
        _run([*uv_cmd, "venv", "-q", "--python", sys.executable, str(env)])
        # Bytecode now, not at each start: where PYTHONDONTWRITEBYTECODE is set (many CI
        # images) every start would compile fakesnow, sqlglot and the connector again (~2 s).
        install = [*uv_cmd, "pip", "install", "-q", "--compile-bytecode", "--python", python]
        _run([*install, "-r", str(REQUIREMENTS)])
    else:
        _run([sys.executable, "-m", "venv", str(env)])
        _run([python, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)])


def _run(command: list[str]) -> None:
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)


def ensure_env() -> Path:
    """The interpreter of the server's environment, built (or rebuilt) when needed."""
    override = os.environ.get(PYTHON_OVERRIDE)
    if override:
        return Path(override)
    env = env_dir()
    marker = env / ".requirements"
    with _locked(env.with_name(env.name + ".lock")):
        if not (marker.exists() and marker.read_text() == _fingerprint()):
            print(  # noqa: T201
                f"finance-sandbox: building the local Snowflake's environment in {env} …",
                file=sys.stderr,
                flush=True,
            )
            _build(env)
            marker.write_text(_fingerprint())
    return _python(env)


def run_server(argv: list[str]) -> int:
    """`finance-sandbox snowflake`: serve here if possible, else exec in the server's env."""
    if can_serve_here():
        from finance_sandbox.snowflake import main

        return main(argv)
    python = ensure_env()
    package_parent = str(Path(__file__).resolve().parent.parent)
    # Appended, not prepended: the server env's own packages (connector 4) win over ours.
    bootstrap = (
        f"import sys; sys.path.append({package_parent!r}); "
        "from finance_sandbox.snowflake import main; sys.exit(main())"
    )
    os.execv(str(python), [str(python), "-c", bootstrap, *argv])  # noqa: S606
    return 1  # not reached
