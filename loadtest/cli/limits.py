"""Discover the rate and concurrency limits an endpoint really enforces.

For each operation: raise the offered rate until 429s come, then measure the budget per window, the
window's length and kind (fixed or rolling) and confirm below the limit; for long-polls (/runsync,
/status-sync, /stream) also raise the requests held in flight. Retry-After is honoured throughout.
Writes limits.json (figures with intervals, beside the documented ones), requests.csv and limits.html.
A real endpoint needs --confirm-probe (it sends past the limits on purpose, and /run and /runsync create
billable jobs, capped by --max-jobs). Feed the result back with rate_limits.limits_from (docs/limits.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadtest.cli.flags import add_output_arguments, positive, positive_quantity

_rate = positive_quantity("rate", "50/s or 600/m")
_duration = positive_quantity("duration", "2s or 1m")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="SCENARIO_OR_URL",
                        help="a scenario file (its target: the emulator is started, or its real endpoint) or an "
                             "endpoint URL such as http://127.0.0.1:8000/v2/ENDPOINT_ID")
    parser.add_argument("--ops", metavar="OPS",
                        help="operations to discover, comma-separated (run,runsync,status,status-sync,stream,"
                             "cancel,retry,purge-queue,health,requests); default: those the scenario's flows use "
                             "(run,status for a URL)")
    parser.add_argument("--max-jobs", type=positive(int, "--max-jobs"), metavar="N",
                        help="never create more than N jobs (default: the scenario's target.max_jobs; 1000 for a "
                             "URL that is not loopback; none for the emulator)")
    parser.add_argument("--confirm-probe", action="store_true",
                        help="allow the discovery against a real endpoint (it sends past the limits on purpose)")
    parser.add_argument("--api-key-env", default="RUNPOD_API_KEY", metavar="NAME",
                        help="environment variable holding the key, for a URL target (default RUNPOD_API_KEY)")
    parser.add_argument("--start-rate", type=_rate, metavar="RATE",
                        help="first offered rate, e.g. 5/s (default: an eighth of the documented rate, at least 1/s)")
    parser.add_argument("--max-rate", type=_rate, default=400.0, metavar="RATE",
                        help="ceiling of every offered rate (default 400/s)")
    parser.add_argument("--ceiling-hold", type=_duration, default=20.0, metavar="TIME",
                        help="offer the ceiling rate this long without a 429 before saying 'not reached' (default 20s)")
    parser.add_argument("--precision", type=positive(float, "--precision"), default=0.08, metavar="FRACTION",
                        help="refine the window until its interval is this narrow, relative (default 0.08: the "
                             "middle is within 4%%)")
    parser.add_argument("--max-cycles", type=positive(int, "--max-cycles"), default=10, metavar="N",
                        help="at most N measured windows per operation (default 10)")
    parser.add_argument("--max-concurrency", type=positive(int, "--max-concurrency"), default=1000, metavar="N",
                        help="hold at most N requests in flight (default 1000)")
    parser.add_argument("--max-pause", type=_duration, default=120.0, metavar="TIME",
                        help="stop an operation whose 429s ask to wait longer than this (default 2m)")
    parser.add_argument("--max-time-per-op", type=_duration, default=300.0, metavar="TIME",
                        help="stop refining an operation after this long (default 5m)")
    parser.add_argument("--payload", metavar="JSON",
                        help='body of the jobs it creates (default {"input": {}}: the cheapest job)')
    parser.add_argument("--hold-key", default="mock_delay", metavar="KEY",
                        help="input key that makes a job last N seconds, for held requests (default mock_delay)")
    parser.add_argument("--queue-size", action="store_true",
                        help="also find the queue length above which /run is refused: submits jobs that last "
                             "(--hold-key) until one is refused; at least 50 jobs, 500 per max worker documented")
    parser.add_argument("--parallel", action="store_true",
                        help="search every operation at once (faster; limits are per operation)")
    parser.add_argument("--purge", action="store_true",
                        help="drop the queue (/purge-queue) at the end: every queued job goes, yours or not")
    add_output_arguments(parser, what="discovery directories", layout="OUT_DIR/limits-NAME/<time>")
    parser.add_argument("--no-page", action="store_true", help="write limits.json but not limits.html")
    parser.add_argument("--no-progress", action="store_true", help="no line per stretch of traffic")


def main(args: argparse.Namespace) -> int:
    import json
    import os

    from loadtest.contract import Op
    from loadtest.errors import UsageError

    ops: tuple[Op, ...] | None = None
    if args.ops is not None:
        names = [name.strip().lstrip("/") for name in args.ops.split(",") if name.strip()]
        if not names:
            raise UsageError("--ops names no operation (e.g. --ops run,status)")
        unknown = [name for name in names if name not in {op.value for op in Op}]
        if unknown:
            raise UsageError(f"--ops: unknown operation {', '.join(unknown)} (known: "
                             f"{', '.join(op.value for op in Op)})")
        ops = tuple(dict.fromkeys(Op(name) for name in names))
    payload: dict[str, object] = {"input": {}}
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as exc:
            raise UsageError(f"--payload is not JSON: {exc}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("input", {}), dict):
            raise UsageError('--payload must be a JSON object with an "input" object, e.g. {"input": {}}')
    if args.start_rate is not None and args.start_rate > args.max_rate:
        raise UsageError(f"--start-rate ({args.start_rate:g}/s) is above --max-rate ({args.max_rate:g}/s)")
    # Locust (gevent) monkey-patches the standard library: import it before any networking module. The
    # flags above are checked first, so a mistyped command answers at once.
    import locust  # noqa: F401

    from loadtest.discovery.operation import Settings
    from loadtest.discovery.session import DiscoveryOptions, discover

    settings = Settings(
        start_rate=args.start_rate, max_rate=args.max_rate, ceiling_hold_s=args.ceiling_hold,
        precision=args.precision, max_cycles=args.max_cycles, max_concurrency=args.max_concurrency,
        max_pause_s=args.max_pause, max_op_s=args.max_time_per_op, payload=payload, hold_key=args.hold_key,
    )
    options = DiscoveryOptions(
        target=args.target, out_dir=Path(args.out_dir), run_dir=Path(args.run_dir) if args.run_dir else None,
        ops=ops, max_jobs=args.max_jobs, confirm_probe=args.confirm_probe, api_key_env=args.api_key_env,
        parallel=args.parallel, purge=args.purge, force=args.force, queue_size=args.queue_size,
        page=not args.no_page,
        progress=not args.no_progress,
        settings=settings,
    )
    return discover(options, sys.stdout, sys.stderr, dict(os.environ))
