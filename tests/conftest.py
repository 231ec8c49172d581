"""End-to-end test setup: the shared helper module (`e2e_helpers`), a sandbox and a Meltano per
module, and the order the modules run in."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_helpers import Meltano, Sandbox, install_plugins

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


def _module_name(request: pytest.FixtureRequest) -> str:
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


@pytest.fixture(scope="module")
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """The module's own sandbox (Epicor and Snowflake), seeded with the module's `INVOICES`."""
    invoices: int = request.module.INVOICES
    directory = tmp_path_factory.mktemp(f"{_module_name(request)}-sandbox")
    with Sandbox.running(directory, invoices) as box:
        yield box


@pytest.fixture(scope="session")
def plugin_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Meltano's system directory with the project's plugins installed, once per test worker
    (each xdist worker has its own temporary folder, so no two processes install into it)."""
    return install_plugins(tmp_path_factory.mktemp("meltano-home"))


@pytest.fixture(scope="module")
def meltano(
    sandbox: Sandbox,
    plugin_home: Path,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Meltano:
    """Meltano against the module's sandbox: the worker's installed plugins, and a system
    database of the module's own, so no state or run of another module is seen."""
    work = tmp_path_factory.mktemp(f"{_module_name(request)}-meltano")
    return Meltano.sharing(plugin_home, sandbox, work)
