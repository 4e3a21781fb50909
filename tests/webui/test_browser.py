"""End to end in a real browser: ``loadtest ui`` → start a test from the page → job metrics appear → stop →
the report opens from the UI's link.

Headless Chromium (Debian's ``/usr/bin/chromium``, installed by ``scripts/install-browser.sh``) driven by
Playwright. Without the browser the test is skipped with the reason, except in CI (``CI=true``), where a
missing browser is a failure: the project's own setup must have installed it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STEP_TIMEOUT_MS = 20_000

SCENARIO = """
name: ui-browser
seed: 3
duration: 60s
target:
  emulator:
    workers_min: 2
    workers_max: 4
    cold_start: 50ms
    execution_time:
      kind: uniform
      min: 20ms
      max: 60ms
load:
  users: 3
  spawn_rate: 3/s
mix:
  - flow: run_poll
    weight: 3
    poll: {interval: 50ms, max_wait: 5s}
  - flow: runsync
    weight: 1
    wait: 5s
"""


def _require_browser() -> None:
    in_ci = os.environ.get("CI", "").lower() == "true"
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (run scripts/install-browser.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (pip install -e '.[dev]')")
    if problems:
        message = "; ".join(problems)
        if in_ci:
            pytest.fail(f"browser test cannot run in CI: {message}")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def stop_process_group(process: subprocess.Popen) -> None:
    """Ctrl-C to ``loadtest ui`` and everything it started (as a terminal would), then SIGKILL stragglers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=10)


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``loadtest ui`` on a free loopback port; yields (base URL, out dir); stopped with Ctrl-C after."""
    _require_browser()
    scenario = tmp_path / "ui.yaml"
    scenario.write_text(SCENARIO)
    out_dir = tmp_path / "reports"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    log = (tmp_path / "ui.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "ui", str(scenario), "--web-port", str(port), "--out-dir", str(out_dir)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(base + "/")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, (tmp_path / "ui.log").read_text()
            assert time.monotonic() < deadline, "the web UI did not come up in 30 s"
            time.sleep(0.2)
        yield base, out_dir
    finally:
        stop_process_group(process)
        log.close()


def _rows(page, tab: str) -> dict[str, list[str]]:
    """The rows of one of our tabs, by their first cell."""
    page.get_by_role("tab", name=tab).click()
    rows = {}
    for row in page.locator("table tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        if cells:
            rows[cells[0].strip()] = [c.strip() for c in cells[1:]]
    return rows


def test_start_watch_stop_and_open_the_report_in_a_browser(ui: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, out_dir = ui
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(base + "/")

            # the scenario's shape drives the test: users come from its stages, the host is the emulator
            expect(page.locator("input[name=userCount]")).to_be_disabled()
            expect(page.locator("input[name=host]")).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/v2$"))
            page.get_by_role("button", name="Custom parameters").click()
            assert "respect" in page.content()  # the scenario's rate-limit policy, as a custom parameter

            page.get_by_role("button", name="Start").click()
            expect(page.get_by_role("tab", name="Job metrics")).to_be_visible()

            # job metrics appear while the test runs
            deadline = time.monotonic() + 20
            rows: dict[str, list[str]] = {}
            while time.monotonic() < deadline:
                rows = _rows(page, "Job metrics")
                if all(name in rows and int(rows[name][0]) >= 5 for name in ("queue_delay", "end_to_end")):
                    break
                page.wait_for_timeout(500)
            for name in ("queue_delay", "execution_time", "end_to_end", "queue_delay [run_poll]",
                         "end_to_end [runsync]"):
                assert name in rows, (name, rows)
            # and charted live above the table: queue delay, execution, end to end, 429 rate
            page.get_by_role("tab", name="Job metrics").click()
            expect(page.locator("#loadtest-charts .uplot")).to_have_count(4, timeout=20_000)
            titles = page.locator("#loadtest-charts .u-title").all_inner_texts()
            assert titles == ["Queue delay (ms)", "Execution time (ms)", "End to end (ms)", "429 rate (%)"], titles
            count, p50, p90, p95, p99, top = (float(v) for v in rows["end_to_end"])
            assert count >= 5 and 0 < p50 <= p90 <= p95 <= p99 <= top < 5000
            jobs = _rows(page, "Jobs")
            assert int(jobs["jobs submitted"][0]) > 0
            assert jobs["429 rate"] == ["0.00%"]
            assert jobs["test"] == ["#1: running"]

            page.get_by_role("button", name="Stop").click()

            # the run directory and report are written and the UI says where
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                jobs = _rows(page, "Jobs")
                if jobs.get("test") in (["#1: written"], ["#1: failed"]):
                    break
                page.wait_for_timeout(500)
            assert jobs.get("test") == ["#1: written"], jobs
            run_dir = Path(jobs["run directory"][0])
            assert run_dir.parent.parent == out_dir
            completed = int(jobs["jobs COMPLETED"][0])
            assert completed > 0

            report_link = page.get_by_role("link", name="open the report")  # a link in the Jobs tab, not text
            expect(report_link).to_be_visible()
            assert report_link.get_attribute("href") == "./loadtest/report"
            page.get_by_role("tab", name="Download Data").click()
            page.get_by_role("link", name="loadtest report of the last test").click()
            page.wait_for_url("**/loadtest/runs/1/report.html")
            expect(page.locator("h1")).to_contain_text("ui-browser")
            assert "queue_delay" in page.content()
        finally:
            browser.close()

    summary = json.loads((run_dir / "summary.json").read_text())
    completed_in_summary = sum(flows.get("COMPLETED", 0) for flows in summary["jobs"]["by_flow"].values())
    assert completed_in_summary == completed  # the UI showed what the run directory holds
    assert (run_dir / "report.html").exists()
    status, body = _get(base + "/loadtest/metrics")
    assert status == 200 and json.loads(body)["test"]["state"] == "written"
