# loadtest: every target creates or refreshes the local .venv from the project's own files first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/smoke.yaml
ARGS ?=

.PHONY: venv test lint bench ui emulator perf check clean

venv: $(STAMP)

# A first install takes a few minutes; say so, and say each step (VERBOSE=1 shows pip's own output).
PIP_QUIET := $(if $(VERBOSE),,--quiet)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "make: creating $(VENV) (a Python virtual environment for this checkout)"; \
		$(PYTHON) -m venv $(VENV); }
	@echo "make: updating pip in $(VENV)"
	@$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip
	@echo "make: installing loadtest and its dependencies into $(VENV) (first time: a few minutes; VERBOSE=1 shows pip)"
	@$(BIN)/python -m pip install $(PIP_QUIET) -e '.[dev,worker]'
	@touch $(STAMP)
	@echo "make: $(VENV) is ready"

test: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 4 --dist loadfile $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: venv
	$(BIN)/loadtest run $(SCENARIO) $(ARGS)

ui: venv
	$(BIN)/loadtest ui $(SCENARIO) $(ARGS)

emulator: venv
	$(BIN)/loadtest emulate $(ARGS)

check: venv
	$(BIN)/loadtest run $(SCENARIO) --check $(if $(BASELINE),--baseline $(BASELINE)) $(ARGS)

perf: venv
	@command -v wrk >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
		echo "installing wrk (Debian package) for bench_emulator"; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk >/dev/null; \
	} || echo "could not install wrk; bench_emulator will say so"
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
