"""What a run says in the terminal when it ends, in the spirit of k6's end-of-test summary.

Read from the run directory's ``summary.json`` (the figures are derived once, in ``metrics``; read back
through :class:`~loadtest.rundir.read.RunDirectory`): how the
run ended, a table of the job times people run a load test for (queue delay, execution, end to end and,
when streaming, first chunk: p50/p90/p95/p99/max per flow), jobs by outcome, requests by operation and
status code with the target's words for errors, then lost workers and where the files are. It fits a
100-column terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from loadtest.metrics.figures import run_counts
from loadtest.metrics.recorder import IN_FLIGHT, Recorder
from loadtest.metrics.run_figures import ScopeFigures
from loadtest.rundir.documents import Summary
from loadtest.scenario.model import Scenario
from loadtest.traffic.outcome import RunOutcome

TABLE_METRICS: tuple[tuple[str, str], ...] = (
    ("queue_delay", "queue delay"),
    ("execution_time", "execution"),
    ("end_to_end", "end to end"),
    ("first_chunk", "first chunk"),
)
"""The job-time figures of the table, in order (first chunk only when something streamed)."""
TABLE_STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "max")
MAX_FLOW_ROWS = 8
"""Per-flow rows under each metric, at most (the report has every flow)."""
WIDTH = 100


def connection_failures_only(recorder: Recorder) -> int:
    """The number of requests sent when every one of them got no answer (status 0), else 0."""
    counts = run_counts(recorder)
    return counts.requests if counts.requests and counts.no_answer == counts.requests else 0


def format_ms(value: float | None, lower_bound: bool = False) -> str:
    """``850 ms``, ``12.4 s``, ``≥ 13.0 s`` (a lower bound: unfinished jobs were still waiting)."""
    if value is None:
        return "-"
    text = f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"
    if value < 10 and value != 0:
        text = f"{value:.1f} ms"
    return f">={text}" if lower_bound else text


def _counted(figures: ScopeFigures | None) -> ScopeFigures | None:
    return figures if figures is not None and figures.get("count") else None


def _row(label: str, figures: ScopeFigures) -> str:
    cells = [format_ms(figures.get(stat), figures.is_lower_bound(stat)) for stat in TABLE_STATS]
    count = int(figures.get("count") or 0)
    return f"  {label[:22]:<22}" + "".join(f"{cell:>11}" for cell in cells) + f"{count:>11}"


def times_table(summary: Summary) -> list[str]:
    """The job-time table: one block per metric, overall then per flow."""
    lines = [f"  {'job times':<22}" + "".join(f"{stat:>11}" for stat in TABLE_STATS) + f"{'count':>11}"]
    for name, label in TABLE_METRICS:
        metric = summary.metrics.get(name)
        overall = _counted(metric.overall) if metric is not None else None
        if metric is None or overall is None:
            continue
        lines.append(_row(label, overall))
        flows = [(flow, f) for flow, f in sorted(metric.by_flow.items()) if _counted(f) is not None]
        if len(flows) > 1:
            for flow, figures in flows[:MAX_FLOW_ROWS]:
                assert figures is not None
                lines.append(_row(f"  {flow}", figures))
            if len(flows) > MAX_FLOW_ROWS:
                lines.append(f"    ... {len(flows) - MAX_FLOW_ROWS} more flows in the report")
    return lines if len(lines) > 1 else []


def jobs_line(summary: Summary) -> str:
    counts = summary.jobs.by_status()
    total = sum(counts.values())
    order = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]
    parts = [f"{counts.get(status, 0)} {status.lower().replace('_', ' ')}" for status in order]
    parts.append(f"{counts.get(IN_FLIGHT, 0)} unfinished")
    return f"  jobs      {total} submitted: " + ", ".join(parts)


def request_lines(summary: Summary, seconds: float) -> list[str]:
    """Requests by operation and status code, then errors by status with the target's words."""
    by_op = summary.requests_by_status
    total = sum(n for codes in by_op.values() for n in codes.values())
    parts = []
    for op, codes in by_op.items():
        count = sum(codes.values())
        odd = {code: n for code, n in codes.items() if not 200 <= int(code) < 300}
        detail = ", ".join(f"{_status_name(code)}: {n}" for code, n in sorted(odd.items(), key=lambda c: int(c[0])))
        parts.append(f"{op} {count}" + (f" ({detail})" if detail else ""))
    lines = _flow(f"  requests  {total} ({total / max(seconds, 1e-9):.1f}/s): ", parts)
    for op, texts in summary.error_messages.items():
        for code, words in texts.items():
            count = by_op.get(op, {}).get(code, 0)
            lines.append(_wrap(f"  error     {op} {_status_name(code)} x{count}: {words}"))
    return lines


def _flow(head: str, parts: list[str]) -> list[str]:
    """``head`` then the parts, comma-separated, wrapped at the terminal width under the head's indent."""
    lines, line = [], head
    for index, part in enumerate(parts):
        piece = part + ("," if index < len(parts) - 1 else "")
        if len(line) + len(piece) + 1 > WIDTH and line.strip():
            lines.append(line.rstrip())
            line = " " * 12
        line += piece + " "
    lines.append(line.rstrip())
    return lines


def _status_name(code: str | int) -> str:
    return "no answer" if int(code) == 0 else str(int(code))


def _wrap(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


def print_summary(
    scenario: Scenario, summary: Summary | None, recorder: Recorder, outcome: RunOutcome, run_dir: Path,
    out: TextIO, *, failed: bool = False,
) -> None:
    """The end-of-run summary (from ``summary``, the written summary.json; the recorder's counts when it
    could not be written)."""
    state = "INTERRUPTED" if outcome.interrupted else ("STOPPED" if failed or outcome.stop_reason else "finished")
    drained = (f" ({outcome.duration_s - outcome.drained_s:.1f}s of load, then {outcome.drained_s:.1f}s following "
               "the jobs in flight)") if outcome.drained_s > 0 else ""
    print(f"\nloadtest: {scenario.name} {state} after {outcome.duration_s:.1f}s{drained}", file=out)
    if summary is not None:
        for line in times_table(summary):
            print(line, file=out)
        print(jobs_line(summary), file=out)
        for line in request_lines(summary, outcome.duration_s):
            print(line, file=out)
    else:
        c = run_counts(recorder)
        print(f"  requests  {c.requests}, 429 {c.throttled}, errors {c.errors}; jobs {c.jobs_submitted} "
              f"(unfinished {c.in_flight})", file=out)
    if outcome.dispatch:
        d = outcome.dispatch
        rate = d["achieved_rate"]
        print(f"  arrivals  {d['scheduled']} scheduled, {d['started']} started, {d['dropped']} dropped"
              + (f", {rate:.2f}/s achieved" if rate else ""), file=out)
    lost_workers = outcome.workers.get("lost_workers") if outcome.workers else None
    for lost in lost_workers if isinstance(lost_workers, list) else []:
        print(f"  LOST      worker {lost['index']} ({lost['name']}): {lost['reason']} at {lost['lost_at_s']}s, "
              f"missed {lost['missed_s']}s ({100 * (lost['missed_fraction'] or 0):.0f}% of the run)", file=out)
    print(f"  run dir   {run_dir}", file=out)
