# toolgym: the two commands a new user needs.
#   make demo   - runs the main job (`toolgym bench quick`), prints the leaderboard, then a short learning run
#   make test   - type-checks (mypy) and runs the whole test suite (what CI runs)
# Both create or reuse a virtual environment in $(VENV) and install what they need.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch must be the CPU build: a bare `torch` requirement with no torch installed pulls GBs of CUDA packages.
TORCH_SPEC ?= torch==2.13.0
# The tested dependency set: every install goes through it (regenerate with `make lock`).
LOCK ?= requirements/lock.txt
# pip, setuptools and wheel build toolgym itself: pinned too, so a new release of them cannot break an install.
BUILD_TOOLS ?= pip==26.3 setuptools==84.2.1 wheel==0.48.0
STAMP := $(VENV)/.toolgym-$(shell cat setup.cfg pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# Evaluated once (a recursive variable would call `date` at each use and could name two folders).
ifndef DEMO_OUT
DEMO_OUT := runs/demo-$(shell date +%Y%m%d-%H%M%S)
endif

.PHONY: demo test test-fast install system-deps lint typecheck clean lock lock-upgrade

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "toolgym needs Python 3.11 or newer, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(BUILD_TOOLS)
	$(PY) -c 'import torch' 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.toolgym-*
	touch $@

install: $(STAMP)

# Debian packages the sandbox and report tests use; installed when missing and this user may install them.
system-deps:
	@bash scripts/system_deps.sh

# The main job: every env family, baselines and the tiny LLM agent; real-data envs join when
# TOOLGYM_DATA_DIR holds their data. Prints the leaderboard and the HTML report's path.
# Then a short learning run (`toolgym train demo`, about 3 minutes): a tiny model trained from scratch, its held-out
# success untrained, after SFT on teacher demonstrations and after one ReST-EM iteration, printed and plotted.
demo: $(STAMP)
	$(VENV)/bin/toolgym bench quick --out $(DEMO_OUT)
	@echo "Run folder: $(DEMO_OUT) (reprint: $(VENV)/bin/toolgym report $(DEMO_OUT))"
	@echo "HTML report: $(abspath $(DEMO_OUT))/report.html"
	$(VENV)/bin/toolgym train demo --out $(DEMO_OUT)/learning
	@echo "Learning curve: $(abspath $(DEMO_OUT))/learning/learning_curve.png"

# The whole suite: mypy first, then every test (slow and LLM tests included; network and docker tests skip
# themselves when unreachable).
test: typecheck system-deps
	$(PY) -m pytest -m "" $(PYTEST_ARGS)

# The default quick run (slow and llm tests deselected).
test-fast: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mypy on the installed layout (toolgym.agents, ...; see the script); settings and the modules not yet clean
# are in pyproject.toml.
typecheck: $(STAMP)
	PY=$(PY) scripts/typecheck.sh

# Re-resolve the lock (keeping the current pins the ranges in setup.cfg still allow) / take the newest releases
# those ranges allow. Then `make test`; commit the lock with the change that needed it.
lock: $(STAMP)
	UV=$(VENV)/bin/uv scripts/lock.sh

lock-upgrade: $(STAMP)
	UV=$(VENV)/bin/uv scripts/lock.sh --upgrade

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
