"""Through `meltano run`: the failing plugin's message is what the user reads last, and a run that
failed before anything was committed leaves Meltano's state where it was,
whichever plugin failed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from e2e_helpers import Meltano, Sandbox

INVOICES = 30

CASE = "runfail"


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


@pytest.fixture(scope="module")
def before(meltano: Meltano) -> dict[str, Any]:
    """Meltano's state after a first successful run, which each failing run must leave as is."""
    first = meltano.run(CASE, "first.log", settings("RUNFAIL"))
    assert first.returncode == 0, first.stderr[-3000:]
    state = meltano.state(CASE)
    assert state, "the first run saved state"
    return state


def test_a_failing_target_is_the_last_word_and_state_stays(
    meltano: Meltano, sandbox: Sandbox, before: dict[str, Any]
) -> None:
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


def test_a_failing_tap_is_the_last_word_and_state_stays(
    meltano: Meltano, sandbox: Sandbox, before: dict[str, Any]
) -> None:
    """Epicor answers every request with HTTP 500: the tap gives up after its retries (in the
    discovery Meltano runs first), before any record reached the target."""
    sandbox.control("POST", "activity", {"new_invoices": 3, "changed_invoices": 2})
    sandbox.faults(error_next=10_000)
    try:
        failed = meltano.run(CASE, "tap-failed.log", settings("RUNFAIL"))
    finally:
        sandbox.clear_faults()
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0
    ours = plugin_lines(log)
    assert not [line for line in ours if "Traceback" in line]
    problems = [line for line in ours if re.search(LEVEL, line)]
    assert problems, log[-3000:]
    assert "tap-epicor-kinetic" in problems[-1], problems[-1]
    assert "500" in problems[-1], problems[-1]
    assert meltano.state(CASE) == before
