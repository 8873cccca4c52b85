# cspr: make run (the whole service on this machine), make test (lint + tests), make clean.
# make run serves the API on http://127.0.0.1:8000, the Temporal UI on http://127.0.0.1:8233
# and Temporal gRPC on 127.0.0.1:7233, with its state in .data/; see infra/dev.py for the
# environment variables that change them.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The workspace's browser assets from npm (web/package.json), in git-ignored web/node_modules.
ASSETS := web/node_modules/.installed

.PHONY: venv run lint test faults soak clean

venv: $(INSTALLED) $(ASSETS)

# Created once; needs Python 3.11 or later.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "cspr needs Python 3.11 or later: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Installed again whenever pyproject.toml changes.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@

# Installed again whenever web/package.json or its lock changes.
$(ASSETS): web/package.json web/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null \
		|| { echo "cspr's workspace needs Node.js 18+ and npm to install its assets (GOV.UK Frontend, the API docs): e.g. apt-get install nodejs npm"; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 18 ? 1 : 0)' \
		|| { echo "cspr's workspace needs Node.js 18 or later (this is $$(node --version))"; exit 1; }
	cd web && npm ci
	touch $@

run: $(INSTALLED) $(ASSETS)
	$(BIN)/python -m infra.dev

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: lint $(ASSETS)
	$(BIN)/pytest -q

# The fault suite and the fuzz run alone (make test runs them too); README, "The fault suite".
faults: $(INSTALLED)
	$(BIN)/pytest -q tests/faults

# The fault suite at a larger scale, by hand: 100 cases, 50 worker kills.
soak: $(INSTALLED)
	$(BIN)/python -m bench.soak

# Keeps .data/ (Temporal's database and the development key).
clean:
	rm -rf $(VENV) web/node_modules .mypy_cache .pytest_cache .ruff_cache *.egg-info
