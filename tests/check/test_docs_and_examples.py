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


def test_github_actions_example_judges_against_its_own_baseline_and_publishes_the_report() -> None:
    workflow = yaml.safe_load((REPO / "examples" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["loadtest"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    # Only what a load test needs: loadtest itself, not the dev extras.
    assert "pip install ." in scripts and "[dev]" not in scripts and "make " not in scripts
    assert "loadtest run" in scripts and "--baseline" in scripts
    # The baseline is made by the workflow on main, per runner kind, and restored for pull requests.
    cache = [step for step in steps if step.get("uses", "").startswith("actions/cache/")]
    assert {step["uses"].split("@")[0] for step in cache} == {"actions/cache/restore", "actions/cache/save"}
    assert all("runner.os" in step["with"]["key"] for step in cache)
    saving = [step for step in steps if "baseline save" in step.get("run", "")]
    assert saving and "github.event_name == 'push'" in saving[0]["if"]
    assert all(step["with"]["path"] == "${{ env.LOADTEST_BASELINES }}" for step in cache)
    assert "$GITHUB_STEP_SUMMARY" in scripts and "summary.md" in scripts
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in steps)
    assert "--junit" in scripts
    # publishing steps run whatever the verdict; the job fails at the end with the check's exit code
    publishing = [step for step in steps if step.get("name") in ("JUnit XML", "Step summary", "Upload the report",
                                                                   "Verdict")]
    assert len(publishing) == 4 and all(step["if"].startswith("always()") for step in publishing)
    assert "exit_code" in scripts
    # The scenario it names exists and allows for a shared runner (absolute slack on loopback latency).
    scenario = yaml.safe_load((REPO / workflow["env"]["SCENARIO"]).read_text())
    assert {"latency.p50", "latency.p95"} <= set(scenario["baseline"]["tolerances"])


def test_ci_smoke_script_uses_the_committed_baseline() -> None:
    script = (REPO / "scripts" / "ci-smoke.sh").read_text()
    scenario = yaml.safe_load((REPO / "scripts" / "ci-smoke.yaml").read_text())
    assert scenario["baseline"]["name"] == "ci-smoke"
    assert (REPO / "baselines" / scenario["baseline"]["name"] / "summary.json").exists()
    assert "loadtest\" check" in script or "$LOADTEST\" check" in script
    assert "--junit" in script
