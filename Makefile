# The two commands: `make run` (the local stack with a demo) and `make test` (the whole suite).
# Both create .venv themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# checkov in a venv of its own: it pins an older boto3 than the functions run.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30

.PHONY: run test bench faults build validate

$(STAMP): pyproject.toml layers/bulk_import/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_STAMP)

run: $(STAMP)
	$(VENV)/bin/bulk-import serve --demo-users 10000

test: $(STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/python -m pytest

# One table: every benchmark's figures next to their goals (bench/run.py).
bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

# Every worker write crashed before, crashed after, and contended, each through the real state
# machine (docs/worker.md, "The fault matrix"); make test runs a sample of it.
faults: $(STAMP)
	$(VENV)/bin/python -m tests.faults.matrix

validate: $(STAMP)
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam validate --lint

# sam build ships no bytecode (it leaves __pycache__ out and unpacks wheels without compiling
# them), and /opt and /var/task are read-only on Lambda: every cold start would compile every
# module it imports. So the artifacts are compiled here, by the runtime's Python, with the paths
# the files have on Lambda (for tracebacks), and unchecked-hash: zip packaging does not keep the
# files' times that default bytecode is checked against, and an artifact never changes once built.
LAMBDA_PYTHON_BIN := $$HOME/.pyenv/versions/3.13.0/bin

build: $(STAMP)
	PATH="$(LAMBDA_PYTHON_BIN):$$PATH" $(VENV)/bin/sam build
	cd .aws-sam/build && for artifact in $$(ls -d */ | tr -d /); do \
		case $$artifact in BulkImportLayer) on_lambda=/opt;; *) on_lambda=/var/task;; esac; \
		$(LAMBDA_PYTHON_BIN)/python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash \
			-s $$artifact -p $$on_lambda $$artifact || exit 1; \
	done
