"""What a run says in the terminal when it ends: counts, jobs, arrivals, lost workers, where the files are."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from loadtest.contract import TERMINAL_STATUSES
from loadtest.metrics.recorder import IN_FLIGHT, Recorder, is_error, is_throttled
from loadtest.scenario.model import Scenario
from loadtest.traffic.drive import RunOutcome


def totals(recorder: Recorder) -> dict[str, int]:
    """Whole-run counts from the recorder: requests, throttled, errors, jobs by outcome, dropped."""
    counts = {"requests": 0, "throttled": 0, "errors": 0, "dropped": 0, "in_flight": 0}
    for (_, _op, _flow, status), n in recorder.requests.items():
        counts["requests"] += n
        if is_throttled(status):
            counts["throttled"] += n
        elif is_error(status):
            counts["errors"] += n
    for status in TERMINAL_STATUSES:
        counts[status.value.lower()] = 0
    for (_, _flow, status), n in recorder.jobs.items():
        key = IN_FLIGHT.lower() if status == IN_FLIGHT else str(status).lower()
        counts[key] = counts.get(key, 0) + n
    counts["dropped"] = sum(recorder.dropped.values())
    counts["jobs"] = sum(recorder.jobs.values())
    return counts


def connection_failures_only(recorder: Recorder) -> int:
    """The number of requests sent when every one of them failed to connect (status 0), else 0."""
    sent = failed_to_connect = 0
    for (_, _op, _flow, status), n in recorder.requests.items():
        sent += n
        failed_to_connect += n if status == 0 else 0
    return sent if sent and failed_to_connect == sent else 0


def print_summary(
    scenario: Scenario, recorder: Recorder, outcome: RunOutcome, run_dir: Path, out: TextIO, *, failed: bool = False
) -> None:
    """The short terminal summary: how the run ended, requests, jobs, arrivals, lost workers, run directory."""
    c = totals(recorder)
    seconds = max(outcome.duration_s, 1e-9)
    state = "INTERRUPTED" if outcome.interrupted else ("STOPPED" if failed or outcome.stop_reason else "finished")
    drained = (f" ({outcome.duration_s - outcome.drained_s:.1f}s of load, then {outcome.drained_s:.1f}s following "
               "the jobs in flight)") if outcome.drained_s > 0 else ""
    print(f"\nloadtest: {scenario.name} {state} after {outcome.duration_s:.1f}s{drained}", file=out)
    throttled_pct = 100.0 * c["throttled"] / c["requests"] if c["requests"] else 0.0
    print(f"  requests  {c['requests']} ({c['requests'] / seconds:.1f}/s), 429 {c['throttled']} "
          f"({throttled_pct:.1f}%), errors {c['errors']}", file=out)
    print(f"  jobs      {c['jobs']}: completed {c.get('completed', 0)}, failed {c.get('failed', 0)}, "
          f"cancelled {c.get('cancelled', 0)}, timed out {c.get('timed_out', 0)}, in flight {c.get('in_flight', 0)}",
          file=out)
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
