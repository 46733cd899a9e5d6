# Two commands on a fresh machine: `make serve` and `make test`. `make setup` is what both use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup serve test check sample clean

setup: $(STAMP)

# The CPU build of torch goes in first, so nothing later pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all]"
	$(BIN)/pip check
	touch $(STAMP)

serve: setup
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

sample: setup
	$(BIN)/assistant analyze samples/sales_call_en.ogg --format md
	$(BIN)/assistant analyze samples/sales_call_de.ogg --format md

# The tests use Chromium, espeak-ng, redis-server and PostgreSQL: .ci/services installs and
# starts them (Debian packages, with sudo when not root), then runs `make check` against them.
test: setup
	bash .ci/services $(MAKE) check

# Lint, type checks and the whole suite against what is already installed and running; without
# ASSISTANT_TEST_DATABASE_URL the PostgreSQL tests are skipped. The fast tier:
# `.venv/bin/python -m pytest -m "not slow"`.
check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
