# The same commands on every machine and in CI.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every Python dependency pinned with hashes: what `make install` installs, `make lock` writes.
LOCK := requirements.lock

.PHONY: install lock system-deps frontend run test test-py test-js test-long fuzz lint bench \
  bench-xmpp bench-peers bench-peers-js bench-cluster bench-component bench-memory clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || \
	  { echo "Cannot create a virtualenv: on Debian run 'apt-get install -y python3-venv'"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Pin pyproject.toml's dependencies (runtime and dev) for CPython 3.11 on Linux x86_64. Pins
# already in the lock are kept if pyproject.toml still allows them; `make lock UPGRADE=1` moves
# every package to its newest allowed release.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'uv>=0.5'
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --quiet \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	  --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade) -o $(LOCK)

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

# The web page's bundle (frontend/dist, not committed), rebuilt when any source is newer.
FRONTEND_SOURCES := $(shell find frontend/src frontend/build.mjs -type f 2>/dev/null)
frontend/dist/.built: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && node build.mjs

frontend: frontend/dist/.built

# Prosody and its SQL driver (apt-get where possible).
system-deps:
	@bash .ci/system-deps.sh

# Everything a fresh machine needs, then Prosody and the server on http://127.0.0.1:8000
# (COLLAB_HOST / COLLAB_PORT / COLLAB_DATA_DIR change that).
run: system-deps install frontend
	$(VENV)/bin/collab migrate
	$(VENV)/bin/collab serve

# The browser tests also refresh docs/screenshots/two-people-editing.png (COLLAB_SCREENSHOTS=1).
# Two workers (pytest-xdist): run one at a time, the suite keeps about one core busy (much of
# it waits on the servers it starts), and took 27 minutes on a slow 2-core machine, against
# 19 with two. Each worker starts its own XMPP servers. TEST_WORKERS=0 runs them in one process.
# Tests marked `alone` time something against the wall clock: they run afterwards, by
# themselves, so that the other worker's load cannot move what they measure.
TEST_WORKERS ?= 2
# Short tracebacks: CI keeps the start and the end of what a run prints, and a long traceback
# pushed a failure's assertion out of both.
PYTEST := $(PY) -m pytest -q --tb=short -n $(TEST_WORKERS) -m "not slow and not alone"
PYTEST_ALONE := $(PY) -m pytest -q --tb=short -p no:xdist -m "alone and not slow"

test: system-deps install frontend lint
	@bash .ci/system-deps.sh --browser
	COLLAB_SCREENSHOTS=1 $(PYTEST) --durations=30
	$(PYTEST_ALONE)
	cd frontend && node --test

test-py: install frontend
	$(PYTEST)
	$(PYTEST_ALONE)

test-js: frontend/node_modules/.installed
	cd frontend && node --test

# What CI leaves out to stay within its time: the tests marked slow (the longest editing
# traces), and many more property-test examples than CI runs (the engine, the REST schema).
test-long: install frontend
	$(PY) -m pytest -q -m slow
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q tests/sync tests/app/http/test_schemathesis.py

# The WebSocket protocol fuzzed against a real server for much longer than CI does, with fresh
# examples each run (FUZZ_EXAMPLES connections; CI runs 500).
FUZZ_EXAMPLES ?= 20000
fuzz: system-deps install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) HYPOTHESIS_PROFILE=long $(PY) -m pytest -q \
	  tests/app/http/test_ws_fuzz.py

lint: install frontend/node_modules/.installed
	$(PY) -m ruff check sync sdk app tests bench examples
	$(PY) -m ruff format --check sync sdk app tests bench examples
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	cd frontend && node_modules/.bin/tsc -p tsconfig.json

bench: install
	$(PY) -m bench.engine

# End-to-end latency through two app instances, Prosody and a bot (docs/benchmarks-xmpp.md).
bench-xmpp: system-deps install
	$(PY) -m bench.latency

# Ours next to pycrdt-websocket and @y/websocket-server, each built into bench/peers/.env
# (docs/benchmarks-peers.md, about 15 minutes). ARGS=--quick checks the harness (about 2).
bench-peers: system-deps install
	$(PY) -m bench.peers $(ARGS)

# The same with the clients in JavaScript, what browsers run (docs/benchmarks-peers-js.md).
bench-peers-js: system-deps install frontend/node_modules/.installed
	$(PY) -m bench.peers --clients node $(ARGS)

# One instance against three (PostgreSQL, one Prosody, HAProxy): docs/benchmarks-cluster.md.
bench-cluster: system-deps install
	@bash .ci/system-deps.sh --browser
	$(PY) -m bench.cluster $(ARGS)

# 500 connections opened and closed ten times: does the RSS come back (docs/benchmarks.md)?
bench-memory: install
	$(PY) -m bench.connections_memory

bench-component: system-deps install
	$(PY) -m bench.xmpp_component $(ARGS)

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist .pytest_cache .mypy_cache .hypothesis
