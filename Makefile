# Doppelganger: `make run` sets up, trains the default model and builds the LFW index if missing, then serves the app;
# `make test` sets up and runs every test.
# Settings come from the environment (see model/settings.py); on a machine with ../shared beside the clone, the
# data and ImageNet weights there are used by default.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export DOPPELGANGER_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(abspath data))
export TORCH_HOME ?= $(if $(wildcard ../shared/weights/torch),$(abspath ../shared/weights/torch),$(HOME)/.cache/torch)
DEFAULT_RUN ?= runs/default
DEFAULT_CONFIG ?= configs/default.toml
INDEX_DIR ?= indexes/lfw
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run train evaluate test bench clean help

help:
	@echo "make run    set up, train the default model and build the LFW index if missing, then serve on http://$(HOST):$(PORT)"
	@echo "make test   set up and run every test"
	@echo "make bench  every benchmark of docs/performance.md and docs/scaling.md (about 40 minutes; needs make run's model and index)"
	@echo "make clean  remove the virtual environment and caches (keeps runs/)"

# The virtual environment is created once and refreshed whenever pyproject.toml changes. The test extra brings
# Playwright for Python (its driver only: no browser is ever downloaded, never run `playwright install`).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The browser tests (tests/browser) drive Debian's Chromium. Installed with apt when missing, as root or through
# sudo; where neither works (or there is no apt) the browser tests are skipped and say why.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,$(if $(shell command -v sudo),sudo -n,))

$(CHROMIUM):
	@if ! command -v apt-get >/dev/null 2>&1; then \
		echo "no apt-get here: install Chromium as $(CHROMIUM) to run the browser tests (skipped until then)"; \
	elif [ "$$(id -u)" != 0 ] && [ -z "$(SUDO)" ]; then \
		echo "not root and no sudo: run 'apt-get install chromium' as root to run the browser tests (skipped until then)"; \
	else \
		echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

setup: $(STAMP) $(CHROMIUM)

# make run: everything a fresh clone needs, each step skipped when its result is already there: the LFW data, the
# pretrained face model (../shared/weights/faces, or downloaded into weights/faces with its SHA-256 checked), the
# default model (configs/default.toml: that face model as published; README, Results), its evaluation, the LFW index
# (an incremental rebuild: a no-op when nothing changed), then the web app on http://$(HOST):$(PORT).
run: $(STAMP)
	@test -d "$(DOPPELGANGER_DATA_DIR)/lfw" || $(BIN)/doppelganger data download lfw --dest "$(DOPPELGANGER_DATA_DIR)/lfw"
	@$(BIN)/doppelganger models download face-reidentification-retail-0095
	@if [ -f $(DEFAULT_RUN)/config.json ]; then \
		$(BIN)/doppelganger train --resume --out $(DEFAULT_RUN); \
	else \
		echo "making the default model ($(DEFAULT_CONFIG)): a few minutes on 2 cores, most of them finding the landmarks of every LFW face once"; \
		$(BIN)/doppelganger train --config $(DEFAULT_CONFIG) --out $(DEFAULT_RUN); \
	fi
	@test -f $(DEFAULT_RUN)/eval.json || $(BIN)/doppelganger evaluate $(DEFAULT_RUN) --no-baselines
	@echo "The default model's evaluation is in $(DEFAULT_RUN)/eval.md"
	$(BIN)/doppelganger index build --run $(DEFAULT_RUN) --out $(INDEX_DIR)
	$(BIN)/doppelganger serve --index $(INDEX_DIR) --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest -q

# The benchmarks print the figures of docs/performance.md and docs/scaling.md. Run them on an idle machine: they
# measure time. The peer (dlib) is an optional extra, installed here only.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,peer]"
	$(BIN)/python bench/embed_speed.py $(DEFAULT_RUN)
	$(BIN)/python bench/detector_speed.py
	$(BIN)/python bench/peer_compare.py --run $(DEFAULT_RUN) --index $(INDEX_DIR)
	$(BIN)/python bench/load_test.py --index $(INDEX_DIR)
	$(BIN)/python bench/faiss_scale.py
	$(BIN)/python bench/train_scaling.py --config configs/imagenet-semihard.toml
	$(BIN)/python bench/train_speed.py

clean:
	rm -rf $(VENV) cache .pytest_cache
