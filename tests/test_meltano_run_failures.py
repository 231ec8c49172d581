"""Through `meltano run`: the failing plugin's message is what the user reads last, and a run that
failed before anything was committed leaves Meltano's state where it was."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from e2e_helpers import ROOT, Meltano, Sandbox

CASE = "runfail"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path_factory.mktemp("runfail-sandbox"), invoices=30)
    box.up()
    yield box
    box.down()


@pytest.fixture(scope="module")
def meltano(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Meltano:
    work = tmp_path_factory.mktemp("runfail-meltano")
    (work / "logs").mkdir()
    m = Meltano(work / "home", sandbox, work / "logs")
    done = subprocess.run(
        m.command("install"),
        cwd=ROOT,
        env=m.env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return m


def settings(schema: str, **extra: str) -> dict[str, str]:
    return {
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": schema,
        "TAP_EPICOR_KINETIC_START_DATE": "2000-01-01T00:00:00Z",
        **extra,
    }


def plugin_lines(log: str) -> list[str]:
    """Lines the plugins printed (Meltano prefixes them with the plugin name), in order."""
    return [
        line
        for line in log.splitlines()
        if line.strip() and "meltano      " not in line and "[info     ] meltano" not in line
    ]


def test_a_failing_target_is_the_last_word_and_state_stays(
    meltano: Meltano, sandbox: Sandbox
) -> None:
    first = meltano.run(CASE, "first.log", settings("RUNFAIL"))
    assert first.returncode == 0, first.stderr[-3000:]
    before = meltano.state(CASE)
    assert before, "the first run saved state"
    sandbox.control("POST", "activity", {"new_invoices": 3, "changed_invoices": 2})
    # A schema without tables and manage_tables false: the loader refuses the first stream
    # while the extractor is still writing to it.
    failed = meltano.run(
        CASE,
        "failed.log",
        settings("RUNFAIL_EMPTY", TARGET_SNOWFLAKE_FINANCE_MANAGE_TABLES="false"),
    )
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "BrokenPipeError" not in log
    assert "Traceback" not in log
    last = plugin_lines(log)[-1]
    assert "target-snowflake-finance" in last, last
    assert "manage_tables" in last, last
    assert meltano.state(CASE) == before
