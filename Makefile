# Two commands do everything on a fresh machine:
#   make run   - set up, then open the window on the bundled sample clip with the shipped model
#   make test  - set up, then lint and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE ?= resources/samples/trailer_bbb.mp4

.PHONY: run test lint setup system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: system-deps $(STAMP)

# QtMultimedia (video preview with sound) links libpulse; offscreen Qt needs fontconfig/EGL.
system-deps:
	@bash scripts/system_deps.sh

run: setup
	$(BIN)/highlight-studio $(SAMPLE)

lint: $(STAMP)
	$(BIN)/ruff check highlight_studio tests benchmarks scripts
	$(BIN)/lint-imports

test: setup lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
