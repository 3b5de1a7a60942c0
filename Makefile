# make demo        create .venv, install loopml, play the closed loop in .demo/loop
#                  (`loopml demo`: version and validate data, train and tune through the
#                  pipeline, gate, deploy and serve; the world changes, the monitor raises
#                  alerts, automation retrains, gates and promotes a canary; a bad
#                  candidate is rolled back; about a minute, ends with a summary table
#                  and an HTML report)
# make quickstart  the step-by-step tour of examples/quickstart with the CLI, in
#                  .demo/quickstart (data, pipeline, cache, registry, gates, serving
#                  with traffic and feedback, canaries, tuning), then `loopml demo tour`
# make test        install the dev extras and run the whole test suite
# make check       ruff (format + lint), mypy, then the tests
# make bench       run every benchmark script (prints the figures)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: demo quickstart test check lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[sklearn,serve,report]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -e '.[dev]'
	touch $(VENV)/.installed $@

DEMO   := .demo/quickstart
LOOPML := $(abspath $(VENV))/bin/loopml
DEMO_PORT ?= 8731

demo: $(VENV)/.installed
	rm -rf .demo/loop
	$(LOOPML) demo --dir .demo/loop
	@echo "loopml is installed in $(VENV): 'source $(VENV)/bin/activate' puts it on PATH, or run $(LOOPML)"

quickstart: $(VENV)/.installed
	rm -rf $(DEMO) && mkdir -p .demo && cp -R examples/quickstart $(DEMO)
	rm -rf $(DEMO)/data $(DEMO)/.loopml $(DEMO)/loopml.lock
	cd $(DEMO) && $(abspath $(PY)) prepare.py
	cd $(DEMO) && $(LOOPML) data add data/digits.csv --name digits
	cd $(DEMO) && $(LOOPML) run
	cd $(DEMO) && $(LOOPML) run
	cd $(DEMO) && $(LOOPML) models promote digits/1 --to staging --reason "demo"
	cd $(DEMO) && $(LOOPML) run -p model.max_depth=2 -p model.n_estimators=20 --to staging \
	  || echo "(refused by the gates of staging, as expected: digits v2 stays registered)"
	cd $(DEMO) && $(LOOPML) models history digits
	cd $(DEMO) && $(LOOPML) models list
	cd $(DEMO) && $(LOOPML) deploy digits --model models:/digits@staging --reason "demo"
	cd $(DEMO) && $(LOOPML) run -p model.n_estimators=80 -p seed=1
	cd $(DEMO) && $(LOOPML) models promote digits/3 --to staging --candidate --reason "demo: a canary that passes"
	cd $(DEMO) && $(LOOPML) run -p model.n_estimators=400 -p model.max_depth=16
	cd $(DEMO) && ( $(LOOPML) serve --port $(DEMO_PORT) & pid=$$!; \
	  $(abspath $(PY)) traffic.py --url http://127.0.0.1:$(DEMO_PORT) \
	  && $(abspath $(PY)) rollout.py --url http://127.0.0.1:$(DEMO_PORT) \
	       --candidate models:/digits/3 --expect PROMOTED \
	  && $(LOOPML) models promote digits/4 --to staging --candidate \
	       --reason "demo: a slower candidate the offline gates allow" \
	  && $(abspath $(PY)) rollout.py --url http://127.0.0.1:$(DEMO_PORT) \
	       --candidate models:/digits/4 --expect ROLLED_BACK; rc=$$?; \
	  kill -TERM $$pid; wait $$pid; exit $$rc )
	cd $(DEMO) && $(LOOPML) deployments status digits
	cd $(DEMO) && $(abspath $(PY)) show_log.py digits
	cd $(DEMO) && $(LOOPML) tune --n-trials 6
	$(LOOPML) demo tour --dir .demo/tour
	@echo "loopml is installed in $(VENV): 'source $(VENV)/bin/activate' puts it on PATH, or run $(LOOPML)"

test: $(VENV)/.installed-dev
	@eval "$$($(PY) scripts/test_env.py)"; $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check src tests benchmarks scripts examples
	$(VENV)/bin/ruff check src tests benchmarks scripts examples
	$(VENV)/bin/mypy

check: lint test

bench: $(VENV)/.installed-dev
	@eval "$$($(PY) scripts/test_env.py)"; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
