#!/usr/bin/env bash
# End-to-end smoke check of loadtest for our own CI, run by .ci/run after `make test`.
#
# Runs scripts/ci-smoke.yaml (10 s against the built-in emulator, on loopback only), then judges the run
# against the scenario's thresholds and the committed baseline baselines/ci-smoke/, writing the verdicts,
# the report and JUnit XML into the run directory. Exit status is loadtest check's: 0 pass, 1 a threshold
# or a regression failed, 2 bad input, 3 not judgeable; anything else means the run itself failed.
#
#   bash scripts/ci-smoke.sh [REPORTS_DIR]      (default: reports/ci-smoke)
set -euo pipefail
cd "$(dirname "$0")/.."

LOADTEST=${LOADTEST:-.venv/bin/loadtest}
OUT=${1:-reports/ci-smoke}
RUN_DIR="$OUT/run"
SCENARIO=scripts/ci-smoke.yaml

rm -rf "$RUN_DIR"
mkdir -p "$OUT"
"$LOADTEST" validate "$SCENARIO"
"$LOADTEST" run "$SCENARIO" --run-dir "$RUN_DIR" --no-progress --no-report --no-thresholds  # judged once, below
"$LOADTEST" check "$RUN_DIR" --baselines-dir baselines --junit "$OUT/junit.xml"
