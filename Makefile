# The same commands on every machine and in CI.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-py test-js test-long lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

test: install frontend/node_modules/.installed lint
	$(PY) -m pytest -q
	cd frontend && node --test

test-py: install
	$(PY) -m pytest -q

test-js: frontend/node_modules/.installed
	cd frontend && node --test

# Many more property-test examples than CI runs.
test-long: install
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q tests/sync

lint: install
	$(PY) -m ruff check sync tests bench
	$(PY) -m ruff format --check sync tests bench
	$(PY) -m mypy

bench: install
	$(PY) -m bench.engine

clean:
	rm -rf $(VENV) frontend/node_modules .pytest_cache .mypy_cache .hypothesis
