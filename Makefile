# Every target creates .venv and installs what it needs, so a fresh clone with
# only Python 3.10+ and make can run any of them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo docs bench bench-peers chaos lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded,docs]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check jobs resilience tests examples docs/_hooks.py
	$(BIN)/ruff format --check jobs resilience tests examples docs/_hooks.py

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck docs
	$(BIN)/pytest -q -n 2

# The guides as a static site in site/; --strict: a broken link or anchor fails the build.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

demo: $(STAMP)
	$(BIN)/stalwart demo

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.throughput
	$(BIN)/python -m tests.benchmarks.dead_letter
	$(BIN)/python -m tests.benchmarks.sentry_hanging
	$(BIN)/python -m tests.benchmarks.latency
	$(BIN)/python -m tests.benchmarks.retry_accuracy
	$(BIN)/python -m tests.benchmarks.time_and_flow
	$(BIN)/python -m tests.benchmarks.metrics
	$(BIN)/python -m tests.benchmarks.outbox
	$(BIN)/python -m tests.benchmarks.console

# RQ, Dramatiq, Celery and huey beside stalwart (several minutes); the peers install into .venv-peers.
bench-peers: $(STAMP)
	$(BIN)/python -m tests.benchmarks.peers --write

chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.run --jobs 1000

clean:
	rm -rf $(VENV) .venv-peers .stalwart .pytest_cache .mypy_cache .ruff_cache site
