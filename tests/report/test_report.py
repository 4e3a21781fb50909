"""The report: every plot embedded as a PNG of the expected size, every headline figure present, verdicts."""

from __future__ import annotations

import base64
import json
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from loadtest import cli, exitcodes
from loadtest.metrics.catalog import MetricRef, Scope
from loadtest.metrics.synthetic import synthetic_recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.report import png, tables, timeline
from loadtest.rundir import layout
from loadtest.rundir.read import RunDirectory

T0 = 1_750_000_000.0


class _Page(HTMLParser):
    """Images, chart figures and their data, and anything that would be fetched from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []
        self.charts: list[str] = []
        self.data: dict[str, str] = {}
        self.scripts = 0
        self._data_for: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(values)
        if tag == "div" and values.get("data-chart"):
            self.charts.append(values["data-chart"])
        if tag == "script":
            self.scripts += 1
            self._data_for = values.get("data-for") if values.get("type") == "application/json" else None
            if values.get("src"):
                self.external.append(f"script src={values['src']}")
        if tag in ("link", "iframe") or any(
            values.get(a, "").startswith(("http:", "https:", "//")) for a in ("src", "href")
        ):
            self.external.append(tag)

    def handle_data(self, data: str) -> None:
        if self._data_for:
            self.data[self._data_for] = self.data.get(self._data_for, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._data_for = None


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    path = layout.new_run_directory("synthetic", root=root, when=T0)
    rec = synthetic_recorder(jobs=1500, duration_s=30, start=T0)
    write_run_directory(path, rec, RunRecord(scenario={"name": "synthetic", "target": {"url": "http://127.0.0.1:9"}},
                                             settings={"users": 4, "seed": 1}, interrupted=True))
    (path / "verdicts.json").write_text(json.dumps([
        {"criterion": "queue_delay.p95 <= 2s", "expected": "<= 2000 ms", "measured": "310 ms", "verdict": "pass",
         "why": "within bound"},
        {"criterion": "rate_429 <= 1%", "expected": "<= 1%", "measured": "4.6%", "verdict": "fail",
         "why": "too many 429s <b>"},
    ]))
    (path / "plots").mkdir()
    (path / "plots" / "p99.49_leftover.png").write_bytes(b"stale")  # an older report's image
    assert cli.main(["report", str(path), "--quiet"]) == exitcodes.OK
    return path


def test_every_plot_is_in_the_page_and_in_plots(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    page = _Page()
    page.feed(html)
    assert page.external == []
    files = sorted((run_dir / "plots").glob("*.png"))
    expected = {"queue_delay_over_time", "queue_delay_distribution", "execution_time_over_time",
                "execution_time_distribution", "end_to_end_by_flow", "throughput_by_op", "rate_429_by_op",
                "latency_by_op", "endpoint_health", "job_statuses", "first_chunk_over_time", "chunk_gap_by_flow"}
    assert expected <= {f.stem for f in files}
    assert "p99.49_leftover" not in {f.stem for f in files}  # the folder holds this report's images only
    embedded = [i for i in page.images if i["src"].startswith("data:image/png;base64,")]
    fallbacks = [i for i in page.images if i["src"].startswith("plots/")]
    assert {i["src"][len("plots/"):-len(".png")] for i in fallbacks} == set(page.charts)
    assert len(embedded) + len(page.charts) == len(files)
    assert {i["alt"] for i in embedded} == {"Request latency per operation (p50 / p95 / p99)",
                                            "Final job statuses per flow"}  # bar charts stay images
    for image in embedded:
        data = base64.b64decode(image["src"][len("data:image/png;base64,"):])
        assert _png_size(data) == (int(image["width"]), int(image["height"]))
        assert len(data) > 10_000  # a drawn plot, not an empty canvas
    for chart in page.charts:
        document = json.loads(page.data[chart])
        assert document["slug"] == chart and document["panels"]
        assert all(len(s["x"]) == len(s["y"]) for p in document["panels"] for s in p["series"])
    for file in files:
        assert _png_size(file.read_bytes())[0] == png.WIDTH_IN * png.DPI
    assert "uPlot" in html and "MIT" in html  # the library is inlined, with its licence named


def test_every_headline_figure_is_in_the_report(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    markdown = (run_dir / "summary.md").read_text()
    metrics = RunDirectory(run_dir).summary().metrics
    texts = [row.text for _, rows in tables.headline_histograms(metrics) for row in rows]
    texts += [row.text for row in tables.headline_scalars(metrics)]
    for _, table in (tables.scoped_table(metrics, Scope.OP, tables.OP_COLUMNS),
                     tables.scoped_table(metrics, Scope.FLOW, tables.FLOW_COLUMNS)):
        texts += [cell.text for _, cells in table for cell in cells]
    assert len(texts) > 80
    for text in texts:
        assert text in html, text
        assert text in markdown, text
    p95 = metrics.value(MetricRef("queue_delay", "p95"))
    assert tables.fmt(p95, "ms") in html
    assert "interrupted" in html and "Interrupted" in markdown


def test_verdicts_are_rendered_and_escaped(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert "1 of 2 criteria failed" in html
    assert '<span class="fail">fail</span>' in html and '<span class="pass">pass</span>' in html
    assert "too many 429s &lt;b&gt;" in html
    assert "| rate_429 <= 1% | <= 1% | 4.6% | fail |" in (run_dir / "summary.md").read_text()


def test_scenario_and_settings_are_shown(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert "&quot;users&quot;: 4" in html
    assert "http://127.0.0.1:9" in html  # inside the scenario's <pre>, not fetched


def test_report_command_refuses_non_run_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", str(tmp_path / "nope")]) == exitcodes.INVALID_INPUT
    assert cli.main(["report", str(tmp_path)]) == exitcodes.INVALID_INPUT
    err = capsys.readouterr().err
    assert "no such directory" in err and "summary.json: missing" in err and "Traceback" not in err


def test_formatting() -> None:
    assert tables.fmt(None, "ms") == "–"
    assert tables.fmt(0.04612, "ratio") == "4.61%"
    assert tables.fmt(1234.5, "ms") == "1,234 ms"
    assert tables.fmt(12.345, "ms") == "12.3 ms"
    assert tables.fmt(3000.0, "count") == "3,000"


def test_latest_pointer_file_is_followed(run_dir: Path, tmp_path: Path) -> None:
    from loadtest.report.data import load_run

    (tmp_path / "latest.txt").write_text(str(run_dir) + "\n")
    assert load_run(tmp_path / "latest").path == run_dir


def test_the_file_list_is_the_run_directory(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    section = html[html.index("Files in the run directory"):]
    present = {p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir() if not p.name.startswith(".")}
    assert {"report.html", "summary.md", "plots/", "verdicts.json", "summary.json"} <= present
    for name in present:
        assert f"<td class=\"wrap\">{name}</td>" in section, name
    plots_count = len(list((run_dir / "plots").glob("*.png")))
    assert f"({plots_count} files)" in section and "copied in by the run" not in section


def _stretch(run_dir: Path, copies: int) -> None:
    """Make ``run_dir`` (a run of S seconds) a run of copies × S seconds by repeating its measurements in
    time: what a long run's files look like, without recording one."""
    summary = json.loads((run_dir / layout.SUMMARY_JSON).read_text())
    span = summary["run"]["duration_s"]
    bucket = summary["run"]["bucket_s"]
    shift = round(span / bucket)
    ts = json.loads((run_dir / layout.TIMESERIES_JSON).read_text())
    ts["t"] = [t + k * shift * bucket for k in range(copies) for t in ts["t"]]
    for columns in ts["series"].values():
        for stat, values in columns.items():
            columns[stat] = values * copies
    (run_dir / layout.TIMESERIES_JSON).write_text(json.dumps(ts))
    snap = json.loads((run_dir / layout.RECORDER_JSON).read_text())
    for name in ("histograms", "requests", "jobs", "dropped"):
        snap[name] = [[b + k * shift, *rest] for k in range(copies) for b, *rest in snap[name]]
    snap["health"] = [[t + k * shift * bucket, s] for k in range(copies) for t, s in snap["health"]]
    snap["last_t"] = snap["last_t"] + (copies - 1) * shift * bucket
    (run_dir / layout.RECORDER_JSON).write_text(json.dumps(snap))
    lines = (run_dir / layout.HEALTH_CSV).read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    stretched = [",".join([str(float(r[0]) + k * shift * bucket), *r[1:]]) for k in range(copies) for r in rows]
    (run_dir / layout.HEALTH_CSV).write_text("\n".join([lines[0], *stretched]) + "\n")
    summary["run"]["duration_s"] = span * copies
    (run_dir / layout.SUMMARY_JSON).write_text(json.dumps(summary))


def test_a_one_hour_run_gives_a_small_page(tmp_path: Path) -> None:
    path = layout.new_run_directory("hour", root=tmp_path, when=T0)
    write_run_directory(path, synthetic_recorder(jobs=1200, duration_s=60, start=T0, health_every_s=2),
                        RunRecord(scenario={"name": "hour"}, duration_s=60.0, started_at=T0))
    _stretch(path, 60)
    assert RunDirectory(path).summary().run.duration_s == 3600
    assert cli.main(["report", str(path), "-q"]) == exitcodes.OK
    html = (path / "report.html").read_text()
    assert len(html.encode()) < 1_000_000, len(html.encode())  # one file, opens fast
    page = _Page()
    page.feed(html)
    longest = max(len(s["x"]) for chart in page.charts for p in json.loads(page.data[chart])["panels"]
                  for s in p["series"])
    assert 300 <= longest <= timeline.MAX_POINTS + 1  # thinned, but still the shape of the hour
    assert "time since start (min)" in html
