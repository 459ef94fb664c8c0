# Targets CI and developers share. `make test` and `make demo` work on a fresh machine:
# each setup step is idempotent and fast once done.
SHELL := /bin/bash
VENV ?= .venv
PY := $(abspath $(VENV))/bin/python
BIN := $(abspath $(VENV)/bin)
# Offline images and wheelhouse for this machine (no registry); prints export lines.
OFFLINE := eval "$$(scripts/offline-images)"

.PHONY: setup docker test unit integration lint format bench demo demo-down clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

docker:
	@docker info >/dev/null 2>&1 || scripts/install-docker
	@docker compose version >/dev/null 2>&1 || scripts/install-docker
	@# tmux: the terminal the live views (`stack top`, `stack celery events`) are tested on
	@command -v tmux >/dev/null 2>&1 || { apt-get -qq -o DPkg::Lock::Timeout=300 update && \
	  apt-get -qq -y -o DPkg::Lock::Timeout=300 install --no-install-recommends tmux; }
	@# docker-registry: the reference registry `stack build --push` is tested against
	@command -v docker-registry >/dev/null 2>&1 || { apt-get -qq -o DPkg::Lock::Timeout=300 update && \
	  apt-get -qq -y -o DPkg::Lock::Timeout=300 install --no-install-recommends docker-registry; }

setup: $(VENV)/.installed docker

test: setup
	exports=$$(scripts/offline-images) && eval "$$exports" && $(PY) -m pytest

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

integration: setup
	exports=$$(scripts/offline-images) && eval "$$exports" && $(PY) -m pytest tests/integration

lint: $(VENV)/.installed
	$(BIN)/ruff check stack tests bench examples
	$(BIN)/ruff format --check stack tests bench examples
	$(BIN)/mypy stack

format: $(VENV)/.installed
	$(BIN)/ruff check --fix stack tests bench examples
	$(BIN)/ruff format stack tests bench examples

bench: setup
	exports=$$(scripts/offline-images) && eval "$$exports" && $(PY) bench/run.py

demo: setup
	exports=$$(scripts/offline-images) && eval "$$exports" && cd examples/colors && \
	  $(BIN)/stack validate && $(BIN)/stack routes && $(BIN)/stack up && \
	  $(PY) enqueue.py && $(BIN)/stack ps

demo-down: $(VENV)/.installed
	cd examples/colors && $(BIN)/stack down --volumes

clean:
	rm -rf $(VENV) rendered .pytest_cache .mypy_cache .ruff_cache
