# Two commands a newcomer needs: `make run` (the demo) and `make test` (every tier).
# Everything else they need is installed here, from the lock file.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-lock

.PHONY: wrk venv run test test-unit test-integration test-e2e test-browser test-schemathesis screenshots bench soak lint fmt lock browser axe pdf-tools clean messages language

venv: $(STAMP)

# The stamp depends on the lock: editing the lock reinstalls, nothing else does.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# `make run PORT=8001` when port 8000 is taken (another demo, another user).
PORT ?= 8000
run: venv pdf-tools
	$(BIN)/cablepin demo --port $(PORT)

# Browser tests need Debian's chromium; install it when it is missing (root on CI).
browser:
	@command -v chromium >/dev/null 2>&1 || ./scripts/install-chromium.sh

# axe-core (accessibility rules) from the npm registry, pinned in package-lock.json;
# the browser tests inject it into every page.
axe: node_modules/.installed-from-lock

node_modules/.installed-from-lock: package.json package-lock.json
	./scripts/install-axe.sh

# Receipt PDFs (M5) embed Debian's DejaVu fonts; the tests read them with poppler-utils.
pdf-tools:
	@./scripts/install-pdf-tools.sh

test: venv browser axe pdf-tools
	$(BIN)/python -m pytest tests

test-unit: venv
	$(BIN)/python -m pytest tests/unit

test-integration: venv pdf-tools
	$(BIN)/python -m pytest tests/integration

test-e2e: venv pdf-tools
	$(BIN)/python -m pytest tests/e2e

# Part of test-integration (and so of `make test`): the OpenAPI document against a live
# server, every schemathesis check, each role's token, bounded examples.
test-schemathesis: venv
	$(BIN)/python -m pytest tests/integration/cloud/test_schemathesis.py

test-browser: venv browser axe
	$(BIN)/python -m pytest tests/browser

# Tests write their screenshots to build/screenshots; this refreshes the
# pictures the README and docs/portal.md show (commit them when they changed).
screenshots: venv browser axe
	CABLEPIN_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/browser -q

# The connect benchmark (B3) loads the server with wrk, from Debian.
wrk:
	@./scripts/install-wrk.sh

bench: venv wrk
	$(BIN)/python -m benchmarks

# The load test with faults (issue 12): a fleet on PostgreSQL (127.0.0.1:5432) and two
# `cablepin serve`, for SOAK_SECONDS (default 300) of load; prints what it did and
# checked (lost = 0, duplicated = 0, misattributed = 0) and writes docs/soak.md.
# SOAK_CABLES (300), SOAK_DRIVERS (30), SOAK_WORKERS (8), SOAK_SEED (12) size it.
# A bounded version runs in `make test` (tests/e2e/test_soak.py).
soak: venv
	$(BIN)/python -m soak

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Translations (docs: ARCHITECTURE.md, "Adding a string or a language"): for each
# domain (babel-<domain>.cfg), extract every message id from code and templates
# into build/<domain>.pot, then bring each language's .po file up to date.
# Only .po files are kept; they are compiled in memory when first used.
LOCALES := src/cablepin/locale
DOMAINS := portal app
messages: venv
	mkdir -p build
	for domain in $(DOMAINS); do \
	    $(BIN)/pybabel extract -F babel-$$domain.cfg -o build/$$domain.pot --no-location \
	        --sort-output -w 100 --project cablepin --copyright-holder "the cablepin authors" src \
	    && $(BIN)/pybabel update -i build/$$domain.pot -d $(LOCALES) -D $$domain -w 100 \
	        --no-fuzzy-matching --ignore-obsolete || exit 1; \
	done

# A new language: `make language LANG_CODE=fr`, then translate its .po files.
language: messages
	test -n "$(LANG_CODE)" || { echo "say which language: make language LANG_CODE=fr"; exit 2; }
	for domain in $(DOMAINS); do \
	    $(BIN)/pybabel init -i build/$$domain.pot -d $(LOCALES) -D $$domain -l $(LANG_CODE) -w 100 \
	    || exit 1; \
	done

# Re-pin every direct and transitive dependency (needs network to PyPI).
lock: venv
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	    --no-emit-index-url --no-header -o requirements.lock

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache build *.egg-info src/*.egg-info
