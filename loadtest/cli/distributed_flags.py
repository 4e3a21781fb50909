"""The distributed flags of ``loadtest run`` and their checks (standard library only: imported by the CLI).

``--processes N``: a master here plus N local worker processes (loopback only).
``--master --expect-workers N [--master-bind-host H] [--master-bind-port P]``: a master that waits for N
workers started elsewhere with ``--worker --master-host HOST [--master-port P]`` (no scenario argument: the
worker gets it from the master). Only the master writes the run directory.
"""

from __future__ import annotations

import argparse

DEFAULT_MASTER_PORT = 5557
"""Locust's own default master port; the only port workers need to reach."""


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("distributed runs (Locust master/worker)")
    group.add_argument("--processes", type=int, metavar="N",
                       help="run N Locust worker processes on this machine under a master in this process")
    group.add_argument("--master", action="store_true",
                       help="be the master of a distributed run; workers connect with --worker")
    group.add_argument("--expect-workers", type=int, metavar="N",
                       help="with --master: start once N workers have connected (default 1)")
    group.add_argument("--expect-workers-max-wait", type=float, default=300.0, metavar="SECONDS",
                       help="with --master: give up when the workers have not all connected after this long "
                            "(default 300; 0 waits as long as it takes)")
    group.add_argument("--master-bind-host", default="*", metavar="HOST",
                       help="with --master: interface to accept workers on (default: all)")
    group.add_argument("--master-bind-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT",
                       help=f"with --master: port to accept workers on (default {DEFAULT_MASTER_PORT})")
    group.add_argument("--worker", action="store_true",
                       help="be a worker: take the scenario and orders from the master at --master-host")
    group.add_argument("--master-host", metavar="HOST", help="with --worker: the master's address")
    group.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT",
                       help=f"with --worker: the master's port (default {DEFAULT_MASTER_PORT})")


def distributed_requested(args: argparse.Namespace) -> bool:
    """True when any distributed flag was given (a stray one is then reported, not ignored)."""
    return bool(
        args.processes is not None or args.master or args.worker or args.expect_workers is not None
        or args.master_host or args.master_port != DEFAULT_MASTER_PORT or args.master_bind_port != DEFAULT_MASTER_PORT
        or args.master_bind_host != "*"
    )


def usage_problems(args: argparse.Namespace) -> list[str]:
    """Every misuse of the distributed flags, each naming the flag."""
    problems = []
    modes = [name for name, on in (("--processes", args.processes is not None), ("--master", args.master),
                                   ("--worker", args.worker)) if on]
    if len(modes) > 1:
        problems.append(f"{' and '.join(modes)}: choose one")
    if args.worker:
        if args.scenario:
            problems.append("--worker: takes no SCENARIO (the master sends it)")
        if not args.master_host:
            problems.append("--worker: needs --master-host HOST")
    elif not args.scenario:
        problems.append("SCENARIO: a scenario file is required")
    if args.processes is not None and args.processes < 1:
        problems.append(f"--processes: must be at least 1, got {args.processes}")
    if args.expect_workers is not None:
        if not args.master:
            problems.append("--expect-workers: only with --master")
        elif args.expect_workers < 1:
            problems.append(f"--expect-workers: must be at least 1, got {args.expect_workers}")
    if args.expect_workers_max_wait < 0:
        problems.append(f"--expect-workers-max-wait: must be 0 or more, got {args.expect_workers_max_wait:g}")
    if args.master_host and not args.worker:
        problems.append("--master-host: only with --worker")
    if not args.worker and args.master_port != DEFAULT_MASTER_PORT:
        problems.append("--master-port: only with --worker (the master's own port is --master-bind-port)")
    if not args.master and args.master_bind_host != "*":
        problems.append("--master-bind-host: only with --master")
    if not args.master and args.master_bind_port != DEFAULT_MASTER_PORT:
        problems.append("--master-bind-port: only with --master")
    for port_flag in ("master_port", "master_bind_port"):
        port = getattr(args, port_flag)
        if not 1 <= port <= 65535:
            problems.append(f"--{port_flag.replace('_', '-')}: not a port number: {port}")
    return problems
