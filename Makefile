# The two commands a newcomer needs:
#   make run    set up and run the engine on embedded defaults (Postgres, Temporal dev server, worker, demo)
#   make test   the checks (make lint: ruff, mypy, import contracts), then the whole test suite (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: run test lint install browser golden lock clean

run: install
	$(PY) -m devstack

test: install lint
	$(PY) -m pytest

# Lint and import order (ruff), types (mypy: strict on domain/ and workflows/), import contracts
# (import-linter); all configured in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "DueCourse needs Python 3.11 or newer (PYTHON=...)")'
	@echo "Setting up $(VENV) with the pinned dependencies (requirements.lock)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .   # the `duecourse` command
	@touch $@

# The browser test drives Debian's Chromium (never a downloaded one); without it that test is skipped.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed: the browser test will be skipped (apt-get install chromium)"
	@# Chinese in the Web UI (a zh-CN borrower's script and statement) needs a CJK font to be legible
	@fc-list 2>/dev/null | grep -qi "noto sans cjk" || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; } || \
		echo "fonts-noto-cjk not installed: Chinese shows as boxes in screenshots (apt-get install fonts-noto-cjk)"
	@# Letters are PDFs from WeasyPrint, which needs Pango and HarfBuzz's subsetter (docs/letters.md)
	@{ ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 && ldconfig -p | grep -q libharfbuzz-subset; } || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
		>/dev/null; } || echo "Pango not installed: letters cannot be rendered (apt-get install libpangoft2-1.0-0)"

# Record a new generation of the golden histories CI replays (every case of these tests, closed or open;
# synthetic data), beside the older ones, which stay: `make golden GENERATION=<the new patch>`.
golden: install
	@test -n "$(GENERATION)" || { echo "usage: make golden GENERATION=<name, e.g. the new patch>"; exit 2; }
	@test ! -e tests/golden/$(GENERATION) || { echo "tests/golden/$(GENERATION) exists"; exit 2; }
	GOLDEN_DIR=tests/golden/$(GENERATION) $(PY) -m pytest -q tests/test_lifecycle.py tests/test_flags.py tests/test_messages.py \
		tests/test_books.py tests/test_desk.py tests/test_scoring.py tests/test_early_warning.py \
		tests/test_self_service.py

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet '.[test]'
	{ head -2 requirements.lock; .lock-venv/bin/pip freeze --exclude duecourse; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv build *.egg-info

clean:
	rm -rf .data
