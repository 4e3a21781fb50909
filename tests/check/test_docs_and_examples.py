"""The CI example and docs/ci.md stay in step with the commands they describe."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from loadtest.cli import baseline as command_baseline
from loadtest.cli import check as command_check

REPO = Path(__file__).resolve().parents[2]


def _options(module) -> set[str]:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return {s for action in parser._actions for s in action.option_strings if s.startswith("--") and s != "--help"}


def test_every_check_and_baseline_option_is_documented() -> None:
    text = (REPO / "docs" / "ci.md").read_text()
    missing = sorted(o for o in _options(command_check) | _options(command_baseline) if f"`{o}" not in text
                     and f" {o}" not in text)
    assert not missing, f"docs/ci.md does not mention {missing}"


def test_github_actions_example_runs_make_check_and_publishes_the_report() -> None:
    workflow = yaml.safe_load((REPO / "examples" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["loadtest"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    assert "make check" in scripts
    assert "$GITHUB_STEP_SUMMARY" in scripts and "summary.md" in scripts
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in steps)
    assert "--junit" in scripts
    # publishing steps run whatever the verdict; the job fails at the end with the check's exit code
    assert all(step.get("if", "").startswith("always()") for step in steps[3:])
    assert "exit_code" in scripts


def test_ci_smoke_script_uses_the_committed_baseline() -> None:
    script = (REPO / "scripts" / "ci-smoke.sh").read_text()
    scenario = yaml.safe_load((REPO / "scripts" / "ci-smoke.yaml").read_text())
    assert scenario["baseline"]["name"] == "ci-smoke"
    assert (REPO / "baselines" / scenario["baseline"]["name"] / "summary.json").exists()
    assert "loadtest\" check" in script or "$LOADTEST\" check" in script
    assert "--junit" in script
