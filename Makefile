# medcard's command runner: every step a developer or CI takes is here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run demo install test lint check bench clean messages

## run: install medcard into .venv and serve it on the embedded PostgreSQL (http://127.0.0.1:8000/fhir/R4)
run: $(VENV)/.installed
	$(BIN)/medcard serve

## demo: install medcard, generate a demo city of 300 children, load it and serve it
demo: $(VENV)/.installed
	$(BIN)/medcard demo

## install: create .venv with medcard and its development tools
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

## test: run the test suite on a real PostgreSQL (embedded, or MEDCARD_TEST_DATABASE_URL)
test: $(VENV)/.installed
	$(BIN)/pytest

## lint: ruff and mypy
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

## messages: extract the pages' texts (Russian msgids) and merge them into the English catalog to translate
messages: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F src/medcard/web/babel.cfg -k N_ --no-location --omit-header \
		-o $(VENV)/messages.pot src/medcard/web src/medcard/access src/medcard/portal
	$(BIN)/pybabel -q update -i $(VENV)/messages.pot -d src/medcard/web/locale -l en --no-fuzzy-matching \
		--width 120 --ignore-pot-creation-date

## check: what CI runs
check: lint test

## bench: the benchmarks (figures go to docs/performance.md; bench_bulk takes about an hour)
bench: $(VENV)/.installed
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_pediatrics.py
	$(BIN)/python bench/bench_synth.py
	$(BIN)/python bench/bench_worklist.py
	$(BIN)/python bench/bench_audit_durability.py
	$(BIN)/python bench/bench_rate_limit.py
	$(BIN)/python bench/bench_search_limits.py
	$(BIN)/python bench/bench_storage.py
	$(BIN)/python bench/bench_bulk.py
	$(BIN)/python bench/bench_workspace.py

## mutation: break the privacy model on purpose, one named break at a time, and check a test fails (10-30 min; not in CI)
.PHONY: mutation
mutation: $(VENV)/.installed
	$(BIN)/python tools/mutation.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
