"""report.html in a real browser: every chart is drawn without a script error, hovering reads a value and
its count, a legend click hides a series, a drag zooms the chart's panels together, and no table runs
past the page.

Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, as in ``tests/webui``: skipped
with the reason when either is missing, a failure in CI (``CI=true``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadtest import cli, exitcodes
from loadtest.metrics.synthetic import synthetic_recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.rundir import layout

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
T0 = 1_750_000_000.0


def _require_browser() -> None:
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (run scripts/install-browser.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (pip install -e '.[dev]')")
    if problems:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run in CI: {'; '.join(problems)}")
        pytest.skip("; ".join(problems))


def test_the_report_page_draws_and_answers_in_a_browser(tmp_path: Path) -> None:
    _require_browser()
    from playwright.sync_api import sync_playwright

    path = layout.new_run_directory("browser", root=tmp_path, when=T0)
    limits = {"window": 1.0, "rate_overrides": {"run": 30}}
    scenario = {"name": "browser", "target": {"emulator": {"workers_max": 4, "limits": limits}}}
    write_run_directory(path, synthetic_recorder(jobs=3000, duration_s=40, start=T0), RunRecord(scenario=scenario))
    assert cli.main(["report", str(path), "-q"]) == exitcodes.OK

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:")
                       else route.continue_())  # offline: anything fetched from elsewhere fails
            page.goto((path / "report.html").as_uri())
            figures = page.locator("figure.chart")
            assert figures.count() >= 10
            page.wait_for_function("document.querySelectorAll('figure.chart.drawn').length === "
                                   "document.querySelectorAll('figure.chart').length", timeout=20_000)
            assert page.locator(".chart-error").count() == 0
            panels = page.evaluate("Array.from(document.querySelectorAll('script.chart-data'))"
                                   ".reduce((n, s) => n + JSON.parse(s.textContent).panels.length, 0)")
            assert page.locator("figure.chart canvas").count() == panels

            # Hover: the legend reads each series' value and the jobs behind it.
            chart = page.locator("#plot-queue_delay_over_time")
            chart.scroll_into_view_if_needed()
            over = chart.locator(".u-over").first
            box = over.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            legend = chart.locator(".u-legend").first.inner_text()
            assert " ms · " in legend and " jobs" in legend, legend

            # A legend click hides the series; a second shows it again.
            entry = chart.locator(".u-legend .u-series").nth(1)
            entry.click()
            assert "u-off" in (entry.get_attribute("class") or "")
            entry.click()
            assert "u-off" not in (entry.get_attribute("class") or "")

            # A drag zooms into a time range, on both panels of the chart; a double-click zooms out.
            ranges = "document.querySelector('#plot-queue_delay_over_time').uplots.map(u => [u.scales.x.min, " \
                     "u.scales.x.max])"
            (low, high), (low2, high2) = page.evaluate(ranges)
            over.scroll_into_view_if_needed()
            box = over.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=5)
            page.mouse.up()
            zoomed = page.evaluate(ranges)
            assert zoomed[0] == pytest.approx(zoomed[1], abs=0.01)  # both panels show the same range
            assert low < zoomed[0][0] < zoomed[0][1] < high
            assert (zoomed[0][1] - zoomed[0][0]) == pytest.approx(0.3 * (high - low), rel=0.1)
            over.dblclick()
            assert page.evaluate(ranges) == [[low, high], [low2, high2]]

            # No table runs past the page (the per-flow table used to hide its last columns).
            for width, visible in page.evaluate("Array.from(document.querySelectorAll('div.scroll'))"
                                                ".map(d => [d.scrollWidth, d.clientWidth])"):
                assert width <= visible
        finally:
            browser.close()
    assert errors == []
