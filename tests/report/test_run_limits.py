"""Limit lines tell the truth: what the run directory says was in force (limits_in_force.json), or for a run
directory of an earlier version what its scenario copy and limits.json give through the same model: the
emulator's configured limits when it was the target, a discovered limit from limits.json, the documented one
otherwise; each labelled with which it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest import cli, exitcodes
from loadtest.discovery_document import DiscoveryDocument
from loadtest.emulator_config import EndpointConfig
from loadtest.limits_in_force import LimitsInForce, Source
from loadtest.metrics.recorder import JobRecord, Recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.report.data import load_run
from loadtest.report.run_charts import charts
from loadtest.report.run_limits import from_scenario_copy
from loadtest.rundir import layout
from loadtest.rundir.layout import LIMITS_IN_FORCE_JSON
from loadtest.rundir.plain import plain

T0 = 1_750_000_000.0

PROBE_LIMITS = {"window": "1s", "rate_overrides": {"run": 20}}


def limits_in_force(scenario: dict[str, Any] | None, discovered: DiscoveryDocument | None) -> LimitsInForce:
    limits, warnings = from_scenario_copy(scenario, discovered)
    assert warnings == []
    return limits


def _emulator(limits: dict[str, object], **endpoint: object) -> dict[str, object]:
    """A scenario as the run writes it: target.emulator resolved by the model."""
    config = EndpointConfig.model_validate({"limits": limits, **endpoint}).model_dump(mode="json")
    return {"name": "probe", "target": {"emulator": config}}


def test_emulator_overrides_window_and_switches() -> None:
    limits = limits_in_force(_emulator(PROBE_LIMITS), None)
    assert limits.target == "emulator"
    run = limits.get("run")
    assert run.rate is not None and (run.rate.value, run.rate.window_s, run.rate.source) == (20, 1.0, Source.EMULATOR)
    assert run.rate.label == "emulator limit 20 per 1 s fixed window"
    assert run.concurrency is not None and run.concurrency.label == "emulator limit 200 in flight"
    status = limits.get("status").rate
    assert status is not None and status.label == "emulator limit 2,000 per 1 s fixed window"  # the documented count
    documented = limits.get("run").rates[Source.DOCUMENTED]
    assert documented is not None and documented.value == 1000
    off = limits_in_force(_emulator({"rate": False, "concurrency": False}), None)
    assert off.get("run").rate is None and off.get("run").concurrency is None


def test_default_emulator_limits_are_the_documented_figures_per_its_window() -> None:
    limits = limits_in_force(_emulator({}, workers_max=4), None)
    rate = limits.get("run").rate
    assert rate is not None and rate.label == "emulator limit 1,000 per 10 s fixed window (= 100/s)"
    assert limits.queue_size is not None and limits.queue_size.value == 2000 and limits.workers_max == 4
    assert limits.queue_size.source == Source.DOCUMENTED  # the documented rule, over the emulator's workers_max


def test_per_worker_budget_window_kind_and_per_operation_windows_are_read() -> None:
    scenario = _emulator({"rate_per_worker": {"run": 5}, "rate_overrides": {"run": 10}, "window": 2,
                          "window_kind": "rolling", "window_overrides": {"status": "500ms"}})
    limits = limits_in_force(scenario, None)
    run = limits.get("run").rate
    assert run is not None and run.per_worker == 5 and run.budget(4) == 20 and run.budget(1) == 10
    assert run.label == "emulator limit max(10, 5 × running workers) per 2 s rolling window"
    status = limits.get("status").rate
    assert status is not None and status.window_s == 0.5 and status.window_kind == "rolling"


def test_a_limits_section_of_another_version_is_read_key_by_key_with_a_warning() -> None:
    scenario = _emulator({"rate_overrides": {"run": 20}, "window": 1})
    scenario["target"]["emulator"]["limits"]["burst"] = 5  # a key this version does not know
    limits, warnings = from_scenario_copy(scenario, None)
    assert any("limits.burst" in w and "key by key" in w for w in warnings), warnings
    rate = limits.get("run").rate
    assert rate is not None and rate.label == "emulator limit 20 per 1 s fixed window"


def test_documented_limits_when_the_target_is_not_the_emulator() -> None:
    limits = limits_in_force({"name": "real", "target": {"endpoint_id": "abc"}}, None)
    rate = limits.get("run").rate
    assert limits.target == "endpoint" and rate is not None and rate.source == Source.DOCUMENTED
    assert rate.label == "documented limit 1,000 per 10 s window (= 100/s)"
    assert limits.queue_size is None


DISCOVERED_DOC: dict[str, Any] = {"format": 1, "kind": "limit-discovery", "operations": {
    "run": {"rate_limit": {"value": 19.6, "window_s": 1, "window_kind": "fixed", "interval": [19, 21]},
            "concurrency_limit": {"value": 150}, "rate_search": {"status": "found"}},
}}


def _document(data: dict[str, Any]) -> DiscoveryDocument:
    return DiscoveryDocument.model_validate(data)


def test_discovered_limits_replace_the_documented_ones() -> None:
    limits = limits_in_force({"target": {"endpoint_id": "abc"}}, _document(DISCOVERED_DOC))
    run = limits.get("run")
    assert run.rate is not None and run.rate.label == "discovered limit 19.6 per 1 s fixed window, interval 19–21"
    assert run.concurrency is not None and run.concurrency.value == 150
    assert limits.get("status").rate is not None and limits.get("status").rate.source == Source.DOCUMENTED
    # on the emulator too a discovery the scenario names is in force (as the client respected it); what the
    # emulator enforced stays beside it
    beside = limits_in_force(_emulator(PROBE_LIMITS), _document(DISCOVERED_DOC)).get("run")
    assert beside.rate is not None and beside.rate.source == Source.DISCOVERED and beside.rate.value == 19.6
    enforced = beside.replaced_rate(Source.EMULATOR)
    assert enforced is not None and enforced.value == 20


def _probe_run(root: Path, limits_json: dict[str, object] | None = None) -> Path:
    """The shape of rate-limit-probe.yaml: /run offered up to 40/s against 20 per 1 s; 429s past 20/s."""
    rec = Recorder(start=T0)
    for second in range(30):
        offered = min(40, 2 + 4 * second) if second < 20 else 10
        for k in range(offered):
            t = T0 + second + (k + 0.5) / offered
            rec.record_request("run", "run_poll", 429 if k >= 20 else 200, 1.0, t=t)
            if k < 20:
                rec.record_job(JobRecord(job_id=f"{second}-{k}", flow="run_poll", submitted_at=t,
                                         final_status="COMPLETED", delay_ms=5, execution_ms=50, end_to_end_ms=80), t=t)
    path = layout.new_run_directory("probe", root=root, when=T0)
    write_run_directory(path, rec, RunRecord(scenario=_emulator(PROBE_LIMITS, workers_min=2, workers_max=2),
                                             duration_s=30.0, started_at=T0))
    if limits_json is not None:
        (path / "limits.json").write_text(json.dumps(limits_json))
    return path


def test_the_probe_panel_draws_the_limit_in_force_where_429s_begin(tmp_path: Path) -> None:
    run = load_run(_probe_run(tmp_path))
    chart = next(c for c in charts([run]) if c.slug == "rate_429_by_op")
    assert [p.title.split(":")[0] for p in chart.panels] == ["/run"]
    series = {s.label: s for s in chart.panels[0].series}
    limit = series["emulator limit 20 per 1 s fixed window"]
    assert limit.kind == "limit" and set(limit.y) == {20.0}
    assert not any("documented" in label for label in series)
    # 429s begin where the offered rate passes the drawn limit, and what got through stays on it.
    accepted = series["answered, not 429"].value
    throttled = series["429 answers (top: offered rate)"].value
    assert accepted is not None and throttled is not None
    for got, refused in zip(accepted, throttled, strict=True):
        if got is None or refused is None:
            continue
        assert got <= 20.0 + 1e-9 and (refused == 0 or got == pytest.approx(20.0))
    assert "concurrency: emulator limit 200 in flight" in chart.panels[0].note


def test_a_discovered_limit_is_drawn_beside_the_emulator_limit(tmp_path: Path) -> None:
    run = load_run(_probe_run(tmp_path, DISCOVERED_DOC))
    chart = next(c for c in charts([run]) if c.slug == "rate_429_by_op")
    labels = [s.label for s in chart.panels[0].series if s.kind == "limit"]
    assert labels == ["discovered limit 19.6 per 1 s fixed window, interval 19–21",
                      "emulator limit 20 per 1 s fixed window"]


def test_the_report_shows_limits_in_force_and_warnings(tmp_path: Path) -> None:
    path = _probe_run(tmp_path, DISCOVERED_DOC)
    assert cli.main(["report", str(path), "-q"]) == exitcodes.OK
    html = (path / "report.html").read_text()
    assert "Limits in force" in html and "emulator limit 20 per 1 s fixed window" in html
    assert "documented" in html and "1,000 per 10 s" in html  # the documented figure beside it
    assert "discovered limit 19.6 per 1 s fixed window" in html
    markdown = (path / "summary.md").read_text()
    assert "## Limits in force" in markdown
    assert ("| /run | discovered limit 19.6 per 1 s fixed window, interval 19–21; emulator limit 20 per 1 s fixed "
            "window") in markdown


def test_unreadable_limits_json_is_refused_with_its_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _probe_run(tmp_path)
    (path / "limits.json").write_text("{not json")
    assert cli.main(["report", str(path)]) == exitcodes.INVALID_INPUT
    assert "limits.json: not JSON" in capsys.readouterr().err
    bad = {**DISCOVERED_DOC, "operations": {"bogus": {"rate_limit": {"value": 3, "window_s": 1}}}}
    (path / "limits.json").write_text(json.dumps(bad))
    assert cli.main(["report", str(path)]) == exitcodes.INVALID_INPUT
    err = capsys.readouterr().err
    assert "limits.json: operations.bogus" in err and "Traceback" not in err


def test_the_probe_scenario_file_gives_the_emulator_limit() -> None:
    from loadtest.scenario.loader import load_scenario, resolved_dict  # what the run writes to scenario.yaml

    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios/rate-limit-probe.yaml")
    written = yaml.safe_load(yaml.safe_dump(plain(resolved_dict(scenario)), sort_keys=False))
    rate = limits_in_force(written, None).get("run").rate
    assert rate is not None and rate.label == "emulator limit 20 per 1 s fixed window"


def test_overlaid_runs_name_a_limit_only_when_their_limits_differ(tmp_path: Path) -> None:
    a, b = load_run(_probe_run(tmp_path / "a")), load_run(_probe_run(tmp_path / "b"))
    a.tag, b.tag = "A", "B"
    chart = next(c for c in charts([a, b]) if c.slug == "rate_429_by_op")
    assert [s.label for s in chart.panels[0].series if s.kind == "limit"] == ["emulator limit 20 per 1 s fixed window"]
    (b.path / "scenario.yaml").write_text(yaml.safe_dump({"name": "probe", "target": {"endpoint_id": "abc"}}))
    b = load_run(b.path)
    b.tag = "B"
    chart = next(c for c in charts([a, b]) if c.slug == "rate_429_by_op")
    assert [s.label for s in chart.panels[0].series if s.kind == "limit"] == [
        "emulator limit 20 per 1 s fixed window [A]", "documented limit 1,000 per 10 s window (= 100/s) [B]"]


def test_a_recorded_limits_in_force_is_drawn_as_it_is(tmp_path: Path) -> None:
    """The report takes limits_in_force.json as the run wrote it and decides nothing itself."""
    path = _probe_run(tmp_path)
    recorded = LimitsInForce.resolve(emulator=EndpointConfig.model_validate({"limits": {
        "window": "2s", "rate_overrides": {"run": 30}}}).limits, workers_max=2)
    (path / LIMITS_IN_FORCE_JSON).write_text(recorded.model_dump_json())
    run = load_run(path)
    assert run.limits == recorded
    chart = next(c for c in charts([run]) if c.slug == "rate_429_by_op")
    assert [s.label for s in chart.panels[0].series if s.kind == "limit"] == [
        "emulator limit 30 per 2 s fixed window (= 15/s)"]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "limits_in_force.json: cannot read it"),
    (json.dumps({"format": 2, "target": "emulator", "operations": {}}), "format 2 is not one this loadtest"),
    (json.dumps({"format": 1, "target": "emulator", "operations": {"run": {"rate_in_force": "scenario"}}}),
     "operations.run: Value error, rate_in_force: scenario has no figure here"),
])
def test_an_unreadable_limits_in_force_is_refused_with_its_name(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 content: str, message: str) -> None:
    path = _probe_run(tmp_path)
    (path / LIMITS_IN_FORCE_JSON).write_text(content)
    assert cli.main(["report", str(path)]) == exitcodes.INVALID_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
