# Two commands matter: `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
HTTP_PORT ?= 8000
TCP_PORT ?= 9000
# The PostgreSQL server the second test pass uses; each run makes its own databases on it.
TEST_PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: install run test test-sqlite test-postgres test-mongo lint fuzz bench bench-quick web-screenshot clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput -v0
	@echo "REST and WebSocket on http://$(HOST):$(HTTP_PORT) (ws://$(HOST):$(HTTP_PORT)/ws/), TCP on $(HOST):$(TCP_PORT)"
	@echo "Web client: http://$(HOST):$(HTTP_PORT)/   API docs: http://$(HOST):$(HTTP_PORT)/api/docs/   admin: http://$(HOST):$(HTTP_PORT)/admin/"
	$(BIN)/python manage.py imserver --host $(HOST) --http-port $(HTTP_PORT) --tcp-port $(TCP_PORT)

lint: install
	$(BIN)/ruff check .

test: install
	bash scripts/test-services.sh
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory test-mongo

# The tests of the store and the embedded paths (marked `embedded`) on SQLite, the
# embedded default; everything else runs once, in the PostgreSQL pass.
test-sqlite: install
	IM_DATA_DIR=$$(mktemp -d) $(BIN)/pytest -m embedded

# The whole suite on PostgreSQL (the production configuration).
test-postgres: install
	IM_DATA_DIR=$$(mktemp -d) DATABASE_URL=$(TEST_PG_URL) \
		IM_TEST_DATABASE_NAME=im_test_$$$$ $(BIN)/pytest

# The tests that exercise the message store (marked `mongo`) again on PostgreSQL with
# every server's messages on a private MongoDB-protocol server (SecantusDB) the tests
# start: send, sync, edit and recall, read marks, reports, two nodes and a SIGKILL.
test-mongo: install
	IM_DATA_DIR=$$(mktemp -d) DATABASE_URL=$(TEST_PG_URL) IM_TEST_MONGODB=1 \
		IM_TEST_DATABASE_NAME=im_test_$$$$ $(BIN)/pytest -m mongo

# schemathesis against a live server with many more examples than `make test` gives it
# (FUZZ_EXAMPLES per operation, every check on; tests/schema/). FUZZ_SEED=N for another
# fixed seed.
FUZZ_EXAMPLES ?= 1000
FUZZ_SEED ?= 20261129
fuzz: install
	IM_DATA_DIR=$$(mktemp -d) IM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) IM_FUZZ_SEED=$(FUZZ_SEED) \
		IM_FUZZ_TIMEOUT_S=7000 \
		$(BIN)/pytest tests/schema -o timeout=7200 -q

# The picture of a conversation in docs/web.md, taken by the browser test.
web-screenshot: install
	bash scripts/test-services.sh
	IM_DATA_DIR=$$(mktemp -d) IM_WEB_SCREENSHOT_DIR=$(CURDIR)/docs \
		$(BIN)/pytest -q tests/web -k two_people

$(BIN)/.bench-installed: $(BIN)/.installed requirements-bench.txt
	$(BIN)/pip install -q -r requirements-bench.txt
	touch $@

# The full benchmark: writes bench/results/full.json, the table and pictures in docs/.
bench: $(BIN)/.bench-installed
	bash scripts/test-services.sh
	$(BIN)/python bench/run.py

# Small counts, under two minutes; fails only if a message was lost or duplicated.
bench-quick: $(BIN)/.bench-installed
	$(BIN)/python bench/run.py --quick --out bench/results/quick.json

clean:
	rm -rf $(VENV) data
