# warmflow: two commands. `make run` sets up, seeds the demo and serves on SQLite;
# `make test` sets up and runs the tests (SQLite, and PostgreSQL too when
# TEST_DATABASE_URL is set).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export DATABASE_URL ?= sqlite:///instance/warmflow.sqlite

.PHONY: run test setup lint bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "warmflow needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/warmflow init-db --demo
	@echo "warmflow: http://127.0.0.1:$(PORT)  (the timer worker runs alongside; Ctrl-C stops both)"
	@$(BIN)/warmflow worker --interval 60 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/flask --app 'webapp:create_app()' run --host 127.0.0.1 --port $(PORT)

test: setup
	TEST_DATABASE_URL= $(BIN)/python -m pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "--- again on $$TEST_DATABASE_URL"; $(BIN)/python -m pytest; fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/engine.py --cases 200

clean:
	rm -rf $(VENV) instance .pytest_cache
