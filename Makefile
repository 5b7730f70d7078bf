# gr-semcom: `make demo` runs the main job, `make test` runs every test. Both set up first.
VENV   := .venv
PY     := $(VENV)/bin/python
SEMCOM := $(VENV)/bin/semcom

.PHONY: setup demo test test-fast lint figures bench install clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(SEMCOM) demo --out out/demo

test: setup
	$(PY) -m pytest -q -ra

# Everything but the long statistical checks.
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

# ruff (configured in pyproject.toml); CI runs it before the tests.
lint: setup
	$(VENV)/bin/ruff check .

# Redraw the figures in docs/figures from the experiments that make them (long: see the script).
figures: setup
	bash scripts/figures.sh

bench: setup
	$(SEMCOM) bench fec --json

# Install the blocks, GRC YAML and flowgraphs under /usr/local (GRC finds them there).
install: setup
	cmake -B build -DPython3_EXECUTABLE=/usr/bin/python3 && cmake --build build && cmake --install build

clean:
	rm -rf build out .pytest_cache
