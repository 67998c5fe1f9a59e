# The two commands: `make run` (the local stack with a demo) and `make test` (the whole suite).
# Both create .venv themselves on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed
# The development environment, locked with hashes (pip-compile): every package that pyproject.toml's
# dependencies and extras bring, each at one version. After changing a pin there: `make lock`.
LOCK := requirements-dev.txt
# checkov in a venv of its own: it pins an older boto3 than the functions run.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30
PIP_TOOLS_VERSION := 7.6.2
# What ruff checks: the code that ships, the CLI, the local stack, the tests and the benchmarks (mypy:
# the files in pyproject.toml).
LINTED := layers functions cli local tests bench

.PHONY: run test e2e lint format lock bench faults build validate

$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r $(LOCK)
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(STAMP)

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_STAMP)

run: $(STAMP)
	$(VENV)/bin/bulk-import serve --demo-users 10000

# TESTS narrows the run, as pytest's arguments: `make test TESTS=tests/unit`. WORKERS is how many
# processes share the tests (pytest-xdist): `auto`, one per core; 0, the tests in make's own process
# (as a debugger wants them).
WORKERS ?= auto
test: $(STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/python -m pytest --numprocesses $(WORKERS) --dist worksteal $(TESTS)

# The end-to-end suite (tests/e2e: HTTP and the CLI only). Alone, against a local stack it starts, as
# `make test` runs it; `make e2e STACK=NAME`: against that deployed stack, with your AWS credentials
# (AWS_PROFILE, AWS_REGION): its ApiUrl output (or BASE_URL=URL, e.g. its custom domain), and
# credentials that `bulk-import token create --stack-name NAME` issues into its table. It imports into
# cells of its own and into the Rocket.Chat cell: a dev stack, not prod (scripts/smoke.sh reads only).
# --confcutdir: tests/conftest.py (in-process moto, the functions' environment) is not loaded.
e2e: $(STAMP)
	E2E_STACK="$(STACK)" $(VENV)/bin/python -m pytest --confcutdir=tests/e2e tests/e2e

# What tests/template/test_lint.py asserts, with the findings in full.
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

# Regenerates the lock from pyproject.toml, and the layer's hashed requirements from
# layers/bulk_import/requirements.in, resolved for the Lambda runtime's Python and held to the lock's
# versions. A version already locked stays while pyproject.toml allows it; `make lock UPGRADE=--upgrade`
# takes the newest allowed of everything. Neither file names an index: they install from whichever
# index pip is configured with (PyPI, or a mirror of it).
PIP_COMPILE_FLAGS := --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links --quiet \
	$(UPGRADE)
lock: $(STAMP)
	$(VENV)/bin/pip install --quiet pip-tools==$(PIP_TOOLS_VERSION)
	$(VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) --all-extras -o $(LOCK) pyproject.toml
	$(LAMBDA_PYTHON) -m venv $(VENV)/lambda-lock
	$(VENV)/lambda-lock/bin/pip install --quiet pip-tools==$(PIP_TOOLS_VERSION)
	cd layers/bulk_import && ../../$(VENV)/lambda-lock/bin/pip-compile $(PIP_COMPILE_FLAGS) \
		--constraint ../../$(LOCK) -o requirements.txt requirements.in

# One table: every benchmark's figures next to their goals (bench/run.py).
bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

# Every worker write crashed before, crashed after, and contended, each through the real state
# machine (docs/worker.md, "The fault matrix"); make test runs a sample of it.
faults: $(STAMP)
	$(VENV)/bin/python -m tests.faults.matrix

validate: $(STAMP)
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam validate --lint

# The Lambda runtime's Python (3.13): python3.13 on PATH if it runs (a pyenv shim of a version that
# is not selected does not), else pyenv's 3.13. Override with LAMBDA_PYTHON_BIN=/path/to/bin.
ifndef LAMBDA_PYTHON_BIN
LAMBDA_PYTHON_BIN := $(shell python3.13 -c 'import os, sys; print(os.path.dirname(sys.executable))' 2>/dev/null \
	|| { prefix=$$(pyenv prefix 3.13 2>/dev/null) && echo "$$prefix/bin"; })
endif
LAMBDA_PYTHON := $(LAMBDA_PYTHON_BIN)/python3.13

# sam build ships no bytecode (it leaves __pycache__ out and unpacks wheels without compiling
# them), and /opt and /var/task are read-only on Lambda: every cold start would compile every
# module it imports. So the artifacts are compiled here, by the runtime's Python, with the paths
# the files have on Lambda (for tracebacks), and unchecked-hash: zip packaging does not keep the
# files' times that default bytecode is checked against, and an artifact never changes once built.
build: $(STAMP)
	@test -x "$(LAMBDA_PYTHON)" || { echo "no Python 3.13 found: make build LAMBDA_PYTHON_BIN=/path/to/bin" >&2; exit 1; }
	PATH="$(LAMBDA_PYTHON_BIN):$$PATH" $(VENV)/bin/sam build
	cd .aws-sam/build && for artifact in $$(ls -d */ | tr -d /); do \
		case $$artifact in BulkImportLayer) on_lambda=/opt;; *) on_lambda=/var/task;; esac; \
		$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
			-s $$artifact -p $$on_lambda $$artifact || exit 1; \
	done
