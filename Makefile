# Doppelganger: `make run` sets up, trains and evaluates the default model if missing; `make test` runs every test.
# Settings come from the environment (see model/settings.py); on a machine with ../shared beside the clone, the
# data and ImageNet weights there are used by default.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export DOPPELGANGER_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(abspath data))
export TORCH_HOME ?= $(if $(wildcard ../shared/weights/torch),$(abspath ../shared/weights/torch),$(HOME)/.cache/torch)
DEFAULT_RUN ?= runs/default

.PHONY: setup run train evaluate test clean help

help:
	@echo "make run    set up, train and evaluate the default model (LFW-62) if missing"
	@echo "make test   set up and run every test"
	@echo "make clean  remove the virtual environment and caches (keeps runs/)"

# The virtual environment is created once and refreshed whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	@test -d "$(DOPPELGANGER_DATA_DIR)/lfw" || $(BIN)/doppelganger data download lfw --dest "$(DOPPELGANGER_DATA_DIR)/lfw"
	@if [ -f $(DEFAULT_RUN)/config.json ]; then \
		$(BIN)/doppelganger train --resume --out $(DEFAULT_RUN); \
	else \
		$(BIN)/doppelganger train --out $(DEFAULT_RUN); \
	fi
	@test -f $(DEFAULT_RUN)/eval.json || $(BIN)/doppelganger evaluate $(DEFAULT_RUN)
	@echo "The default model's evaluation: $(DEFAULT_RUN)/eval.md"
	@cat $(DEFAULT_RUN)/eval.md

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) cache .pytest_cache
