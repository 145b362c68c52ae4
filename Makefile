# Two commands do everything on a fresh machine:
#   make run   - set up, then open the window on the bundled sample clip with the shipped model
#   make test  - set up, then lint and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE ?= resources/samples/trailer_bbb.mp4

.PHONY: run test lint setup system-deps clean

# Debian's python3 lacks venv's ensurepip until python3-venv is installed.
$(STAMP): pyproject.toml
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { \
	  bash scripts/system_deps.sh --venv $(PYTHON) && $(PYTHON) -m venv --clear $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: system-deps

# Qt's platform, GL and multimedia plugins link X11, Wayland and PulseAudio libraries the wheels
# do not bundle: the script finds the missing ones with ldd and installs them (as root), and for
# the tests also Xvfb, which the real window is tested on.
system-deps: $(STAMP)
	@bash scripts/system_deps.sh $(DEPS_FLAGS) $(BIN)/python

run: setup
	$(BIN)/highlight-studio $(SAMPLE)

lint: $(STAMP)
	$(BIN)/ruff check highlight_studio tests benchmarks scripts
	$(BIN)/lint-imports

test: DEPS_FLAGS = --test
test: setup lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
