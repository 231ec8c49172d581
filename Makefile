# Two commands on a fresh machine with only Python 3: `make demo` and `make test`.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
PYTEST_ARGS ?= -n 2

.PHONY: env test lint demo docs run sandbox-up sandbox-down clean

env:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --all-packages --frozen

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy tap-epicor-kinetic/tap_epicor_kinetic target-snowflake-finance/target_snowflake_finance sandbox/finance_sandbox

test: env lint
	$(UV) run pytest $(PYTEST_ARGS)

# Install, start the sandbox, run the pipeline twice, print the reconciliation (KEEP_SANDBOX=1 keeps it up).
demo: env
	$(UV) run python -m finance_sandbox.demo

# Regenerate the README settings sections and hub/ definitions from the plugins' --about.
docs: env
	$(UV) run python scripts/plugin_docs.py

# One pipeline run against the running sandbox (make sandbox-up first).
run: env
	$(UV) run meltano --env-file .sandbox/sandbox.env run tap-epicor-kinetic target-snowflake-finance

sandbox-up: env
	$(UV) run finance-sandbox up

sandbox-down: env
	$(UV) run finance-sandbox down

clean:
	rm -rf .sandbox .meltano/run output dead_letter
