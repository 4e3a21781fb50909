"""The job metrics tabs and routes, on a real recorder and a real Flask app (no Locust in this process)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask, jsonify

from loadtest.metrics.recorder import IN_FLIGHT, JobRecord, Recorder
from loadtest.scenario.loader import load_scenario_text
from loadtest.traffic.webui import runs as uihooks
from loadtest.traffic.webui import tabs as webui

T0 = 1_800_000_000.0


def _recorder() -> Recorder:
    recorder = Recorder(start=T0)
    for i in range(100):  # queue delay i ms, execution 100 + i ms, end to end 200 + 2i ms
        recorder.record_job(JobRecord(f"a{i}", "chat", T0, "COMPLETED", delay_ms=i, execution_ms=100 + i,
                                      end_to_end_ms=200 + 2 * i), t=T0 + 1)
        recorder.record_request("run", "chat", 200, 5.0, t=T0 + 1)
    recorder.record_job(JobRecord("f", "batch", T0, "FAILED", delay_ms=10, execution_ms=10, end_to_end_ms=30), t=T0 + 2)
    recorder.record_job(JobRecord("g", "batch", T0, IN_FLIGHT), t=T0 + 2)
    for _ in range(3):
        recorder.record_request("run", "batch", 429, 1.0, t=T0 + 2)
    recorder.record_request("status", "batch", 0, 1.0, t=T0 + 2)
    return recorder


def _runtime(recorder: Recorder, in_flight: int = 2, submitted: int = 104) -> SimpleNamespace:
    return SimpleNamespace(recorder=recorder, job_counts=SimpleNamespace(in_flight=in_flight, submitted=submitted),
                           scenario=SimpleNamespace(name="demo"))


def test_percentile_rows_per_metric_and_flow() -> None:
    rows = {row["name"]: row for row in webui.percentile_rows(_runtime(_recorder()))}
    chat = rows["queue_delay [chat]"]
    assert chat["count"] == 100 and chat["flow"] == "chat"
    assert chat["p50"] == pytest.approx(49, abs=0.5) and chat["p99"] == pytest.approx(98, abs=0.5)
    assert chat["max"] == pytest.approx(99, abs=0.5)
    assert rows["queue_delay"]["count"] == 101 and rows["queue_delay"]["flow"] == "all"
    assert rows["end_to_end [batch]"]["p50"] == pytest.approx(30, abs=0.1)
    assert rows["execution_time"]["p90"] == pytest.approx(189, abs=0.5)
    assert rows["latency"]["count"] == 104
    assert "queue_delay [nobody]" not in rows
    order = [row["name"].split(" ")[0] for row in webui.percentile_rows(_runtime(_recorder()))]
    assert order.index("queue_delay") < order.index("execution_time") < order.index("end_to_end")


def test_count_figures_and_rows() -> None:
    figures = webui.count_figures(_runtime(_recorder()))
    assert figures["jobs_by_status"] == {"COMPLETED": 100, "FAILED": 1, "CANCELLED": 0, "TIMED_OUT": 0}
    assert figures["jobs_in_flight"] == 2 + 1  # still open in the job book + recorded as in flight
    assert figures["jobs_submitted"] == 104
    assert figures["requests"] == 104 and figures["throttled"] == 3 and figures["errors"] == 1
    assert figures["rate_429"] == pytest.approx(3 / 104)
    record = webui.RunRecord(number=2, run_dir=Path("/r/demo/1"), state="written")
    rows = {row["name"]: row["value"] for row in webui.count_rows(figures, record, ".")}
    assert rows["429 rate"] == "2.88%"
    assert rows["jobs FAILED"] == 1
    assert rows["test"] == "#2: written" and rows["report"] == "./loadtest/report"
    assert rows["run directory"] == "/r/demo/1"
    running = {row["name"]: row["value"] for row in webui.count_rows(figures, webui.RunRecord(number=1))}
    assert running["test"] == "#1: running" and "report" not in running


@pytest.fixture
def app(tmp_path: Path):
    """A Flask app standing in for Locust's WebUI, with a /stats/requests like Locust's."""
    flask_app = Flask(__name__)

    @flask_app.route("/stats/requests")
    def stats():
        return jsonify({"stats": [], "state": "running"})

    web_ui = SimpleNamespace(app=flask_app, template_args={})
    runs = webui.UiRuns()
    runtime = _runtime(_recorder())
    webui.install(web_ui, lambda: runtime, runs)
    return flask_app, web_ui, runs


def test_tabs_are_declared_and_filled_on_every_stats_poll(app) -> None:
    flask_app, web_ui, _runs = app
    tabs = web_ui.template_args["extendedTabs"]
    assert [t["title"] for t in tabs] == ["Job metrics", "Jobs"]
    tables = {t["key"]: [c["key"] for c in t["structure"]] for t in web_ui.template_args["extendedTables"]}
    assert tables[webui.TAB_PERCENTILES][:3] == ["name", "count", "p50"]
    body = flask_app.test_client().get("/stats/requests").get_json()
    assert body["state"] == "running"  # Locust's own answer is kept
    extended = {entry["key"]: entry["data"] for entry in body["extended_stats"]}
    assert {row["name"] for row in extended[webui.TAB_PERCENTILES]} >= {"queue_delay", "end_to_end [chat]"}
    jobs = {row["name"]: row["value"] for row in extended[webui.TAB_JOBS]}
    assert jobs["jobs COMPLETED"] == 100
    links = [f["href"] for f in web_ui.template_args["extendedCsvFiles"]]
    assert links == ["./loadtest/report", "./loadtest/metrics"]


def test_report_route_before_and_after_a_test(app, tmp_path: Path) -> None:
    flask_app, _web_ui, runs = app
    client = flask_app.test_client()
    missing = client.get("/loadtest/report")
    assert missing.status_code == 404 and "no test has stopped yet" in missing.get_data(as_text=True)

    record = runs.begin()
    assert client.get("/loadtest/report").status_code == 404
    assert json.loads(client.get("/loadtest/metrics").get_data())["test"]["state"] == "running"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.html").write_text("<h1>the report</h1>")
    (tmp_path / "secret.txt").write_text("outside")
    record.run_dir, record.state = run_dir, "written"

    redirect = client.get("/loadtest/report")
    assert redirect.status_code == 302 and redirect.headers["Location"].endswith("runs/1/report.html")
    page = client.get("/loadtest/runs/1/report.html")
    assert page.status_code == 200 and b"the report" in page.data
    assert client.get("/loadtest/runs/1/../secret.txt").status_code == 404
    assert client.get("/loadtest/runs/1/%2e%2e/secret.txt").status_code == 404
    assert client.get("/loadtest/runs/2/report.html").status_code == 404
    document = json.loads(client.get("/loadtest/metrics").get_data())
    assert document["test"]["report"] == "/loadtest/report"
    assert document["counts"]["throttled"] == 3


SCENARIO = """
name: prefill
duration: 45s
target:
  emulator: {}
load:
  stages:
    - {duration: 15s, users: 2}
    - {duration: 30s, users: 6}
  spawn_rate: 3/s
mix:
  - flow: runsync
"""


def test_start_form_is_prefilled_from_the_scenario() -> None:
    scenario = load_scenario_text(SCENARIO)
    assert uihooks.prefill_arguments(scenario) == ["--users", "6", "--spawn-rate", "3", "--run-time", "45s"]
    assert uihooks.policies_for(scenario) == ["respect", "probe", "ignore"]


def test_later_tests_get_their_own_run_directories(tmp_path: Path) -> None:
    first = tmp_path / "reports" / "demo" / "20260101-000000"
    first.mkdir(parents=True)
    assert uihooks.test_run_directory(first, "demo", 1) == first
    second = uihooks.test_run_directory(first, "demo", 2)
    assert second.parent == first.parent and second != first and second.is_dir()
