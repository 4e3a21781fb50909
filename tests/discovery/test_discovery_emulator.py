"""``loadtest limits`` against real emulators whose limits it is not told: it must find what was configured.

One emulator serves a fixed 1 s window with a different rate per operation and concurrency caps on the
long-polls; the discovery is given only its URL and searches five operations at once (``--parallel``).
Every figure must be the configured one within 5% (or the configured value inside the reported interval),
the jobs it created must be what the emulator counted, and it must never send before a Retry-After ran out.
Then a ``respect`` run fed the discovered limits (``rate_limits.limits_from``) offers twice the limit and
meets no 429, where the same run told only the documented limits meets many.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadtest.emulator.process import EmulatorProcess

pytestmark = pytest.mark.slow

WINDOW_S = 1.0
RATES = {"run": 20, "status": 30, "stream": 40, "status-sync": 25, "runsync": 15}
CONCURRENCY = {"stream": 6, "status-sync": 5, "runsync": 4}
ENDPOINT: dict[str, Any] = {
    "id": "ep", "workers_min": 8, "workers_max": 8, "cold_start": "0s", "execution_time": "10ms",
    "limits": {"window": f"{WINDOW_S}s", "rate_overrides": RATES, "concurrency_overrides": CONCURRENCY},
}


@pytest.fixture(scope="module")
def emulator(module_emulator_factory: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return module_emulator_factory(ENDPOINT)


@pytest.fixture(scope="module")
def found(emulator: EmulatorProcess, discovery: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One discovery of five operations at once; its directory and what the emulator counted meanwhile."""
    run_dir = tmp_path_factory.mktemp("discovery") / "found"
    url = f"{emulator.base_url}/{emulator.endpoint_id}"
    result = discovery.loadtest(["limits", url, "--ops", ",".join(RATES), "--parallel", "--run-dir", str(run_dir),
                                 "--no-progress"], timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    truth = emulator.ground_truth(emulator.endpoint_id)["endpoints"][emulator.endpoint_id]
    return {"dir": run_dir, "doc": discovery.read_limits(run_dir), "truth": truth, "stdout": result.stdout,
            "requests": discovery.read_requests(run_dir)}


@pytest.mark.parametrize("op", list(RATES))
def test_the_rate_limit_found_is_the_one_configured(found: dict[str, Any], op: str) -> None:
    entry = found["doc"]["operations"][op]
    rate = entry["rate_limit"]
    configured = RATES[op]
    assert rate["value"] == configured and rate["interval"][0] <= configured <= rate["interval"][1], rate
    low, high = rate["window_interval"]
    assert low < WINDOW_S <= high, rate
    per_low, per_high = rate["per_second_interval"]
    assert per_low <= configured / WINDOW_S <= per_high, rate
    if (high - low) / high <= 0.1:  # the middle of an interval this narrow is within 5% of anything in it
        assert rate["window_s"] == pytest.approx(WINDOW_S, rel=0.05), rate
        assert rate["per_second"] == pytest.approx(configured / WINDOW_S, rel=0.05), rate
    assert rate["window_kind"] == "fixed"
    search = entry["rate_search"]
    assert search["status"] == "found" and search["confirmed"] is True
    assert search["no_429_at_per_s"] <= configured / WINDOW_S <= search["429_at_per_s"]
    assert entry["documented"]["rate_limit"]["window_s"] == 10
    assert "lower than documented" in entry["differences"]["rate"]
    assert " s window where the documents say 10 s" in entry["differences"]["window"]


@pytest.mark.parametrize("op", list(CONCURRENCY))
def test_the_concurrency_limit_found_is_the_one_configured(found: dict[str, Any], op: str) -> None:
    entry = found["doc"]["operations"][op]
    assert entry["concurrency_limit"] == {"value": CONCURRENCY[op], "interval": [CONCURRENCY[op], CONCURRENCY[op]]}
    search = entry["concurrency_search"]
    assert search["status"] == "found" and search["confirmed"] is True
    assert next(w["held"] for w in search["waves"] if w["refused"]) == CONCURRENCY[op]
    assert "lower than documented" in entry["differences"]["concurrency"]


def test_operations_answering_at_once_say_why_their_concurrency_was_not_measured(found: dict[str, Any]) -> None:
    for op in ("run", "status"):
        search = found["doc"]["operations"][op]["concurrency_search"]
        assert search["status"] == "not_measured" and "answers at once" in search["reason"]
        assert "concurrency_limit" not in found["doc"]["operations"][op]


def test_the_jobs_created_are_reported_as_the_emulator_counted_them(found: dict[str, Any]) -> None:
    doc = found["doc"]
    submitted = found["truth"]["jobs"]["submitted"]
    assert doc["jobs_created"] == submitted > 0
    by_op = {op: entry["jobs_created"] for op, entry in doc["operations"].items()}
    assert by_op["status"] == by_op["stream"] == 0 and by_op["run"] > 0 and by_op["runsync"] > 0
    assert by_op["run"] + by_op["runsync"] + doc["setup_jobs"] == submitted
    assert f"jobs created: {submitted}" in found["stdout"]


def test_no_request_is_sent_before_a_retry_after_has_run_out(found: dict[str, Any]) -> None:
    rows = [r for r in found["requests"] if r["sent_s"]]
    gates = [(r["op"], float(r["answered_s"]) + float(r["retry_after_s"])) for r in rows
             if r["status"] == "429" and r["retry_after_s"]]
    assert len(gates) > 20
    for op, until in gates:
        answered = until - 1.0  # every Retry-After here is 1 s (a 1 s window)
        early = [r for r in rows if r["op"] == op and answered < float(r["sent_s"]) < until - 1e-6]
        assert not early, (op, until, early[:3])
    seen = found["doc"]["operations"]["run"]["retry_after"]
    assert seen["seen"] == {"1": seen["seen"]["1"]} and seen["honoured_then_admitted"] == seen["honoured_then_checked"]


def test_the_run_directory_holds_the_evidence_and_the_page(found: dict[str, Any]) -> None:
    run_dir: Path = found["dir"]
    for op in RATES:
        assert (run_dir / "plots" / f"limits_{op}.png").stat().st_size > 5000
    page = (run_dir / "limits.html").read_text()
    assert "/runsync" in page and "429s begin at" in page and "data:image/png;base64," in page
    doc = found["doc"]
    assert doc["kind"] == "limit-discovery" and doc["format"] == 1 and doc["complete"] is True
    assert doc["target"]["kind"] == "url" and doc["requests"] == len(found["requests"])
    steps = doc["operations"]["run"]["steps"]
    assert {"ramp", "budget", "split", "window", "confirm", "saturate"} <= {s["phase"] for s in steps}
    saturate = next(s for s in steps if s["phase"] == "saturate")
    assert saturate["scheduled_per_s"] > 1.5 * RATES["run"] and saturate["admitted_per_s"] <= 1.1 * RATES["run"]


RESPECT = """
name: respect-discovered
duration: 4s
drain: 0s
target:
  emulator: {{id: ep}}
load:
  users: 16
mix:
  - flow: run_poll
    poll: {{interval: 100ms, max_wait: 5s}}
rate_limits:
  policy: respect
  {limits_from}
  on_429: {{action: count}}
"""


def _respect_run(tmp_path: Path, emulator: EmulatorProcess, discovery: Any, name: str, limits_from: str
                 ) -> dict[str, Any]:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(RESPECT.format(limits_from=limits_from))
    emulator.reset()
    run_dir = tmp_path / name
    result = discovery.loadtest(["run", str(scenario), "--host", emulator.base_url, "--run-dir", str(run_dir),
                                 "--no-report", "--no-progress", "--no-thresholds"], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    truth = emulator.ground_truth(emulator.endpoint_id)["endpoints"][emulator.endpoint_id]
    return {"summary": summary, "truth": truth}


def test_respect_fed_the_discovered_limits_meets_no_429_at_twice_the_limit(
    found: dict[str, Any], emulator: EmulatorProcess, discovery: Any, tmp_path: Path
) -> None:
    limit = RATES["run"] / WINDOW_S
    # Told only the documented limits (100 /run a second), the same users offer far past the real 20/s.
    blind = _respect_run(tmp_path, emulator, discovery, "documented", "")
    offered = blind["summary"]["metrics"]["throughput"]["by_op"]["run"]["value"]
    assert offered >= 2 * limit
    assert blind["truth"]["requests"]["run"].get("429", 0) > 0
    # Told the discovered limits, the client keeps under them: no 429, yet close to the limit.
    (tmp_path / "found").symlink_to(found["dir"])
    fed = _respect_run(tmp_path, emulator, discovery, "discovered", "limits_from: found/limits.json")
    assert "429" not in fed["truth"]["requests"]["run"], fed["truth"]["requests"]
    assert fed["truth"]["rejected"] == {}
    accepted = fed["summary"]["metrics"]["accepted_rate"]["by_op"]["run"]["value"]
    assert 0.6 * limit <= accepted <= limit
