"""Run a scenario in Locust's web UI: the emulator is started when the scenario targets it.

Starts ``locust -f loadtest/locustfile.py --scenario SCENARIO`` with the web UI on
``--web-host``/``--web-port`` (loopback by default), the host set to the emulator (or the real endpoint's
base URL), and ``--run-dir`` so that each test stopped from the UI writes the run directory and report.
``--locust-arg ARG`` (repeatable) passes arguments to Locust unchanged. Ctrl-C stops Locust and the emulator.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from loadtest import exitcodes
from loadtest.cli.run import DEFAULT_OUT_DIR

LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    parser.add_argument("--web-host", default="127.0.0.1", help="address of the web UI (default 127.0.0.1)")
    parser.add_argument("--web-port", type=int, default=8089, help="port of the web UI (default 8089)")
    parser.add_argument("--out-dir", default=DEFAULT_OUT_DIR, metavar="DIR", help="where run directories go")
    parser.add_argument("--host", metavar="URL", help="send to this API base URL instead of starting the emulator")
    parser.add_argument("--processes", type=int, metavar="N",
                        help="run the users in N Locust worker processes (the UI is the master; job metrics merged)")
    parser.add_argument("--locust-arg", dest="locust_args", action="append", default=[], metavar="ARG",
                        help="pass ARG to Locust unchanged (repeatable), e.g. --locust-arg=--class-picker")


def main(args: argparse.Namespace) -> int:
    if args.processes is not None and args.processes < 1:
        print(f"--processes: must be at least 1, got {args.processes}", file=sys.stderr)
        return exitcodes.INVALID_INPUT
    from loadtest.queue_api.target_facts import TargetError, target_facts
    from loadtest.rundir.layout import new_run_directory
    from loadtest.scenario.loader import ScenarioError, load_scenario
    from loadtest.scenario.model import EndpointTarget

    try:
        scenario = load_scenario(args.scenario)
        target_facts(scenario)  # fail now, not in the UI, when the key variable is missing
    except ScenarioError as exc:
        for issue in exc.errors:
            print(issue, file=sys.stderr)
        return exitcodes.INVALID_INPUT
    except TargetError as exc:
        print(exc, file=sys.stderr)
        return exitcodes.INVALID_INPUT
    run_dir = new_run_directory(scenario.name, args.out_dir)
    # the scenario's shape drives each test (Locust's form then asks only for the host);
    # --locust-arg=--class-picker offers flat users instead. Without --host the locustfile starts (and
    # watches) the emulator the scenario describes.
    extra = [*args.locust_args]
    if args.host:
        extra += ["--host", args.host]
    if args.processes is not None:
        extra += ["--processes", str(args.processes), *_master_port_args(args.locust_args)]
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--scenario", str(args.scenario),
        "--web-host", args.web_host, "--web-port", str(args.web_port), "--run-dir", str(run_dir), *extra,
    ]
    target = scenario.target
    host = args.host or (target.base_url if isinstance(target, EndpointTarget) else "the emulator")
    print(f"loadtest ui: http://{args.web_host}:{args.web_port}  (target {host}; run directory {run_dir})")
    child = subprocess.Popen(command, env={**os.environ, "LOADTEST_SCENARIO": str(args.scenario)})

    terminated = False

    def forward_term(signum: int, frame: object) -> None:
        """SIGTERM (a service manager, `kill`): pass it on to Locust (which shuts down cleanly on it) instead
        of leaving it serving a UI whose emulator is gone."""
        nonlocal terminated
        terminated = True
        child.send_signal(signal.SIGTERM)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, forward_term)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # a second SIGINT would cut Locust's writing of the run directory short
        if not terminated and not _ctrl_c_reached(child):
            child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
        return exitcodes.INTERRUPTED


def _master_port_args(locust_args: list[str]) -> list[str]:
    """A free loopback port for the master and its forked workers, unless ``--locust-arg`` names one.

    Locust's ``--processes`` binds its master to 5557 and points the workers at 5557: a second UI (or a run
    of plain Locust) on the same machine would fail to bind, or worse, its workers would join this master."""
    if any(arg.split("=", 1)[0] in ("--master-bind-port", "--master-port") for arg in locust_args):
        return []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    return ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]


def _ctrl_c_reached(child: subprocess.Popen) -> bool:
    """True when the interrupt was a terminal's Ctrl-C, which the terminal sent to Locust as well (we share
    the foreground process group)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp() == os.getpgid(child.pid)
    except OSError:
        return False
