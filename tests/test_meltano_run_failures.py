"""Through `meltano run`: the failing plugin's message is what the user reads last, and a run that
failed before anything was committed leaves Meltano's state where it was."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from e2e_helpers import Meltano, Sandbox

CASE = "runfail"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.running(tmp_path_factory.mktemp("runfail-sandbox"), invoices=30) as box:
        yield box


@pytest.fixture(scope="module")
def meltano(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Meltano:
    return Meltano.installed(sandbox, tmp_path_factory.mktemp("runfail-meltano"))


def settings(schema: str, **extra: str) -> dict[str, str]:
    return {
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": schema,
        "TAP_EPICOR_KINETIC_START_DATE": "2000-01-01T00:00:00Z",
        **extra,
    }


PLUGINS = ("tap-epicor-kinetic", "target-snowflake-finance")
#: A line that reports a problem: Meltano's level, or the plugin's own when Meltano relays it.
LEVEL = r"\[(warning|error|critical)|\b(WARNING|ERROR|CRITICAL)\b"


def plugin_lines(log: str) -> list[str]:
    """Lines the plugins printed (Meltano prefixes each with the plugin's name), in order."""
    return [line for line in log.splitlines() if any(f"] {p} " in line for p in PLUGINS)]


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
    # Meltano 4.4 may add a BrokenPipeError traceback of its own when the loader stops while it
    # still writes to it (meltano/meltano#7047): nothing of that kind comes from our plugins.
    ours = plugin_lines(log)
    assert not [line for line in ours if "BrokenPipeError" in line or "Traceback" in line]
    # The target refuses at start-up, before any record: the tap, which Meltano lets finish,
    # may still log its closing summary after it. The last problem the user reads is the
    # target's, and nothing the tap says after it looks like a failure.
    problems = [line for line in ours if re.search(LEVEL, line)]
    assert problems, log[-3000:]
    last = problems[-1]
    assert "target-snowflake-finance" in last, last
    assert "manage_tables" in last, last
    after = ours[ours.index(last) + 1 :]
    assert all("target-snowflake-finance" not in line for line in after), after
    assert meltano.state(CASE) == before
