"""The baseline verdict is not flaky, and still catches a slower endpoint (synthetic run directories).

Runs are drawn from the same distributions (``conftest.synthetic_run``), written as real run directories
through the recorder and ``write_run_directory``, saved as baselines and judged with ``judge_run``.
"""

from __future__ import annotations

from pathlib import Path

from loadtest import exitcodes
from loadtest.check.baselines import save_baseline
from loadtest.check.judge import judge_run

REPETITIONS = 20


def test_same_scenario_twice_passes_against_its_own_baseline_19_of_20(tmp_path: Path, check_helpers) -> None:
    passed, failures = 0, []
    for i in range(REPETITIONS):
        first = check_helpers.synthetic_run(tmp_path / f"first{i}", seed=1000 + 2 * i)
        second = check_helpers.synthetic_run(tmp_path / f"second{i}", seed=1001 + 2 * i)
        save_baseline(first, f"rep{i}", tmp_path / "baselines")
        verdicts = judge_run(second, baseline_name=f"rep{i}", baselines_dir=tmp_path / "baselines")
        compared = [v for v in verdicts if v.kind == "baseline"]
        assert len(compared) >= 10  # the default set really was compared
        if verdicts.exit_code == exitcodes.OK:
            passed += 1
        else:
            failures.append([(v.criterion, v.why) for v in verdicts.failed])
    assert passed >= 19, failures


def test_slower_endpoint_fails_against_the_faster_baseline_naming_the_metrics(tmp_path: Path, check_helpers) -> None:
    detected = 0
    for i in range(5):
        fast = check_helpers.synthetic_run(tmp_path / f"fast{i}", seed=3000 + i)
        slow = check_helpers.synthetic_run(tmp_path / f"slow{i}", seed=4000 + i, slow=1.4)
        save_baseline(fast, "fast", tmp_path / "baselines", force=True)
        verdicts = judge_run(slow, baseline_name="fast", baselines_dir=tmp_path / "baselines")
        failed = {v.metric for v in verdicts.failed}
        if verdicts.exit_code == exitcodes.CHECK_FAILED:
            detected += 1
        assert {"queue_delay.p50", "execution_time.p50", "end_to_end.p50"} <= failed, failed
        for verdict in verdicts.failed:
            assert verdict.why.startswith("regression:")
            low, high = verdict.details["interval"]  # of run - baseline, wholly beyond the allowance
            allowance = verdict.details["allowance"]
            assert low > allowance if verdict.details["difference"] > 0 else high < -allowance
    assert detected == 5


def test_a_difference_beyond_tolerance_that_noise_explains_passes_and_says_so(tmp_path: Path, check_helpers) -> None:
    # Few samples: figures move a lot between runs, so some exceed the tolerance by chance.
    explained = []
    for i in range(6):
        base = check_helpers.synthetic_run(tmp_path / f"b{i}", seed=7000 + i, jobs_per_s=3.0, duration_s=12)
        run = check_helpers.synthetic_run(tmp_path / f"r{i}", seed=7100 + i, jobs_per_s=3.0, duration_s=12)
        save_baseline(base, "small", tmp_path / "baselines", force=True)
        verdicts = judge_run(run, baseline_name="small", baselines_dir=tmp_path / "baselines")
        for verdict in verdicts:
            if verdict.kind == "baseline" and "noise could explain" in verdict.why:
                explained.append(verdict)
    assert explained, "expected at least one difference beyond tolerance explained by noise"
    for verdict in explained:
        assert verdict.verdict == "pass"
        low, high = verdict.details["interval"]
        assert low <= verdict.details["difference"] <= high


def test_tolerance_from_the_scenario_and_absolute_tolerances(tmp_path: Path, check_helpers) -> None:
    scenario = {
        "name": "synthetic",
        "baseline": {"name": "tol", "default_tolerance": "80%",
                     "tolerances": {"queue_delay.p50": "5ms", "latency.p50{op=status}": "50%"}},
    }
    base = check_helpers.synthetic_run(tmp_path / "base", seed=1, scenario=scenario)
    run = check_helpers.synthetic_run(tmp_path / "run", seed=2, slow=1.4, scenario=scenario)
    save_baseline(base, "tol", tmp_path / "baselines")
    verdicts = judge_run(run, baselines_dir=tmp_path / "baselines")  # baseline name from the scenario
    by_metric = {v.metric: v for v in verdicts if v.kind == "baseline"}
    assert verdicts.baseline == "tol"
    assert by_metric["queue_delay.p50"].verdict == "fail"  # +40% of ~100 ms is far beyond 5 ms
    assert by_metric["queue_delay.p50"].details["tolerance"] == "5 ms"
    assert by_metric["latency.p50{op=status}"].verdict == "pass"  # listed scoped figure, same distribution
    assert by_metric["execution_time.p50"].verdict == "pass"  # +40% is within the 80% default
    assert next(iter(by_metric)) == "queue_delay.p50"  # listed figures come first
