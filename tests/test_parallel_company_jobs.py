"""The per-company jobs of meltano.yml run at the same time into the same tables, each with its
own state, and both land completely: into tables a first run created, and, first runs of both,
into an empty schema (both create the tables at once)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e_helpers import FAULT_STREAMS, ROOT, Meltano, Sandbox, curated_select
from finance_sandbox.demo import STREAM_KEYS, truth_rows

INVOICES = 30

JOBS = {"EPIC06": "epicor-epic06", "EPIC07": "epicor-epic07"}


def job_env(meltano: Meltano, schema: str, work: Path) -> dict[str, str]:
    return meltano.env(
        TARGET_SNOWFLAKE_FINANCE_SCHEMA=schema,
        TAP_EPICOR_KINETIC_START_DATE="2000-01-01T00:00:00Z",
        TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR=str(work / "dead_letter"),
        TAP_EPICOR_KINETIC__SELECT=curated_select(FAULT_STREAMS),
    )


def run_together(
    meltano: Meltano, env: dict[str, str], work: Path, jobs: dict[str, str], *suffix: str
) -> None:
    """Start `meltano run JOB` for each company at once; each must exit 0 within 600 s."""
    logs = {c: work / f"{c}.log" for c in jobs}
    runs = {}
    for company, job in jobs.items():
        with logs[company].open("w") as log:
            runs[company] = subprocess.Popen(
                meltano.command("run", *suffix, job),
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
    assert codes == dict.fromkeys(jobs, 0), {
        c: [line for line in logs[c].read_text().splitlines() if "error" in line.lower()]
        for c in jobs
    }


def assert_every_company_landed(sandbox: Sandbox, schema: str) -> None:
    """Each company's keys in Snowflake are Epicor's: nothing missing, nothing extra, each once."""
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
            landed = sorted(tuple(str(r[k]) for k in keys) for r in loaded)
            assert landed == truth, (company, stream)


def test_two_company_jobs_at_once_land_completely_with_separate_state(
    sandbox: Sandbox, meltano: Meltano, tmp_path: Path
) -> None:
    schema = "PARALLEL_JOBS"
    env = job_env(meltano, schema, tmp_path)
    # The tables exist (a first run of one company), as in production after the first day.
    run_together(meltano, env, tmp_path, {"EPIC06": JOBS["EPIC06"]})
    for company in JOBS:
        sandbox.control(
            "POST", "activity", {"new_invoices": 2, "changed_invoices": 2, "company": company}
        )
    run_together(meltano, env, tmp_path, JOBS)
    assert_every_company_landed(sandbox, schema)
    states = subprocess.run(
        meltano.command("state", "list"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "tap-epicor-kinetic--epic06-to-target-snowflake-finance" in states, states
    assert "tap-epicor-kinetic--epic07-to-target-snowflake-finance" in states, states


# Issue 13 point 10 through Meltano: the jobs' first runs start together into an empty schema,
# so both create the tables, the stage, the audit and rejects tables at once, in a schema of its
# own with state IDs of its own (a suffix), bounded in time. (The target's own tests repeat the
# race eight times without Meltano: target-snowflake-finance/tests/test_concurrency.py.)
def test_two_company_jobs_at_once_into_an_empty_schema_land_completely(
    sandbox: Sandbox, meltano: Meltano, tmp_path: Path
) -> None:
    schema = "PARALLEL_EMPTY"
    env = job_env(meltano, schema, tmp_path)
    run_together(meltano, env, tmp_path, JOBS, "--state-id-suffix", "empty")
    assert_every_company_landed(sandbox, schema)
