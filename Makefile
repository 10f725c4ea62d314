# One entry point for developers and CI. `make test` is the whole suite.
SHELL := /bin/bash
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .venv-checkov
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv lint test validate start sent feedback bench clean openapi

venv: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt constraints-dev.txt
	rm -rf $(VENV)
	"$$(scripts/find-python.sh)" -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints-dev.txt
	# The command-line client, .venv/bin/messaging (messaging_client/, editable: never in the Lambda layer).
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# The SAM CLI gets a venv of its own: its pins clash with the product's.
$(SAM_VENV)/.installed: requirements-sam.txt constraints-sam.txt
	rm -rf $(SAM_VENV)
	"$$(scripts/find-python.sh)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q -r requirements-sam.txt -c constraints-sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt constraints-checkov.txt
	rm -rf $(CHECKOV_VENV)
	"$$(scripts/find-python.sh)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements-checkov.txt -c constraints-checkov.txt
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# SAM's own checks, then cfn-lint in every supported region (.cfnlintrc.yaml lists them).
validate: venv
	$(SAM) validate --lint --region us-east-1
	$(SAM_VENV)/bin/cfn-lint

# Two runs, one coverage figure (the second appends to the first): the unit, integration and template
# tests on $(TEST_WORKERS) xdist workers, each starting its own servers on free ports; then the end-to-end
# tests alone, as they share one sam local stack on fixed ports. Both run even when the first fails, as
# one run did; the log ends with the whole suite's count.
TEST_WORKERS ?= 2
test: lint
	scripts/ensure-chromium.sh
	export SAM_CLI=$(SAM) CHECKOV=$(CHECKOV_VENV)/bin/checkov; \
	logs=$$(mktemp -d); color=$$([ -t 1 ] && echo yes || echo no); \
	$(PY) -m pytest tests --ignore=tests/e2e -n $(TEST_WORKERS) --dist worksteal --color=$$color \
		--cov --cov-report= | tee $$logs/parallel.log; parallel=$${PIPESTATUS[0]}; \
	$(PY) -m pytest tests/e2e --color=$$color \
		--cov --cov-append --cov-report=term --cov-fail-under=90 | tee $$logs/e2e.log; e2e=$${PIPESTATUS[0]}; \
	$(PY) scripts/pytest_total.py $$logs/parallel.log $$logs/e2e.log; rm -rf $$logs; \
	[ $$parallel = 0 ] && [ $$e2e = 0 ]

# openapi.json from SendFunction's routes and models (tests/unit/test_openapi.py fails when it is stale).
openapi: venv
	$(PY) -m local.openapi

# The whole product offline: SecantusDB, moto, FCM stand-in, sam build + sam local (Ctrl-C stops it).
# It needs the product's venv and SAM's, not checkov's.
start: $(VENV)/.installed $(SAM_VENV)/.installed
	scripts/ensure-docker.sh
	$(PY) -m local.stack

# With `make start` running: what the providers received, per channel, newest last (local/sent.py).
sent: $(VENV)/.installed
	$(PY) -m local.sent $(ARGS)

# With `make start` running: a real send, then an SES delivery event for it through FeedbackFunction.
feedback: $(VENV)/.installed
	$(PY) -m local.feedback $(ARGS)

# Fan-out against the concurrency bound (prints a table; see bench/run.py --help).
bench: venv
	$(PY) -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage
