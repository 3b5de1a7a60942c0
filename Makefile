# make demo   create .venv, install loopml, run the quickstart on the embedded default
# make test   install the dev extras and run the whole test suite
# make check  ruff (format + lint), mypy, then the tests
# make bench  run every benchmark script (prints the figures)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: demo test check lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[sklearn]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -e '.[dev]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(VENV)/bin/loopml demo --dir .demo

test: $(VENV)/.installed-dev
	@eval "$$($(PY) scripts/test_env.py)"; $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/mypy

check: lint test

bench: $(VENV)/.installed-dev
	@eval "$$($(PY) scripts/test_env.py)"; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
