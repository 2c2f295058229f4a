# The two commands a newcomer needs: `make run` and `make test`.
# Both install what is missing first (Python venv, Debian packages, the Asterisk chroot).

VENV  := .venv
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: run test provision lint bench-agi bench-provision clean-instances

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

# The pages' chart library (ECharts) from the npm registry, pinned by package-lock.json; the
# server hands out the copy in web/static/vendor/ (the browser never fetches from the internet).
VENDOR := web/static/vendor/echarts.min.js

$(VENDOR): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p web/static/vendor
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)

provision: $(STAMP) $(VENDOR)
	bash stack/provision.sh

run: provision
	$(VENV)/bin/hotline up

# Lint and types first: CI (.ci/run = make test) keeps ruff and mypy --strict clean from now on.
# TEST_JOBS=2 runs the test modules on two pytest-xdist workers (--dist loadfile: a module and
# its shared stack stay in one worker); the tests mostly wait on calls, so two fit two cores.
TEST_JOBS ?= 1
test: provision
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -p no:cacheprovider -ra --tb=short -q --durations=40 \
		$(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench-agi: provision
	$(VENV)/bin/python bench/agi_asterisk.py

bench-provision: $(STAMP)
	$(VENV)/bin/python bench/provision_time.py
