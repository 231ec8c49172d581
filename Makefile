# Two commands on a fresh machine with only Python 3: `make demo` and `make test`.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=25
# uv (our .venv, Meltano's plugin venvs, the local Snowflake's env) writes bytecode at install:
# where PYTHONDONTWRITEBYTECODE is set, as on many CI images, every Python start would compile
# its imports from source again (Meltano ~2 s, the target ~2 s, the local Snowflake ~2 s; the
# test suite starts thousands of them).
export UV_COMPILE_BYTECODE := 1
# Connection settings of the running sandbox (written by `make sandbox-up`).
SANDBOX_ENV ?= .sandbox/sandbox.env
# Meltano writes each plugin's config, secrets included, to .meltano/run/ while it runs: every
# target that starts Meltano (or the sandbox, whose env file it reads) makes its files owner-only.
PRIVATE := umask 077 &&

.PHONY: env test test-plugins-alone lint demo docs run sandbox-up sandbox-down clean

env:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --all-packages --frozen
	$(UV) run --frozen --all-packages finance-sandbox snowflake-env

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy tap-epicor-kinetic/tap_epicor_kinetic target-snowflake-finance/target_snowflake_finance sandbox/finance_sandbox

test: env lint
	$(UV) run pytest $(PYTEST_ARGS)

# Each plugin's tests in a throwaway environment holding only that plugin and its `test` group
# (no Meltano, no other workspace extras): proves its pyproject declares what its tests need.
# Narrow the run with TAP_TESTS=tests/test_about.py TARGET_TESTS=tests/test_connector.py.
TAP_TESTS ?= tests
TARGET_TESTS ?= tests
test-plugins-alone:
	cd tap-epicor-kinetic && $(UV) run --frozen --isolated --group test pytest $(PYTEST_ARGS) $(TAP_TESTS)
	cd target-snowflake-finance && $(UV) run --frozen --isolated --group test pytest $(PYTEST_ARGS) $(TARGET_TESTS)

# Install, start the sandbox, run the pipeline twice, print the reconciliation (KEEP_SANDBOX=1 keeps it up).
demo: env
	$(PRIVATE) $(UV) run python -m finance_sandbox.demo

# Regenerate the README settings sections and hub/ definitions from the plugins' --about.
docs: env
	$(UV) run python scripts/plugin_docs.py

# One pipeline run against the running sandbox (make sandbox-up first).
run: env
	$(PRIVATE) $(UV) run meltano --env-file $(SANDBOX_ENV) run tap-epicor-kinetic target-snowflake-finance

sandbox-up: env
	$(PRIVATE) $(UV) run finance-sandbox up

sandbox-down: env
	$(UV) run finance-sandbox down

clean:
	rm -rf .sandbox .meltano/run output dead_letter
