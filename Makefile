# gr-semcom: `make demo` runs the main job, `make test` runs every test. Both set up first.
VENV   := .venv
PY     := $(VENV)/bin/python
SEMCOM := $(VENV)/bin/semcom

.PHONY: setup demo test test-fast bench install clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(SEMCOM) demo --out out/demo

test: setup
	$(PY) -m pytest -q -ra

# Everything but the long statistical checks.
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

bench: setup
	$(SEMCOM) bench fec --json

# Install the blocks, GRC YAML and flowgraphs under /usr/local (GRC finds them there).
install: setup
	cmake -B build -DPython3_EXECUTABLE=/usr/bin/python3 && cmake --build build && cmake --install build

clean:
	rm -rf build out .pytest_cache
