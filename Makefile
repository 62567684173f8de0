# Everyday commands. `make run` and `make test` set up whatever is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_HOST ?= 127.0.0.1
WEB_PORT ?= 8000
export WEB_HOST WEB_PORT

.PHONY: run setup test pytest lint format clean bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (python3 is " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_org
	$(BIN)/python manage.py agent_prepare_models
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

run: setup
	@echo ""
	@echo "  Service desk:  http://$(WEB_HOST):$(WEB_PORT)/   (API docs: /api/docs/, admin: /admin/)"
	@echo "  Demo logins (password 'demo'): alice, bob, carol, dave (employees); ivan (service desk);"
	@echo "                                 judy (service-desk lead); erin, frank, gwen (managers)"
	@echo "  Ctrl-C stops the web server, the worker and beat."
	@echo ""
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start -f Procfile

test: $(STAMP) lint pytest

pytest: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run --noinput

# Benchmarks (docs/performance.md): PostgreSQL + Redis from .ci/services.sh, private databases sd_bench_*.
# BENCH_QUICK=1 for a fast smoke run; sizes and parts by environment (see bench/run.py).
bench: $(STAMP)
	$(BIN)/python -m bench.run

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data *.egg-info
