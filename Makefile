# loadtest: every target creates or refreshes the local .venv from the project's own files first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/smoke.yaml
ARGS ?=

.PHONY: venv test lint bench ui emulator perf check clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,worker]'
	@touch $(STAMP)

test: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

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
