"""What went wrong in a run reaches the report: a banner per finding, the loop lag of each process."""

from __future__ import annotations

from pathlib import Path

from loadtest.metrics.recorder import Recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.report.build import build_report
from loadtest.rundir.documents import RunWarning

T0 = 1_800_000_000.0


def test_findings_become_banners_and_a_stall_gets_its_chart(tmp_path: Path) -> None:
    recorder = Recorder(start=T0)
    for i in range(200):
        recorder.record_request("run", "chat", 200, 5.0, t=T0 + i * 0.05)
        recorder.record_loop_lag("load generator", T0 + i * 0.05, 0.0005)
    recorder.record_loop_lag("load generator", T0 + 5.2, 1.2)  # a stall of 1.2 s
    warnings = (RunWarning("run_failure", "the emulator exited at 6.1 s (killed by signal 9, SIGKILL)"),
                RunWarning("stall", "the load generator stalled for 1.2 s at 4.0 s"))
    run = tmp_path / "run"
    write_run_directory(run, recorder, RunRecord(duration_s=10.0, started_at=T0, warnings=warnings, ground_truth={
        "loop_lag": {"tick_s": 0.05, "stall_s": 0.25, "max_ms": 2.0, "per_second": [[T0 + 1, 2.0]], "stalls": []}}))
    built = build_report(run)
    html = built.html.read_text()
    assert '<div class="banner bad">the emulator exited at 6.1 s' in html
    assert '<div class="banner warn">the load generator stalled for 1.2 s' in html
    assert (run / "plots" / "loop_lag.png").exists()
    assert "Event-loop lag of each process" in html
    markdown = built.markdown.read_text()
    assert "**Failed**: the emulator exited" in markdown and "**Warning**: the load generator stalled" in markdown


def test_a_calm_run_has_no_lag_chart(tmp_path: Path) -> None:
    recorder = Recorder(start=T0)
    for i in range(50):
        recorder.record_request("run", "chat", 200, 5.0, t=T0 + i * 0.1)
        recorder.record_loop_lag("load generator", T0 + i * 0.1, 0.002)
    run = tmp_path / "run"
    write_run_directory(run, recorder, RunRecord(duration_s=5.0, started_at=T0))
    build_report(run)
    assert not (run / "plots" / "loop_lag.png").exists()
