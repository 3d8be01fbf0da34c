# archive-ledger: `make run` and `make test` each do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= data
PROFILE ?= dev
HOST   ?= 127.0.0.1
PORT   ?= 8400

.PHONY: setup deps-system run test test-fast lint compile openapi bench mutate screenshots clean

setup: deps-system .stamp-venv .stamp-npm

# ClamAV for the security check of the four-properties checks (node/filing/checks). Installed only when
# clamscan is missing and we are root (CI); elsewhere optional: without it SEC-VIRUS reports `skip`.
OCR_PACKAGES = tesseract-ocr tesseract-ocr-chi-sim poppler-utils fonts-wqy-zenhei

deps-system:
	@if ! command -v clamscan >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing clamav (apt-get)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav >/dev/null; }; \
	fi
	@# OCR for search (node/search/ocr.py): Tesseract, its simplified-Chinese model, pdftoppm for scanned PDF
	@# pages, and a CJK font for the OCR tests' generated scans. Without them OCR reports `skip` with this hint.
	@if { ! command -v tesseract >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1 \
		|| ! tesseract --list-langs 2>/dev/null | grep -qx chi_sim || ! fc-list 2>/dev/null | grep -qi wqy; } \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing tesseract-ocr, tesseract-ocr-chi-sim, poppler-utils, fonts-wqy-zenhei (apt-get)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(OCR_PACKAGES) >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(OCR_PACKAGES) >/dev/null; }; \
	fi
	@# Chromium (and CJK fonts) for the web UI's browser tests (tests/e2e/test_web_*.py, Playwright drives
	@# Debian's chromium: Playwright's own browser download is not used). Same rule as ClamAV.
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and fonts-noto-cjk (apt-get)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }; \
	fi

.stamp-venv: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

.stamp-npm: contracts/package-lock.json ganache/package-lock.json
	cd contracts && npm ci --silent --no-audit --no-fund
	cd ganache && npm ci --silent --no-audit --no-fund
	touch $@

# Start the persistent dev chain (ganache), initialise the data dir on first run, then serve.
run: setup
	$(PY) cli.py dev-chain start --data-dir $(DATA)
	@test -f $(DATA)/config.toml || $(PY) cli.py init --data-dir $(DATA) --profile $(PROFILE)
	$(PY) cli.py serve --data-dir $(DATA) --host $(HOST) --port $(PORT)

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: setup
	$(PY) -m pytest -q -m "not ganache and not e2e and not slow"

lint: setup
	$(VENV)/bin/ruff check .

compile: setup
	$(PY) -m contracts.compile

# docs/openapi.json from the routes and their models (tests/node/core/test_openapi_models.py fails when it is stale).
openapi: setup
	$(PY) -m node.core.openapi_doc

bench: setup
	$(PY) bench/run_all.py

# Mutation testing of the verifier, the log, the proof plans and the anchorer (outside `make test`;
# ~minutes). Kill rate and explained survivors: bench/RESULTS.md.
mutate: setup
	$(VENV)/bin/pip install -q 'mutmut>=3.8,<4'
	rm -rf mutants
	# No pytest plugin autoload: each mutant's pytest session would scan and load every installed plugin
	# (playwright, schemathesis, ...) again, ~1 s each; the selected tests need none (hypothesis runs without).
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(VENV)/bin/mutmut run --max-children 2 || true
	$(PY) bench/mutation_summary.py

# Screenshots of the web UI's main pages (docs/screenshots/, shown in the README), taken by the browser tests.
screenshots: setup
	ARCHIVE_LEDGER_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q -p no:cacheprovider -m browser tests/e2e

clean:
	rm -rf $(VENV) contracts/node_modules ganache/node_modules .stamp-* mutants
