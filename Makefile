# warmflow: two commands. `make run` sets up, seeds the demo and serves on SQLite;
# `make test` sets up and runs the tests (SQLite, and PostgreSQL too when
# TEST_DATABASE_URL is set).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export DATABASE_URL ?= sqlite:///instance/warmflow.sqlite

VENDOR := webapp/static/vendor

.PHONY: run test setup lint bench clean vendor translations

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "warmflow needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed vendor translations

# English pages: the compiled catalogue (git keeps only the .po; Chinese is the source text).
MO := webapp/translations/en/LC_MESSAGES/messages.mo
translations: $(MO)

$(MO): webapp/translations/en/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel compile -d webapp/translations

# bpmn-js from the npm registry (pinned by frontend/package-lock.json); its prebuilt viewer
# bundle and styles are served by the app itself, never from a CDN. The process editor
# (bpmn-js Modeler + properties panel with the Camunda 7 provider) is bundled from the same
# node_modules by esbuild. Without npm the case page still works and shows a note in place
# of the diagram, and the editor page says it is not installed.
VIEWER := $(VENDOR)/bpmn-js/bpmn-viewer.production.min.js
EDITOR := $(VENDOR)/editor/editor.js
# Chart.js (the 统计报表 charts): its prebuilt UMD bundle, from the same node_modules. Without
# it the report pages keep their tables and say the charts are not installed.
CHARTJS := $(VENDOR)/chartjs/chart.umd.min.js
vendor: $(VIEWER) $(EDITOR) $(CHARTJS)

$(VIEWER): frontend/package.json frontend/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "warmflow: npm not found; case diagrams stay off (install Node.js, then: make vendor)"; \
	  exit 0; \
	fi; \
	set -e; \
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && cd ..; \
	rm -rf $(VENDOR)/bpmn-js && mkdir -p $(VENDOR)/bpmn-js; \
	cp frontend/node_modules/bpmn-js/dist/bpmn-viewer.production.min.js \
	   frontend/node_modules/bpmn-js/dist/assets/*.css \
	   frontend/node_modules/bpmn-js/LICENSE $(VENDOR)/bpmn-js/

$(EDITOR): frontend/editor.js frontend/editor-i18n.js frontend/package.json frontend/package-lock.json $(VIEWER)
	@if [ ! -x frontend/node_modules/.bin/esbuild ]; then \
	  echo "warmflow: npm packages missing; the process editor stays off (install Node.js, then: make vendor)"; \
	  exit 0; \
	fi; \
	set -e; \
	modules=frontend/node_modules; \
	rm -rf $(VENDOR)/editor && mkdir -p $(VENDOR)/editor; \
	$$modules/.bin/esbuild frontend/editor.js --bundle --minify --log-level=warning \
	  --outfile=$(EDITOR); \
	cp $$modules/bpmn-js/dist/assets/diagram-js.css $$modules/bpmn-js/dist/assets/bpmn-js.css \
	   $$modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css $(VENDOR)/editor/; \
	cp -R $$modules/bpmn-js/dist/assets/bpmn-font $(VENDOR)/editor/; \
	for pkg in bpmn-js bpmn-js-properties-panel @bpmn-io/properties-panel camunda-bpmn-moddle; do \
	  cp $$modules/$$pkg/LICENSE $(VENDOR)/editor/LICENSE.$$(basename $$pkg); done

$(CHARTJS): frontend/package.json frontend/package-lock.json $(VIEWER)
	@if [ ! -f frontend/node_modules/chart.js/dist/chart.umd.min.js ]; then \
	  echo "warmflow: npm packages missing; report charts stay off (install Node.js, then: make vendor)"; \
	  exit 0; \
	fi; \
	set -e; \
	rm -rf $(VENDOR)/chartjs && mkdir -p $(VENDOR)/chartjs; \
	cp frontend/node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chartjs/; \
	cp frontend/node_modules/chart.js/LICENSE.md $(VENDOR)/chartjs/LICENSE.md

run: setup
	$(BIN)/warmflow init-db --demo
	@echo "warmflow: http://127.0.0.1:$(PORT)  (the timer worker runs alongside; Ctrl-C stops both)"
	@$(BIN)/warmflow worker --interval 60 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  WARMFLOW_INSECURE_COOKIES=1 $(BIN)/flask --app 'webapp:create_app()' run --host 127.0.0.1 --port $(PORT)

test: setup
	TEST_DATABASE_URL= $(BIN)/python -m pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "--- again on $$TEST_DATABASE_URL"; $(BIN)/python -m pytest; fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/engine.py --cases 200
	$(BIN)/python bench/campaign.py --workers 60000
	$(BIN)/python bench/archive.py

clean:
	rm -rf $(VENV) instance .pytest_cache
