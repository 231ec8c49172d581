"""The per-company jobs of meltano.yml run at the same time into the same tables, each with its
own state, and both land completely: into tables a first run created, and, first runs of both,
into an empty schema (both create the tables at once)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from e2e_helpers import FAULT_STREAMS, ROOT, Meltano, Sandbox
from finance_sandbox.demo import STREAM_KEYS, truth_rows

INVOICES = 30

SCHEMA = "PARALLEL_JOBS"
JOBS = {"EPIC06": "epicor-epic06", "EPIC07": "epicor-epic07"}


def start(m: Meltano, job: str, env: dict[str, str], log: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        m.command("run", job), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )


def keys_in_snowflake(sandbox: Sandbox, stream: str, company: str) -> list[tuple[str, ...]]:
    keys = [k.upper() for k in STREAM_KEYS[stream]]
    rows = sandbox.query(
        SCHEMA, f"SELECT {', '.join(keys)} FROM {stream.upper()} WHERE COMPANY = '{company}'"
    )
    return sorted(tuple(str(r[k]) for k in keys) for r in rows)


def test_two_company_jobs_at_once_land_completely_with_separate_state(
    sandbox: Sandbox, tmp_path: Any
) -> None:
    m = Meltano(tmp_path / "home", sandbox, tmp_path)
    env = m.env(
        TARGET_SNOWFLAKE_FINANCE_SCHEMA=SCHEMA,
        TAP_EPICOR_KINETIC_START_DATE="2000-01-01T00:00:00Z",
        TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR=str(tmp_path / "dead_letter"),
        TAP_EPICOR_KINETIC__SELECT='["' + '.*", "'.join(FAULT_STREAMS) + '.*"]',
    )
    m.install()
    # The tables exist (a first run of one company), as in production after the first day.
    with (tmp_path / "first.log").open("w") as log:
        assert start(m, JOBS["EPIC06"], env, log).wait(600) == 0, (
            tmp_path / "first.log"
        ).read_text()
    for company in JOBS:
        sandbox.control(
            "POST", "activity", {"new_invoices": 2, "changed_invoices": 2, "company": company}
        )
    logs = {c: (tmp_path / f"{c}.log").open("w") for c in JOBS}
    runs = {c: start(m, job, env, logs[c]) for c, job in JOBS.items()}
    codes = {c: run.wait(600) for c, run in runs.items()}
    for log in logs.values():
        log.close()
    assert codes == {"EPIC06": 0, "EPIC07": 0}, {
        c: (tmp_path / f"{c}.log").read_text()[-3000:] for c in JOBS
    }
    for company in JOBS:
        for stream in FAULT_STREAMS:
            keys = [k.upper() for k in STREAM_KEYS[stream]]
            truth = sorted(
                tuple(str(r[k]) for k in keys) for r in truth_rows(sandbox.url, stream, company)
            )
            assert truth, (company, stream)
            # Same keys, each once: nothing missing, nothing extra, no duplicates.
            assert keys_in_snowflake(sandbox, stream, company) == truth, (company, stream)
    states = subprocess.run(
        m.command("state", "list"), cwd=ROOT, env=env, capture_output=True, text=True, check=False
    ).stdout
    assert "tap-epicor-kinetic--epic06-to-target-snowflake-finance" in states, states
    assert "tap-epicor-kinetic--epic07-to-target-snowflake-finance" in states, states


# Issue 13 point 10 through Meltano: the jobs' first runs start together into an empty schema,
# so both create the tables, the stage, the audit and rejects tables at once. Twice, each try in
# a schema of its own with state IDs of its own (a suffix), each bounded in time.
@pytest.mark.parametrize("attempt", [1, 2])
def test_two_company_jobs_at_once_into_an_empty_schema_land_completely(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory, attempt: int
) -> None:
    work = tmp_path_factory.getbasetemp() / "parallel-empty"
    work.mkdir(exist_ok=True)
    m = Meltano(work / "home", sandbox, work)
    schema = f"PARALLEL_EMPTY_{attempt}"
    env = m.env(
        TARGET_SNOWFLAKE_FINANCE_SCHEMA=schema,
        TAP_EPICOR_KINETIC_START_DATE="2000-01-01T00:00:00Z",
        TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR=str(work / f"dead_letter_{attempt}"),
        TAP_EPICOR_KINETIC__SELECT='["' + '.*", "'.join(FAULT_STREAMS) + '.*"]',
    )
    if not (work / "home").exists():
        m.install()
    logs = {c: (work / f"empty-{attempt}-{c}.log") for c in JOBS}
    runs = {}
    for company, job in JOBS.items():
        with logs[company].open("w") as log:
            runs[company] = subprocess.Popen(
                m.command("run", "--state-id-suffix", f"empty{attempt}", job),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
    codes: dict[str, int | None] = {}
    for company, run in runs.items():
        try:
            codes[company] = run.wait(600)
        except subprocess.TimeoutExpired:
            run.kill()
            codes[company] = None
    assert codes == {"EPIC06": 0, "EPIC07": 0}, {
        c: [line for line in logs[c].read_text().splitlines() if "error" in line.lower()]
        for c in JOBS
    }
    for company in JOBS:
        for stream in FAULT_STREAMS:
            keys = [k.upper() for k in STREAM_KEYS[stream]]
            truth = sorted(
                tuple(str(r[k]) for k in keys) for r in truth_rows(sandbox.url, stream, company)
            )
            assert truth, (company, stream)
            loaded = sandbox.query(
                schema,
                f"SELECT {', '.join(keys)} FROM {stream.upper()} WHERE COMPANY = '{company}'",
            )
            assert sorted(tuple(str(r[k]) for k in keys) for r in loaded) == truth, (
                company,
                stream,
            )
