"""The emulator's own accounting: what really happened, to check a load test's measurements against.

Counters are plain dict increments on the hot path; the JSON snapshot, the per-job pages and the
Prometheus text are built only when asked for. The shapes are documented in ``docs/emulator.md``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loadtest.contract import HEALTH_JOB_KEYS, HEALTH_WORKER_KEYS, JobStatus
from loadtest.looplag import LoopLag

if TYPE_CHECKING:
    from loadtest.emulator.endpoint import EndpointRuntime
    from loadtest.emulator.jobstore import Job

_R = TypeVar("_R")

FINAL_STATUSES: tuple[str, ...] = (
    JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value, JobStatus.TIMED_OUT.value
)


class Counters:
    """Per-endpoint event counts (requests, refusals, job outcomes, webhooks, workers)."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.rejected: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.submitted: defaultdict[str, int] = defaultdict(int)
        self.final: dict[str, int] = dict.fromkeys(FINAL_STATUSES, 0)
        self.expired_unfinished = 0
        """Jobs removed by their TTL while queued or running (404 from then on)."""
        self.expired_results = 0
        """Finished jobs removed after their retention (or ?ttl)."""
        self.retried_manual = 0
        self.retried_auto = 0
        self.purged = 0
        self.webhook_attempts = 0
        self.webhook_delivered = 0
        self.webhook_failed = 0
        self.workers_started = 0
        self.workers_stopped = 0
        self.workers_crashed = 0
        self.worker_requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        """Requests from real workers (job-take, job-done, ...) by route and HTTP code, apart from clients'."""


def _nested(flat: Mapping[tuple[str, Any], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (outer, inner), count in sorted(flat.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        out.setdefault(outer, {})[str(inner)] = count
    return out


def endpoint_snapshot(runtime: EndpointRuntime, origin: float = 0.0) -> dict[str, object]:
    """The ground-truth summary of one endpoint (no per-job records; see :func:`job_page`); times in ms
    since ``origin`` (the emulator's start on the loop clock)."""
    c = runtime.counters
    store = runtime.store
    submitted = sum(c.submitted.values())
    snapshot: dict[str, object] = {
        "requests": _nested(c.requests),
        "worker_requests": _nested(c.worker_requests),
        "rejected": _nested(c.rejected),
        "jobs": {
            "submitted": submitted,
            "submitted_by": dict(sorted(c.submitted.items())),
            "final": dict(c.final),
            "in_queue": store.in_queue,
            "in_progress": store.in_progress,
            "expired_unfinished": c.expired_unfinished,
            "expired_results": c.expired_results,
            "retried": c.retried_manual + c.retried_auto,
            "retried_manual": c.retried_manual,
            "retried_auto": c.retried_auto,
            "purged": c.purged,
            "retained": len(store.jobs),
            "records": store.records_total,
            "records_dropped": store.records_dropped,
        },
        "health": runtime.health(),
        "webhooks": {
            "attempts": c.webhook_attempts, "delivered": c.webhook_delivered, "failed": c.webhook_failed,
        },
        "workers": {
            "started": c.workers_started, "stopped": c.workers_stopped, "crashed": c.workers_crashed,
            "current": runtime.pool.worker_counts(),
        },
        "completion_lateness": runtime.pool.lateness_snapshot(),
        "llm": runtime.llm_truth.snapshot(),
    }
    real_workers = runtime.pool.real_workers_snapshot(origin)
    if real_workers is not None:
        snapshot["real_workers"] = real_workers
    return snapshot


def job_record(job: Job, origin: float) -> dict[str, object]:
    """One job as the ground truth reports it (times in ms since the emulator started)."""
    return {
        "id": job.id,
        "via": job.via,
        "status": job.status,
        "expired": job.expired,
        "delayTime": job.delay_ms,
        "executionTime": job.exec_ms,
        "workerId": job.worker_id,
        "retries": job.retries,
        "submittedAt": round((job.submitted_at - origin) * 1000, 3),
        "startedAt": None if job.started_at is None else round((job.started_at - origin) * 1000, 3),
        "finishedAt": None if job.finished_at is None else round((job.finished_at - origin) * 1000, 3),
    }


def job_page(runtime: EndpointRuntime, offset: int, limit: int, origin: float) -> dict[str, object]:
    """Per-job records in submission order, ``limit`` from ``offset`` (offsets count dropped records)."""
    store = runtime.store
    page = records_page(store.records, store.records_total, offset, limit, "jobs",
                        lambda job: job_record(job, origin))
    return {"endpoint": runtime.config.id, **page}


def records_page(
    records: deque[_R], total: int, offset: int, limit: int, key: str, render: Callable[[_R], object]
) -> dict[str, object]:
    """A page of a bounded record log (the newest ``len(records)`` of ``total`` kept): ``limit`` records
    from ``offset`` under ``key``; offsets count dropped records, ``next_offset`` is None on the last page."""
    first = total - len(records)
    start = max(offset, first)
    end = min(total, start + limit)
    return {
        "total": total,
        "first_offset": first,
        "offset": start,
        "next_offset": end if end < total else None,
        key: [render(record) for record in itertools.islice(records, start - first, end - first)],
    }


def _labels(**labels: object) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{str(value).replace(chr(34), "")}"' for key, value in labels.items())
    return "{" + inner + "}"


def prometheus_text(runtimes: list[EndpointRuntime], loop_lag: LoopLag | None = None) -> str:
    """All endpoints' counters and gauges (and the process's loop lag) in the Prometheus text format."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: Sequence[tuple[Mapping[str, object], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{_labels(**labels)} {value:g}")

    req, rej, sub, fin, gauge_jobs, gauge_workers, hooks, exec_sum = [], [], [], [], [], [], [], []
    worker_req: list[tuple[dict[str, object], float]] = []
    tokens: list[tuple[dict[str, object], float]] = []
    for rt in runtimes:
        ep = rt.config.id
        c = rt.counters
        req += [({"endpoint": ep, "operation": op, "code": code}, n) for (op, code), n in sorted(c.requests.items())]
        rej += [({"endpoint": ep, "operation": op, "reason": r}, n) for (op, r), n in sorted(c.rejected.items())]
        worker_req += [
            ({"endpoint": ep, "route": route, "code": code}, n)
            for (route, code), n in sorted(c.worker_requests.items())
        ]
        sub += [({"endpoint": ep, "via": via}, n) for via, n in sorted(c.submitted.items())]
        fin += [({"endpoint": ep, "status": s}, n) for s, n in c.final.items()]
        health = rt.health()
        gauge_jobs += [({"endpoint": ep, "state": k}, health["jobs"][k]) for k in HEALTH_JOB_KEYS]
        gauge_workers += [({"endpoint": ep, "state": k}, health["workers"][k]) for k in HEALTH_WORKER_KEYS]
        hooks += [
            ({"endpoint": ep, "result": "delivered"}, c.webhook_delivered),
            ({"endpoint": ep, "result": "failed"}, c.webhook_failed),
        ]
        exec_sum += [({"endpoint": ep}, rt.store.exec_ms_total)]
        tokens += [({"endpoint": ep, "kind": "prompt"}, rt.llm_truth.prompt_tokens),
                   ({"endpoint": ep, "kind": "output"}, rt.llm_truth.output_tokens)]
    family("loadtest_emulator_requests_total", "counter", "Requests answered, by operation and HTTP code.", req)
    family("loadtest_emulator_rejected_total", "counter", "Requests refused with 429, by limit.", rej)
    family(
        "loadtest_emulator_worker_requests_total", "counter",
        "Requests from real worker processes (job-take, job-done, ...), by route and HTTP code.", worker_req,
    )
    family("loadtest_emulator_jobs_submitted_total", "counter", "Jobs accepted, by submitting route.", sub)
    family("loadtest_emulator_jobs_final_total", "counter", "Jobs reaching a terminal status.", fin)
    family("loadtest_emulator_health_jobs", "gauge", "The /health job counters.", gauge_jobs)
    family("loadtest_emulator_health_workers", "gauge", "The /health worker counters.", gauge_workers)
    family("loadtest_emulator_webhooks_total", "counter", "Webhook deliveries by result.", hooks)
    family("loadtest_emulator_execution_ms_total", "counter", "Sum of finished jobs' executionTime.", exec_sum)
    family("loadtest_emulator_llm_tokens_total", "counter",
           "Tokens of finished OpenAI requests (prompt and output), as the ground truth counts them.", tokens)
    if loop_lag is not None:
        family("loadtest_emulator_loop_lag_max_ms", "gauge",
               "Largest event-loop lag of the emulator process since start (or reset), in ms.",
               [({}, round(loop_lag.max_ms, 3))])
        family("loadtest_emulator_loop_stalls_total", "counter",
               f"Event-loop stalls of at least {loop_lag.stall_s:g} s.", [({}, len(loop_lag.stalls()))])
    return "\n".join(lines) + "\n"
