# cspr: make run (the whole service on this machine), make test (lint + tests), make clean.
# make run serves the API on http://127.0.0.1:8000, the Temporal UI on http://127.0.0.1:8233
# and Temporal gRPC on 127.0.0.1:7233, with its state in .data/; see infra/dev.py for the
# environment variables that change them.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: venv run lint test faults soak clean

venv: $(INSTALLED)

# Created once; needs Python 3.11 or later.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "cspr needs Python 3.11 or later: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Installed again whenever pyproject.toml changes.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@

run: $(INSTALLED)
	$(BIN)/python -m infra.dev

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: lint
	$(BIN)/pytest -q

# The fault suite and the fuzz run alone (make test runs them too); README, "The fault suite".
faults: $(INSTALLED)
	$(BIN)/pytest -q tests/faults

# The fault suite at a larger scale, by hand: 100 cases, 50 worker kills.
soak: $(INSTALLED)
	$(BIN)/python -m bench.soak

# Keeps .data/ (Temporal's database and the development key).
clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache *.egg-info
