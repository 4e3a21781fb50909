"""``loadtest limits``: one discovery from target to run directory.

1. *target*: a scenario file (its ``target``: the emulator is started and watched as for ``loadtest run``,
   a real endpoint's URL and key) or an endpoint URL (``http://127.0.0.1:8000/v2/ENDPOINT_ID``);
2. *refusals before any traffic*: an unsupported operation, a real endpoint without ``--confirm-probe``,
   a key variable that is unset (exit 2);
3. *fixtures*: one finished job for operations that need a job id, and a long job to hold long-polls on;
4. *searches*, operation after operation (or all at once with ``parallel``): rate, then concurrency;
5. *output*: ``limits.json`` (figures, intervals, documented values, evidence), ``requests.csv`` (every
   request: schedule, send, answer, status, Retry-After), ``limits.html`` with a plot per operation, and
   a table on the terminal.

Interrupted (Ctrl-C), or stopped by a target that died or refused the key, it still writes what was
found, marked ``"complete": false``.
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, cast
from urllib.parse import urlsplit

import gevent

from loadtest import __version__, contract, exitcodes
from loadtest.contract import Op
from loadtest.discovery.document import document, operation_entry
from loadtest.discovery.evidence import Step
from loadtest.discovery.experiments import OperationSearch
from loadtest.discovery.operation import DESTRUCTIVE, NEEDS_DONE_JOB, SUPPORTED, Fixtures, Settings
from loadtest.discovery.prober import JOB_CREATING, Call, DiscoveryAborted, Prober
from loadtest.discovery.queue_search import queue_size_search
from loadtest.discovery.results import FOUND, ConcurrencyResult, QueueResult, RateResult
from loadtest.errors import InvalidInput
from loadtest.interrupts import on_interrupt
from loadtest.pipeline.target import Target
from loadtest.pipeline.watch import RunWatch
from loadtest.queue_api.target_facts import EMULATOR_PLACEHOLDER_KEY, key_from_environment
from loadtest.redaction import redact
from loadtest.rundir.layout import EMULATOR_LOG, LIMITS_JSON
from loadtest.rundir.write import write_discovery_requests, write_ground_truth, write_limits
from loadtest.scenario.model import EmulatorTarget

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_URL_OPS: tuple[Op, ...] = (Op.RUN, Op.STATUS)
DEFAULT_URL_MAX_JOBS = 1000
"""The job cap against an endpoint URL when no --max-jobs is given (a scenario's ``target.max_jobs`` default)."""


@dataclass(frozen=True)
class DiscoveryOptions:
    """``loadtest limits``'s request as typed values (the CLI parses flags into it; tests build it)."""

    target: str
    """A scenario file, or an endpoint URL ``.../v2/ENDPOINT_ID``."""
    out_dir: Path = Path("reports")
    run_dir: Path | None = None
    ops: tuple[Op, ...] | None = None
    max_jobs: int | None = None
    confirm_probe: bool = False
    api_key_env: str = "RUNPOD_API_KEY"
    parallel: bool = False
    purge: bool = False
    """Drop the queue (``/purge-queue``) after job-heavy searches: every queued job goes, yours or not."""
    force: bool = False
    """Write into a ``run_dir`` that already holds files (as ``loadtest run --force``)."""
    queue_size: bool = False
    """Also exercise the queue-size rule: jobs that last, submitted until one is refused (costly: read
    docs/limits.md)."""
    page: bool = True
    progress: bool = True
    """A line per stretch of traffic as the searches go."""
    settings: Settings = field(default_factory=Settings)


@dataclass
class ResolvedTarget:
    base_url: str
    endpoint_id: str
    api_key: str
    kind: str
    """``emulator`` (started here), ``endpoint`` (a scenario's real endpoint) or ``url``."""
    loopback: bool
    name: str
    default_ops: tuple[Op, ...]
    max_jobs: int | None
    scenario_path: Path | None = None
    emulator_target: EmulatorTarget | None = None
    """The scenario's ``target`` when the emulator is to be started."""


def _url_target(url: str, key_env: str, environ: dict[str, str]) -> ResolvedTarget:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or not parts.hostname or not segments:
        raise InvalidInput(f"{url}: expected an endpoint URL such as http://127.0.0.1:8000/v2/ENDPOINT_ID")
    endpoint_id = segments[-1]
    base_url = f"{parts.scheme}://{parts.netloc}/" + "/".join(segments[:-1])
    loopback = parts.hostname in LOOPBACK_HOSTS
    if loopback and not environ.get(key_env):
        key = EMULATOR_PLACEHOLDER_KEY
    else:
        key = key_from_environment(key_env, setting="--api-key-env", remedy="export it with the endpoint's API key",
                                   environ=environ)
    return ResolvedTarget(base_url.rstrip("/"), endpoint_id, key, "url", loopback, endpoint_id, DEFAULT_URL_OPS,
                          None if loopback else DEFAULT_URL_MAX_JOBS)


def _scenario_target(path: Path) -> ResolvedTarget:
    """A scenario's target, through the same prepare as every run (the probe question is this command's own:
    ``--confirm-probe``, asked in :func:`resolve`)."""
    from loadtest.pipeline.prepare import prepare_scenario
    from loadtest.scenario.model import FLOW_OPERATIONS, EndpointTarget

    prepared = prepare_scenario(path)
    scenario, facts = prepared.scenario, prepared.facts
    used = {op for flow in scenario.mix for op in FLOW_OPERATIONS[flow.flow]}
    default_ops = tuple(op for op in SUPPORTED if op in used and op not in DESTRUCTIVE and op is not Op.HEALTH)
    target = scenario.target
    key = facts.api_key
    if isinstance(target, EndpointTarget):
        host = urlsplit(target.base_url).hostname or ""
        return ResolvedTarget(target.base_url.rstrip("/"), facts.endpoint_id, key, "endpoint",
                              host in LOOPBACK_HOSTS, scenario.name, default_ops, target.max_jobs, path)
    assert isinstance(target, EmulatorTarget)
    return ResolvedTarget("", facts.endpoint_id, key, "emulator", True, scenario.name, default_ops, None,
                          path, target)


def resolve(options: DiscoveryOptions, environ: dict[str, str]) -> ResolvedTarget:
    """The target and what may be sent to it; raises :class:`~loadtest.errors.InvalidInput` before any traffic."""
    text = options.target
    if text.startswith(("http://", "https://")):
        resolved = _url_target(text, options.api_key_env, environ)
    else:
        path = Path(text)
        if not path.is_file():
            raise InvalidInput(f"{text}: no such scenario file (give a scenario YAML or an endpoint URL "
                          "http://HOST/v2/ENDPOINT_ID)")
        resolved = _scenario_target(path)
    ops = options.ops or resolved.default_ops
    unsupported = [op.value for op in ops if op not in SUPPORTED]
    if unsupported:
        raise InvalidInput(f"--ops: {', '.join(unsupported)} cannot be discovered (supported: "
                      f"{', '.join(op.value for op in SUPPORTED)})")
    if not ops:
        raise InvalidInput("no operation to discover: the scenario's flows use none (name some with --ops)")
    real = resolved.kind != "emulator" and not resolved.loopback
    if real and not options.confirm_probe:
        creating = [op.value for op in ops if op in JOB_CREATING] or (["run"] if options.queue_size else [])
        cap = options.max_jobs or resolved.max_jobs
        cost = (f"; /{', /'.join(creating)} create billable jobs (at most {cap}, --max-jobs)" if creating else "")
        if options.queue_size:
            cost += ", and --queue-size queues jobs that last until one is refused"
        destroy = (" and /purge-queue drops every queued job of the endpoint" if any(op in DESTRUCTIVE for op in ops)
                   else "")
        raise InvalidInput(f"{text}: a limit discovery sends past the endpoint's limits on purpose{cost}{destroy}. "
                      "Add --confirm-probe to run it (see docs/limits.md for what it costs).")
    if options.max_jobs is not None:
        resolved.max_jobs = options.max_jobs
    return resolved


# ------------------------------------------------------------------------------------------ fixtures


class JobFixtures:
    """The few jobs the searches need, made once and reused."""

    def __init__(self, prober: Prober, settings: Settings) -> None:
        self.p = prober
        self.s = settings
        self.fixtures = Fixtures()
        self._hold_jobs: list[str] = []
        self._hold_until = 0.0
        self.created = 0

    def _submit(self, body: dict[str, Any]) -> str | None:
        _, result = self.p.call(Call(Op.RUN, body=body), phase="setup")
        if result is None or not result.ok or not isinstance(result.body, dict):
            status = "the job cap" if result is None else f"HTTP {result.status}"
            self.fixtures.notes.append(f"a setup job could not be submitted ({status})")
            return None
        self.created += 1
        job_id = result.body.get("id")
        return job_id if isinstance(job_id, str) else None

    def make_done_job(self, timeout: float = 120.0) -> None:
        """One finished job: the cheapest payload, polled to its end."""
        job = self._submit(self.s.payload)
        if job is None:
            return
        deadline = self.p.now() + timeout
        while self.p.now() < deadline:
            _, result = self.p.call(Call(Op.STATUS, job_id=job), phase="setup")
            if result is not None and result.ok and contract.is_terminal(result.job_status or ""):
                self.fixtures.done_job = job
                return
            gevent.sleep(0.25)
        self.fixtures.notes.append(f"the setup job did not finish within {timeout:g} s")

    def hold_job(self, seconds: float) -> str | None:
        """A job that stays unfinished for at least ``seconds`` more (made anew when the last may end)."""
        if self._hold_jobs and self.p.now() + seconds + 5 < self._hold_until:
            return self._hold_jobs[-1]
        lasts = max(60.0, 4 * seconds)
        job_input = dict(self.s.payload.get("input") or {})
        job_input[self.s.hold_key] = lasts
        job = self._submit({**self.s.payload, "input": job_input})
        if job is not None:
            self._hold_jobs.append(job)
            self._hold_until = self.p.now() + lasts
        return job

    def release(self) -> None:
        """Cancel the long jobs (they would otherwise run, and be billed, to their end)."""
        for job in self._hold_jobs:
            self.p.call(Call(Op.CANCEL, job_id=job), phase="cleanup")


class HealthSampler:
    """``/health`` once a second while job-creating searches run: the queue length and running workers."""

    def __init__(self, prober: Prober) -> None:
        self.p = prober
        self.samples: list[dict[str, float]] = []
        self._greenlet: gevent.Greenlet | None = None
        self._users = 0

    def __enter__(self) -> HealthSampler:
        self._users += 1
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)
        return self

    def __exit__(self, *_: object) -> None:
        self._users -= 1
        if self._users == 0 and self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None

    def _loop(self) -> None:
        while True:
            _, result = self.p.call(Call(Op.HEALTH), phase="health")
            if result is not None and result.ok and isinstance(result.body, dict):
                jobs = result.body.get("jobs") or {}
                workers = result.body.get("workers") or {}
                self.samples.append({"t": round(self.p.now(), 3), "in_queue": float(jobs.get("inQueue", 0)),
                                     "in_progress": float(jobs.get("inProgress", 0)),
                                     "running_workers": float(workers.get("running", 0))})
            gevent.sleep(1.0)


# ------------------------------------------------------------------------------------------ the run


@dataclass
class OpOutcome:
    rate: RateResult
    concurrency: ConcurrencyResult
    elapsed_s: float


def discover(options: DiscoveryOptions, out: TextIO, err: TextIO, environ: dict[str, str]) -> int:
    """Run one discovery; the exit code (an error of the project before any traffic: bad input, a target
    that did not start)."""
    resolved = resolve(options, environ)
    ops = options.ops or resolved.default_ops
    from loadtest.pipeline.output import prepare_run_directory

    run_dir = prepare_run_directory(options.run_dir, options.out_dir, f"limits-{resolved.name}", force=options.force)
    target: Target | None = None
    if resolved.emulator_target is not None:
        target = Target.start_emulator(resolved.emulator_target, log_path=run_dir / EMULATOR_LOG)
        resolved.base_url = target.base_url
    try:
        return _discover(options, resolved, ops, run_dir, target, out, err)
    finally:
        if target is not None:
            target.stop()


def _discover(options: DiscoveryOptions, resolved: ResolvedTarget, ops: tuple[Op, ...], run_dir: Path,
              target: Target | None, out: TextIO, err: TextIO) -> int:
    settings = options.settings
    prober = Prober(resolved.base_url, resolved.endpoint_id, resolved.api_key,
                    pool_size=settings.max_concurrency + 64, network_timeout=contract.WAIT_MAX_MS / 1000 + 30,
                    job_cap=resolved.max_jobs, watchers=RunWatch(None, target).watchers())
    started_at = time.time()
    print(f"loadtest limits: discovering {', '.join('/' + op.value for op in ops)} on {resolved.base_url}/"
          f"{resolved.endpoint_id}" + (f" (job cap {resolved.max_jobs})" if resolved.max_jobs else ""), file=out,
          flush=True)
    fixtures = JobFixtures(prober, settings)
    health = HealthSampler(prober)
    outcomes: dict[Op, OpOutcome] = {}
    queue: QueueResult | None = None
    exit_code = exitcodes.OK
    aborted: str | None = None

    def search(op: Op) -> None:
        began = prober.now()
        engine = OperationSearch(prober, op, settings, fixtures.fixtures)
        if options.progress:
            engine.step_done.add(lambda op, step: print(_step_line(op, step), file=out, flush=True))
        try:
            if op in NEEDS_DONE_JOB and fixtures.fixtures.done_job is None:
                engine.rate_result.reason = "no finished job to send it for (see notes)"
                engine.rate_result.notes.extend(fixtures.fixtures.notes)
                engine.concurrency_result.reason = engine.rate_result.reason
                return
            if op in JOB_CREATING:
                with health:
                    rate = engine.rate()
            else:
                rate = engine.rate()
            engine.concurrency(rate, fixtures.hold_job)
        except DiscoveryAborted as exc:
            for result in (engine.rate_result, engine.concurrency_result):
                result.notes.append(f"stopped: {exc}")
                result.reason = result.reason or f"stopped: {exc}"
            raise
        finally:
            outcomes[op] = OpOutcome(engine.rate_result, engine.concurrency_result, prober.now() - began)
            print(_line(op, outcomes[op]), file=out, flush=True)

    def interrupt() -> None:
        prober.interrupted = True

    with on_interrupt(interrupt):  # a second Ctrl-C stops the clean-up too
        try:
            if any(op in NEEDS_DONE_JOB for op in ops):
                fixtures.make_done_job()
            if options.parallel:
                stopped: list[DiscoveryAborted] = []

                def search_or_stop(op: Op) -> None:
                    try:
                        search(op)
                    except DiscoveryAborted as exc:  # the others see the same at their next check
                        stopped.append(exc)

                gevent.joinall([gevent.spawn(search_or_stop, op) for op in ops], raise_error=True)
                if stopped:
                    raise stopped[0]
            else:
                for op in ops:
                    search(op)
            if options.queue_size:
                run = outcomes.get(Op.RUN)
                queue = queue_size_search(prober, settings, run.rate if run is not None else None,
                                          purge=options.purge or resolved.kind == "emulator")
                print(f"  queue size   {_queue_line(queue)}", file=out, flush=True)
        except DiscoveryAborted as exc:
            aborted, exit_code = str(exc), exc.exit_code
            print(f"loadtest limits: {exc}", file=err)
        except KeyboardInterrupt:
            aborted, exit_code = "interrupted", exitcodes.INTERRUPTED
            print("loadtest limits: interrupted; writing what was found", file=err)
        finally:
            prober.abandon()
            _clean_up(prober, fixtures, purge=options.purge or resolved.kind == "emulator", err=err)
    ground_truth = target.ground_truth() if target is not None else None
    print(f"jobs created: {prober.jobs.created}; requests sent: {len(prober.records)}", file=out)
    try:
        doc = _write(run_dir, options, resolved, ops, prober, fixtures, health, outcomes, queue, started_at,
                     aborted, ground_truth)
        print(f"limits: {run_dir / LIMITS_JSON}", file=out)
        if options.page:
            from loadtest.discovery.page import write_page

            print(f"page:   {write_page(run_dir, doc)}", file=out)
    except OSError as exc:
        from loadtest.pipeline.output import describe

        print(f"loadtest limits: {run_dir}: could not write everything ({describe(exc)}: {exc.filename or ''})",
              file=err)
        return exit_code if exit_code != exitcodes.OK else exitcodes.OUTPUT_INCOMPLETE
    return exit_code


def _clean_up(prober: Prober, fixtures: JobFixtures, *, purge: bool, err: TextIO) -> None:
    """Leave nothing running: cancel the long jobs made to hold requests on, and with ``purge`` drop the
    queue. After an interrupt too (a second Ctrl-C stops this as well)."""
    prober.interrupted = False
    try:
        fixtures.release()
        if purge:
            prober.call(Call(Op.PURGE_QUEUE), phase="cleanup")
        prober.abandon()
    except DiscoveryAborted as exc:
        print(f"loadtest limits: cleaning up stopped: {exc}", file=err)


def _step_line(op: Op, step: Step) -> str:
    held_back = f", {step.skipped} held back for Retry-After" if step.skipped else ""
    return (f"    /{op.value:<12} {step.phase:8} {step.scheduled_per_s:8.3g}/s: {step.sent} sent, {step.admitted} "
            f"admitted, {step.throttled} × 429{held_back} ({step.duration_s:.2f} s)")


def _line(op: Op, outcome: OpOutcome) -> str:
    rate, conc = outcome.rate, outcome.concurrency
    if rate.status == FOUND:
        window = rate.window.interval()
        low, high = rate.budget.interval()
        budget = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        kind = f" {rate.kind}" if rate.kind else ""
        rate_text = f"{budget} per {window.mid:.3g} s{kind} window ({window.low:.3g}-{window.high:.3g} s)"
    elif rate.status == "not_reached":
        rate_text = f"not reached ({rate.reason})"
    else:
        rate_text = f"not measured ({rate.reason})"
    low_c, high_c = conc.evidence.interval()
    if conc.status == FOUND:
        conc_text = f"{low_c}" if low_c == high_c else f"{low_c}-{high_c}"
    elif conc.status == "not_reached":
        conc_text = f"at least {low_c}"
    else:
        conc_text = "not measured"
    return f"  /{op.value:12} rate {rate_text}; concurrency {conc_text}; {outcome.elapsed_s:.1f} s"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _write(run_dir: Path, options: DiscoveryOptions, resolved: ResolvedTarget, ops: tuple[Op, ...],
           prober: Prober, fixtures: JobFixtures, health: HealthSampler, outcomes: dict[Op, OpOutcome],
           queue: QueueResult | None, started_at: float, aborted: str | None,
           ground_truth: dict[str, Any] | None) -> dict[str, Any]:
    operations: dict[str, dict[str, Any]] = {}
    for op, outcome in outcomes.items():
        records = [r for r in prober.records if r.op == op.value and r.phase not in ("setup", "health", "cleanup")]
        created = sum(1 for r in records if op in JOB_CREATING and 200 <= r.status < 300)
        operations[op.value] = operation_entry(op, outcome.rate, outcome.concurrency, records, outcome.elapsed_s,
                                               created)
    settings = options.settings
    header: dict[str, Any] = {
        "tool": {"name": "loadtest", "version": __version__},
        "complete": aborted is None,
        **({"stopped": aborted} if aborted else {}),
        "target": {"kind": resolved.kind, "base_url": resolved.base_url, "endpoint_id": resolved.endpoint_id,
                   **({"scenario": str(resolved.scenario_path)} if resolved.scenario_path else {})},
        "started_at": _iso(started_at), "ended_at": _iso(time.time()),
        "duration_s": round(time.time() - started_at, 2),
        "settings": {
            "ops": [op.value for op in ops], "parallel": options.parallel, "max_jobs": resolved.max_jobs,
            "start_rate_per_s": settings.start_rate, "max_rate_per_s": settings.max_rate,
            "ramp_step_s": settings.ramp_step_s, "ceiling_hold_s": settings.ceiling_hold_s,
            "precision": settings.precision, "max_cycles": settings.max_cycles,
            "confirm_fraction": settings.confirm_fraction, "max_concurrency": settings.max_concurrency,
            "max_pause_s": settings.max_pause_s, "max_time_per_op_s": settings.max_op_s,
            "payload": settings.payload, "hold_key": settings.hold_key, "retry_after": "honoured",
        },
        "jobs_created": prober.jobs.created,
        "setup_jobs": fixtures.created,
        "requests": len(prober.records),
    }
    extra: dict[str, Any] = {"queue_size": _queue_size(prober, health, queue), "health_samples": health.samples}
    if fixtures.fixtures.notes:
        extra["notes"] = fixtures.fixtures.notes
    if ground_truth is not None:
        extra["emulator_jobs_submitted"] = _submitted(ground_truth)
        write_ground_truth(run_dir, ground_truth)
    doc = cast(dict[str, Any], redact(document(header, operations, extra)))
    write_limits(run_dir, doc)
    write_discovery_requests(run_dir, _requests_csv(prober))
    return doc


def _submitted(ground_truth: dict[str, Any]) -> int | None:
    endpoints = ground_truth.get("endpoints")
    if not isinstance(endpoints, dict) or len(endpoints) != 1:
        return None
    (truth,) = endpoints.values()
    jobs = truth.get("jobs") if isinstance(truth, dict) else None
    submitted = jobs.get("submitted") if isinstance(jobs, dict) else None
    return submitted if isinstance(submitted, int) else None


def _queue_size(prober: Prober, health: HealthSampler, queue: QueueResult | None) -> dict[str, Any]:
    """The queue-size rule: measured by ``--queue-size``, or met during the searches (a 429 naming it; the
    queue length sampled from /health nearest that refusal)."""
    documented = (f"429 when more than max({contract.QUEUE_SIZE_LIMIT_FLOOR}, workers_max × "
                  f"{contract.QUEUE_SIZE_PER_MAX_WORKER}) jobs are queued")
    if queue is not None:
        entry: dict[str, Any] = {"status": queue.status, "documented": documented, "submitted": queue.submitted,
                                 "admitted_at_most": queue.admitted_at_most, "refused_at": queue.refused_at}
        interval = queue.interval()
        if interval is not None:
            entry["threshold"] = {"value": interval[1], "interval": list(interval)}
        if queue.reason:
            entry["reason"] = queue.reason
        if queue.notes:
            entry["notes"] = queue.notes
        return entry
    refusals = [r for r in prober.records if r.throttled and r.limit_hint == "queue_size"]
    if not refusals:
        return {"status": "not_exercised", "documented": documented}
    first = min(refusals, key=lambda r: r.sent)
    near = min(health.samples, key=lambda s: abs(s["t"] - first.sent), default=None)
    admitted_queues = [s["in_queue"] for s in health.samples if s["t"] < first.sent]
    return {
        "status": "met", "refusals": len(refusals), "first_at_s": round(first.sent, 3),
        "queued_near_first_refusal": near["in_queue"] if near else None,
        "largest_queue_before": max(admitted_queues, default=None), "documented": documented,
    }


def _queue_line(queue: QueueResult) -> str:
    interval = queue.interval()
    if interval is not None:
        low, high = interval
        return (f"submissions refused above {high} queued" + (f" ({low}-{high})" if low != high else "")
                + f"; {queue.submitted} jobs submitted")
    return f"{queue.status.replace('_', ' ')}: {queue.reason}"


def _requests_csv(prober: Prober) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["op", "phase", "cycle", "scheduled_s", "sent_s", "answered_s", "status", "retry_after_s",
                     "named_limit", "held_before", "error"])
    for r in sorted(prober.records, key=lambda r: (r.sent if not math.isnan(r.sent) else math.inf)):
        writer.writerow([
            r.op, r.phase, r.cycle, f"{r.scheduled:.6f}", "" if math.isnan(r.sent) else f"{r.sent:.6f}",
            "" if math.isnan(r.answered) else f"{r.answered:.6f}", r.status,
            "" if r.retry_after is None else f"{r.retry_after:g}", r.limit_hint or "", r.held, r.error or "",
        ])
    return buffer.getvalue()
