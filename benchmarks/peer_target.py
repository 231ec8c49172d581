"""The peer for `target_throughput.py --peer`: MeltanoLabs target-snowflake in a venv of its own.

The peer pins singer-sdk 0.55 betas and snowflake-connector-python 4, which our workspace cannot
hold next to our own pins, so it is installed with uv into `.benchmarks/` (built once, reused while
the pin below is unchanged) and run as a whole process through `peer_stub.py`, which removes the
Snowflake server's work and nothing else (its docstring lists both sides).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The version measured before (issue 15: 37.2 s against our 9.9 s); installs on Python 3.11.
PEER = "meltanolabs-target-snowflake==0.20.4"
ENV_DIR = Path(__file__).resolve().parent.parent / ".benchmarks" / "peer-target-snowflake"
STUB = Path(__file__).with_name("peer_stub.py")


def _uv() -> list[str]:
    if uv := shutil.which("uv"):
        return [uv]
    return [sys.executable, "-m", "uv"]


def ensure_env(env: Path = ENV_DIR) -> Path:
    """The peer's interpreter, installing `PEER` into `env` first when it is not there yet."""
    python = env / "bin" / "python"
    marker = env / ".installed"
    if marker.exists() and marker.read_text() == PEER:
        return python
    print(f"installing {PEER} into {env} …", file=sys.stderr, flush=True)
    shutil.rmtree(env, ignore_errors=True)
    for step in (
        ["venv", "-q", "--python", sys.executable, str(env)],
        ["pip", "install", "-q", "--python", str(python), PEER],
    ):
        subprocess.run([*_uv(), *step], check=True, stdout=subprocess.DEVNULL)
    marker.write_text(PEER)
    return python


def version(python: Path) -> dict[str, str]:
    """The peer's and its SDK's versions, as installed."""
    code = (
        "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in "
        "('meltanolabs-target-snowflake', 'singer-sdk', 'snowflake-connector-python')}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def command(python: Path, tmp: Path, *, batch_size_rows: int, validate: bool) -> list[str]:
    """The peer's CLI through the stub, upsert like ours, config written to `tmp`.

    Credentials are placeholders: nothing logs in. Batch files go to the working directory
    (the peer's default `file://` root), so run it in `tmp`.
    """
    config: dict[str, Any] = {
        "account": "bench",
        "user": "bench",
        "password": "not-used",
        "database": "SANDBOX_DB",
        "schema": "PEER",
        "warehouse": "BENCH_WH",
        "load_method": "upsert",
        "batch_size_rows": batch_size_rows,
        "validate_records": validate,
    }
    path = tmp / "peer-config.json"
    path.write_text(json.dumps(config))
    return [str(python), str(STUB), "--config", str(path)]
