# Two commands on a fresh machine: `make serve` and `make test`. `make setup` is what both use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup serve test lint sample clean

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

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
