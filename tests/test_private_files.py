"""`make run` keeps Meltano's generated plugin configs (secrets inside) owner-only during a run,
and keeps the state where MELTANO_STATE_BACKEND_URI says (README "Production state")."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

from e2e_helpers import ROOT, Meltano, Sandbox

INVOICES = 20


def test_make_run_writes_plugin_configs_readable_by_the_owner_only(
    sandbox: Sandbox, plugin_home: Path, tmp_path: Path
) -> None:
    m = Meltano(plugin_home, sandbox, tmp_path, tmp_path / "meltano.db")
    env = m.env(
        TARGET_SNOWFLAKE_FINANCE_SCHEMA="PRIVATE_FILES",
        TAP_EPICOR_KINETIC_START_DATE="2000-01-01T00:00:00Z",
        TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR=str(tmp_path / "dead_letter"),
        MELTANO_STATE_BACKEND_URI=(tmp_path / "state").as_uri(),
    )
    os.umask(0o022)  # the usual default: what the Makefile must override
    seen: dict[Path, int] = {}
    done = threading.Event()
    run_dir = plugin_home / "run"
    # The plugins' home is shared with the worker's other modules: only this run's files count.
    earlier = set(run_dir.rglob("*.json")) if run_dir.exists() else set()

    def watch() -> None:
        while not done.is_set():
            for path in run_dir.rglob("*.json") if run_dir.exists() else []:
                if path in earlier:
                    continue
                try:
                    seen.setdefault(path, stat.S_IMODE(path.stat().st_mode))
                except FileNotFoundError:
                    continue
            done.wait(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    run = subprocess.run(
        ["make", "run", f"SANDBOX_ENV={sandbox.directory / 'sandbox.env'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    done.set()
    watcher.join(10)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    configs = {p.name: mode for p, mode in seen.items() if "config" in p.name}
    assert any(name.startswith("tap.") for name in configs), sorted(seen)
    assert any(name.startswith("target.") for name in configs), sorted(seen)
    assert all(mode & 0o077 == 0 for mode in configs.values()), {
        name: oct(mode) for name, mode in configs.items()
    }
    state_files = list((tmp_path / "state").rglob("*.json"))
    assert state_files, "the state went to the file backend, not to .meltano/meltano.db"
    state_id = "sandbox:tap-epicor-kinetic-to-target-snowflake-finance"
    got = subprocess.run(
        m.command("state", "get", state_id),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert got.returncode == 0, got.stderr[-2000:]
    assert "ap_invoices" in got.stdout
