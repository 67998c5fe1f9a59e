# The two commands: `make run` (the local stack with a demo) and `make test` (the whole suite).
# Both create .venv themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench faults build validate

$(STAMP): pyproject.toml layers/bulk_import/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/bulk-import serve --demo-users 10000

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/status_read.py

# Every worker write crashed before, crashed after, and contended, each through the real state
# machine (docs/worker.md, "The fault matrix"); make test runs a sample of it.
faults: $(STAMP)
	$(VENV)/bin/python -m tests.faults.matrix

validate: $(STAMP)
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam validate --lint

build: $(STAMP)
	PATH="$$HOME/.pyenv/versions/3.13.0/bin:$$PATH" $(VENV)/bin/sam build
