"""End-to-end test setup: makes the shared helper module (`e2e_helpers`) importable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: End-to-end modules that run Meltano many times, longest first. Started first, they overlap
#: with the hundreds of short tests on the other worker instead of running alone at the end
#: (with `-n 2` a ten-minute test collected last made the whole suite ten minutes longer);
#: `--dist worksteal` (Makefile) lets the idle worker take queued tests from the busy one.
SLOW_FIRST = (
    "test_rounds.py",
    "test_faults_matrix.py",
    "test_batch_meltano.py",
    "test_parallel_company_jobs.py",
    "test_end_to_end.py",
    "test_stop_signals.py",
    "test_meltano_fresh_project.py",
    "test_meltano_extra_columns.py",
    "test_meltano_run_failures.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow end-to-end modules first (a stable sort keeps each module's own order)."""
    rank = {name: index for index, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))
