# The front door: every command of the workshop starts here.
#
#   make run              start stage 01 on http://127.0.0.1:8000/api/ (Ctrl-C stops it)
#   make test             test every stage: its own tests, the contract suite, a Locust smoke run
#   make help             everything else
#
# The real work is done by the course's CLI, workshop/shopctl (`python -m shopctl --help`);
# this file only builds the environment it runs in and passes the variables on as arguments.

.DEFAULT_GOAL := help

# Variables you may set on the command line (`make load STAGE=02 USERS=50`).
# Plain `=`, not `?=`: an unrelated STAGE or HOST in your shell (zsh sets HOST) must not leak in.
STAGE =
USERS = 20
SPAWN_RATE = 5
DURATION = 60s
HOST =
MODE =
EXERCISE =
HINT =
FAULT =
ONLY =
QUICK =
SLO = 100
STEP = 15s
MAX_USERS = 64
ID =
# `?=` here on purpose: `PYTHON=python3.12 make run` is a reasonable thing to type.
PYTHON ?= python3

VENV := .venv
# Records which requirements.lock the venv was built from: a newer lock rebuilds it.
VENV_STAMP := $(VENV)/.built-from-requirements-lock
SHOPCTL := PYTHONPATH=workshop $(VENV)/bin/python -m shopctl

.PHONY: help doctor run test check load compare capacity bench fault invariants trace protos certs lock lint clean

help:
	@echo "usage: make <target> [VARIABLE=value ...]"
	@echo
	@echo "targets:"
	@echo "  doctor  is this machine ready for the course? (QUICK=1 skips starting the stages)"
	@echo "  run     start a stage, wait until it answers, print where everything is; Ctrl-C stops it"
	@echo "  test    each stage's own tests, then the contract suite and a Locust smoke run against it"
	@echo "  check   EXERCISE=<id>: is that exercise done? (without EXERCISE: the list); a hint if not,"
	@echo "          HINT=2, 3 for more (the last is the answer)"
	@echo "  load    a Locust load run; CSV and HTML reports land in var/reports/"
	@echo "  compare every stage in turn under the same load; a report with tables and a chart"
	@echo "  capacity each stage's capacity (rising load until p95 passes the SLO) and a scorecard"
	@echo "  bench   the costs the workshop talks about, each against a floor measured alongside"
	@echo "  fault   FAULT=\"kill payments\": break one part of the running stage (without FAULT: the list)"
	@echo "  invariants  do the stage's books agree? (charges = confirmed orders, emails; stage 04: stock too)"
	@echo "  trace   the recent traces, newest first; ID=<trace id> or ID=last: one trace's waterfall"
	@echo "          in the terminal and as an HTML page in var/reports/"
	@echo "  protos  regenerate the gRPC code from proto/ and refuse wire-breaking changes"
	@echo "  certs   stage 04's certificate authority and service certificates (mutual TLS)"
	@echo "  lint    ruff check"
	@echo "  lock    rewrite requirements.lock from the ranges in pyproject.toml"
	@echo "  clean   remove var/ (databases, broker files, emails, reports); keeps .venv/"
	@echo
	@echo "variables:"
	@echo "  FAULT=\"…\"        fault: e.g. \"pause inventory 20s\", \"latency payments 800ms 30s\", \"broker 30s\""
	@echo "  STAGE=NN         run, load, fault, invariants: the stage (default 01); test, compare, capacity: one or more,"
	@echo "                   STAGE=\"01 02\" (default: every stage, and for test the course's own"
	@echo "                   tests too, which STAGE=workshop runs alone)"
	@echo "                   trace: only that stage's spans (default: every stage)"
	@echo "  USERS=$(USERS)         load, compare: simulated users"
	@echo "  SPAWN_RATE=$(SPAWN_RATE)     load, compare: users started per second"
	@echo "  DURATION=$(DURATION)     load, compare: how long it runs (30s, 5m, ...), per stage"
	@echo "  HOST=URL         load: a shop already running there, instead of starting the stage"
	@echo "  ID=<trace id>    trace: the trace to draw (the X-Trace-Id a response carried), or last"
	@echo "  MODE=real        compare, capacity: PostgreSQL and RabbitMQ (default: as DATABASE_URL/BROKER_URL say)"
	@echo "  SLO=$(SLO)          capacity: the p95 (ms) a stage must keep with no failed request"
	@echo "  STEP=$(STEP)        capacity: how long each step of rising load lasts"
	@echo "  MAX_USERS=$(MAX_USERS)     capacity: users (requests in flight) of the last step (1, 2, 4, ... up to it)"
	@echo "  ONLY=saturation  bench: only the ratios at saturation (ONLY=costs: only the rest;"
	@echo "                   ONLY=tracing: only stage 04 with tracing off and on)"
	@echo "  PYTHON=$(PYTHON)   the interpreter (3.11 or newer) that builds .venv/"
	@echo
	@echo "environment: DATABASE_URL=postgres://... BROKER_URL=amqp://... switch from the embedded"
	@echo "mode (SQLite, file broker, under var/) to PostgreSQL and RabbitMQ."

doctor: $(VENV_STAMP)
	$(SHOPCTL) doctor $(if $(QUICK),--quick)

run: $(VENV_STAMP)
	$(SHOPCTL) run --stage $(or $(STAGE),01)

test: $(VENV_STAMP)
	$(SHOPCTL) test $(addprefix --stage ,$(STAGE))

check: $(VENV_STAMP)
	$(SHOPCTL) check $(EXERCISE) $(if $(HINT),--hint $(HINT))

fault: $(VENV_STAMP)
	$(SHOPCTL) fault --stage $(or $(STAGE),01) $(FAULT)

invariants: $(VENV_STAMP)
	$(SHOPCTL) invariants --stage $(or $(STAGE),01)

load: $(VENV_STAMP)
	$(SHOPCTL) load --stage $(or $(STAGE),01) --users $(USERS) --spawn-rate $(SPAWN_RATE) \
		--duration $(DURATION) $(if $(HOST),--host $(HOST))

compare: $(VENV_STAMP)
	$(SHOPCTL) compare $(addprefix --stage ,$(STAGE)) --users $(USERS) --spawn-rate $(SPAWN_RATE) \
		--duration $(DURATION) $(if $(MODE),--mode $(MODE))

capacity: $(VENV_STAMP)
	$(SHOPCTL) capacity $(addprefix --stage ,$(STAGE)) --slo $(SLO) --step $(STEP) \
		--max-users $(MAX_USERS) $(if $(MODE),--mode $(MODE))

bench: $(VENV_STAMP)
	$(SHOPCTL) bench $(if $(ONLY),--only $(ONLY))

trace: $(VENV_STAMP)
	$(SHOPCTL) trace $(if $(ID),--id $(ID)) $(if $(STAGE),--stage $(STAGE))

protos: $(VENV_STAMP)
	$(SHOPCTL) protos

# Stage 04 makes missing certificates itself; this makes them ahead, where it will look.
certs: $(VENV_STAMP)
	cd 04-services && ../$(VENV)/bin/python -m chassis.certificates \
		$(or $(SHOP_VAR_DIR),../var/04-services)/certs

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .

# uv resolves the ranges of pyproject.toml into exact pins (the environment's build installs
# it; an environment that pip built gets it here).
lock: $(VENV_STAMP)
	@$(VENV)/bin/python -m uv --version >/dev/null 2>&1 \
		|| $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(UV)'
	$(VENV)/bin/python -m uv pip compile pyproject.toml -o requirements.lock \
		--python-version 3.11 --all-extras --no-header --annotation-style line --quiet
	@echo "requirements.lock rewritten (git diff requirements.lock shows what moved);" \
		"the next make target installs it."

clean:
	rm -rf var/

# The environment: a venv with exactly the pins of requirements.lock. uv installs them: 20 s
# on 2 cores where pip took 98 s (a fresh venv, both with the bytecode compiled, measured on
# this repository's lock), because uv downloads and compiles in parallel. If uv cannot be
# installed or cannot reach the index (a proxy with its own certificate, say), pip does the
# same job, slower. Both only add and upgrade, so a package dropped from the lock stays until
# you `rm -rf .venv`.
UV := uv==0.13.9
$(VENV_STAMP): requirements.lock
	@if $(VENV)/bin/python -c '' 2>/dev/null; then \
		echo "updating the environment from requirements.lock…"; \
	else \
		echo "building the environment (first run, seconds with uv, a minute or two with pip)…"; \
		$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
			echo "error: the workshop needs Python 3.11 or newer; '$(PYTHON)' is" \
				"$$(command -v $(PYTHON) >/dev/null && $(PYTHON) --version 2>&1 || echo 'not found')." >&2; \
			echo "       Install one, or point make at it: make $(or $(MAKECMDGOALS),run) PYTHON=python3.11" >&2; \
			exit 1; }; \
		$(PYTHON) -m venv --clear $(VENV) || exit 1; \
	fi
	@{ $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(UV)' \
		&& $(VENV)/bin/python -m uv pip install --quiet --compile-bytecode \
			--python $(VENV)/bin/python -r requirements.lock; } \
	|| { echo "uv could not install requirements.lock (above); pip installs it instead…"; \
		$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock; }
	@touch $@
