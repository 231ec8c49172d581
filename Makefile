# Two commands on a fresh machine with only Python 3: `make demo` and `make test`.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
PYTEST_ARGS ?=

.PHONY: env test lint demo sandbox-up sandbox-down clean

env:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --all-packages --frozen

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy tap-epicor-kinetic/tap_epicor_kinetic target-snowflake-finance/target_snowflake_finance sandbox/finance_sandbox

test: env lint
	$(UV) run pytest $(PYTEST_ARGS)

sandbox-up: env
	$(UV) run finance-sandbox up

sandbox-down: env
	$(UV) run finance-sandbox down

clean:
	rm -rf .sandbox .meltano/run output dead_letter
