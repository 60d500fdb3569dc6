# Citizen Grid — the two commands a newcomer needs:
#   make run    set up, migrate, load demo data and serve http://127.0.0.1:5000 (PORT overrides)
#   make test   set up and run the whole test suite (unit, web and browser tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1

.PHONY: run test install translations extract-messages serve bench lint clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(VENV)/.installed translations

# Compiled catalogues (.mo) are build output; the .po files are the source.
translations: $(VENV)/.installed
	@$(BIN)/pybabel compile --statistics -d webapp/translations 2>&1 | sed 's/^/  /'

# Refresh the message catalogue after changing user-facing text, then translate the new entries.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg --ignore-dirs ".* venv" -k _l -k lazy_gettext -k ngettext:1,2 --no-location --sort-output -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching

run: install
	$(BIN)/flask --app webapp upgrade
	$(BIN)/flask --app webapp seed-demo
	@echo
	@echo "Citizen Grid is starting on http://$(HOST):$(PORT)  (Ctrl-C stops it)"
	$(BIN)/flask --app webapp run --host $(HOST) --port $(PORT)

test: install
	@$(BIN)/python tests/browser.py --prepare
	@if command -v node >/dev/null 2>&1; then node --test tests/js/; \
	 else echo "Node.js not found: skipping the outbox JavaScript unit tests (tests/js)."; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/photo_pipeline.py
	$(BIN)/python bench/page_weight.py
	$(BIN)/python bench/offline_capture.py
	$(BIN)/python bench/grid_lookup.py
	$(BIN)/python bench/review_queue.py
	$(BIN)/python bench/points.py

lint: install
	$(BIN)/ruff check webapp tests bench

clean:
	rm -rf $(VENV) .pytest_cache webapp/translations/*/LC_MESSAGES/*.mo
