"""JUnit XML against the common JUnit schema, and the baseline store's commands."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from loadtest import exitcodes
from loadtest.cli import main

SCHEMA = Path(__file__).with_name("junit.xsd")


def _scenario() -> dict:
    return {
        "name": "junit",
        "thresholds": [
            {"metric": "end_to_end.p95", "max": "2s"},
            {"metric": "end_to_end.p95", "max": "1ms"},
            {"metric": "first_chunk.p95", "max": "1s"},
            {"metric": "rate_429", "max": "50%", "window": "5s"},
        ],
    }


def test_junit_xml_validates_and_has_one_case_per_criterion(tmp_path: Path, check_helpers) -> None:
    base = check_helpers.synthetic_run(tmp_path / "base", seed=11, scenario=_scenario())
    run = check_helpers.synthetic_run(tmp_path / "run", seed=12, scenario=_scenario())
    baselines = tmp_path / "baselines"
    assert main(["baseline", "--baselines-dir", str(baselines), "save", str(base), "main"]) == 0
    junit = tmp_path / "out" / "junit.xml"
    code = main(["check", str(run), "--baseline", "main", "--baselines-dir", str(baselines),
                 "--junit", str(junit), "--no-report"])
    assert code == exitcodes.CHECK_FAILED  # the 1 ms threshold
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(junit))  # raises with the reason when invalid

    document = json.loads((run / "verdicts.json").read_text())
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(document["verdicts"]) == int(suite.get("tests", "-1"))
    assert len({case.get("name") for case in cases}) == len(cases)  # unique names
    failed = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(failed) == document["counts"]["failed"] == int(suite.get("failures", "-1")) >= 1
    assert len(skipped) == document["counts"]["no_data"] == 1  # first_chunk: no stream flow
    assert failed[0].get("name") == "threshold[1] end_to_end.p95"
    assert "measured" in (failed[0].find("failure").get("message") or "")
    assert any(c.get("classname", "").endswith(".baseline") for c in cases)


def test_schema_rejects_a_broken_document(tmp_path: Path) -> None:
    # The schema check is real: a testcase without a name is refused.
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="x" tests="1"><testcase classname="c"/></testsuite></testsuites>')
    assert not xmlschema.XMLSchema(str(SCHEMA)).is_valid(str(bad))


def test_baseline_save_list_and_refusals(tmp_path: Path, check_helpers, capsys, monkeypatch) -> None:
    run = check_helpers.synthetic_run(tmp_path / "run", seed=1)
    monkeypatch.setenv("LOADTEST_BASELINES", str(tmp_path / "store"))
    assert main(["baseline", "list"]) == 0
    assert "no baselines" in capsys.readouterr().out
    assert main(["baseline", "save", str(run), "nightly"]) == 0
    saved = tmp_path / "store" / "nightly"
    assert {"summary.json", "recorder.json", "scenario.yaml", "baseline.json"} <= {p.name for p in saved.iterdir()}
    meta = json.loads((saved / "baseline.json").read_text())
    assert meta["scenario"] == "synthetic" and meta["source_run_dir"] == f"{run.parent.name}/run"  # no machine path
    monkeypatch.chdir(tmp_path)
    assert main(["baseline", "save", "run", "relative"]) == 0
    assert json.loads((saved.parent / "relative" / "baseline.json").read_text())["source_run_dir"] == "run"
    capsys.readouterr()
    assert main(["baseline", "list"]) == 0
    assert "nightly" in capsys.readouterr().out

    assert main(["baseline", "save", str(run), "nightly"]) == exitcodes.INVALID_INPUT
    assert "already exists" in capsys.readouterr().err
    assert main(["baseline", "save", str(run), "nightly", "--force"]) == 0
    assert main(["baseline", "save", str(run), "../escape"]) == exitcodes.INVALID_INPUT
    assert main(["baseline", "save", str(tmp_path / "none"), "x"]) == exitcodes.INVALID_INPUT
    err = capsys.readouterr().err
    assert "letters, digits" in err and "none: no such directory" in err and "Traceback" not in err

    summary = json.loads((run / "summary.json").read_text())
    summary["run"]["interrupted"] = True
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["baseline", "save", str(run), "other"]) == exitcodes.INVALID_INPUT
    assert "interrupted" in capsys.readouterr().err
    assert main(["baseline"]) == exitcodes.INVALID_INPUT


def test_committed_ci_baseline_is_readable() -> None:
    from loadtest.check.baselines import load_baseline

    repo = Path(__file__).resolve().parents[2]
    baseline = load_baseline("ci-smoke", repo / "baselines")
    assert baseline.run.summary().run.scenario == "ci-smoke" and baseline.info.scenario == "ci-smoke"
    snapshot = baseline.run.recorder_snapshot()
    assert snapshot is not None and snapshot["histograms"]
