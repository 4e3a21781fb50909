"""The report: every plot embedded as a PNG of the expected size, every headline figure present, verdicts."""

from __future__ import annotations

import base64
import json
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from loadtest import cli, exitcodes
from loadtest.metrics import rundir
from loadtest.metrics.synthetic import synthetic_recorder
from loadtest.report import plots, tables

T0 = 1_750_000_000.0


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(values)
        if tag in ("script", "link", "iframe") or any(
            values.get(a, "").startswith(("http:", "https:", "//")) for a in ("src", "href")
        ):
            self.external.append(tag)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    path = rundir.new_run_directory("synthetic", root=root, when=T0)
    rec = synthetic_recorder(jobs=1500, duration_s=30, start=T0)
    rundir.write_run_directory(path, rec, scenario={"name": "synthetic", "target": {"url": "http://127.0.0.1:9"}},
                               settings={"users": 4, "seed": 1}, interrupted=True)
    (path / "verdicts.json").write_text(json.dumps([
        {"criterion": "queue_delay.p95 <= 2s", "expected": "<= 2000 ms", "measured": "310 ms", "verdict": "pass",
         "why": "within bound"},
        {"criterion": "rate_429 <= 1%", "expected": "<= 1%", "measured": "4.6%", "verdict": "fail",
         "why": "too many 429s <b>"},
    ]))
    assert cli.main(["report", str(path), "--quiet"]) == exitcodes.OK
    return path


def test_every_plot_is_embedded_at_its_size(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    parser = _Images()
    parser.feed(html)
    assert parser.external == []
    files = sorted((run_dir / "plots").glob("*.png"))
    expected = {"queue_delay_over_time", "queue_delay_distribution", "execution_time_over_time",
                "execution_time_distribution", "end_to_end_by_flow", "throughput_by_op", "rate_429_by_op",
                "latency_by_op", "endpoint_health", "job_statuses"}
    assert expected <= {f.stem for f in files}
    assert len(parser.images) == len(files)
    for image in parser.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        data = base64.b64decode(image["src"][len(prefix):])
        width, height = _png_size(data)
        assert (width, height) == (int(image["width"]), int(image["height"]))
        assert width == plots.WIDTH_IN * plots.DPI and height >= plots.HEIGHT_IN * plots.DPI
        assert len(data) > 10_000  # a drawn plot, not an empty canvas
    for file in files:
        assert _png_size(file.read_bytes())[0] == 1000
    assert _png_size((run_dir / "plots" / "rate_429_by_op.png").read_bytes())[1] == 4 * 300 + 120  # 4 ops


def test_every_headline_figure_is_in_the_report(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    markdown = (run_dir / "summary.md").read_text()
    metrics = rundir.read_summary(run_dir)["metrics"]
    texts = [row.text for _, rows in tables.headline_histograms(metrics) for row in rows]
    texts += [row.text for row in tables.headline_scalars(metrics)]
    for _, table in (tables.scoped_table(metrics, "op", tables.OP_COLUMNS),
                     tables.scoped_table(metrics, "flow", tables.FLOW_COLUMNS)):
        texts += [cell.text for _, cells in table for cell in cells]
    assert len(texts) > 80
    for text in texts:
        assert text in html, text
        assert text in markdown, text
    p95 = metrics["queue_delay"]["overall"]["p95"]
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
    assert "not a directory" in err and "summary.json: missing" in err and "Traceback" not in err


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
