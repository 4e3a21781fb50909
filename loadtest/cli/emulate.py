"""Start the built-in RunPod serverless emulator.

Prints its base URL (http://HOST:PORT/v2) on stdout once it listens; point the RunPod SDK at it with
RUNPOD_ENDPOINT_BASE_URL. Stops cleanly on SIGINT/SIGTERM. The config file is an EmulatorConfig YAML
(host, port, endpoints: [...]); flags override it (endpoint flags apply to every endpoint).
``--worker-command "python -u handler.py"`` runs your own RunPod handler as the workers (docs/workers.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loadtest import exitcodes

if TYPE_CHECKING:  # imported inside main: `loadtest --help` does not pay for pydantic
    from pydantic import ValidationError

    from loadtest.emulator_config import EmulatorConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="EmulatorConfig YAML file (host, port, endpoints)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on; 0 picks a free one (default 0)")
    parser.add_argument("--endpoint-id", help="endpoint id served under /v2/ID (only with one endpoint)")
    parser.add_argument("--workers-min", type=int, help="always-on workers")
    parser.add_argument("--workers-max", type=int, help="most workers the scaler may start")
    parser.add_argument("--concurrency", type=int, help="jobs one worker runs at once")
    parser.add_argument("--cold-start", help="worker cold start, e.g. 2s")
    parser.add_argument("--idle-timeout", help="idle worker stops after, e.g. 5s")
    parser.add_argument("--execution-time", help="job execution time (a constant), e.g. 250ms")
    parser.add_argument("--failure-rate", type=float, help="probability that a job fails (0..1)")
    parser.add_argument("--seed", type=int, help="seed for every random draw")
    parser.add_argument("--api-key-env", help="environment variable holding the API key to demand")
    parser.add_argument("--no-limits", action="store_true", help="switch off all limits")
    parser.add_argument("--generator", action="store_true", help="every job streams (like mock-worker --generator)")
    parser.add_argument(
        "--worker-command", help='run your own RunPod worker instead of simulated ones, e.g. "python -u handler.py"'
    )
    parser.add_argument("--worker-cwd", type=Path, help="working directory of the worker processes")
    parser.add_argument(
        "--worker-env", action="append", default=[], metavar="NAME=VALUE", help="extra worker variable (repeatable)"
    )
    parser.add_argument(
        "--worker-output-dir", type=Path, help="where each worker's stdout/stderr files go (default: a temporary dir)"
    )
    parser.add_argument("--ready-file", type=Path, help="write {base_url, admin_url, pid, endpoints} here when up")
    parser.add_argument("--log-file", type=Path, help="write the emulator log here instead of stderr")
    parser.add_argument("--log-level", default="WARNING", help="log level (default WARNING)")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process exits")


_ENDPOINT_FLAGS: dict[str, str] = {
    "workers_min": "workers_min", "workers_max": "workers_max", "concurrency": "concurrency",
    "cold_start": "cold_start", "idle_timeout": "idle_timeout", "execution_time": "execution_time",
    "failure_rate": "failure_rate", "seed": "seed", "api_key_env": "api_key_env",
}


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid emulator configuration in {source}:"]
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())) or "(top level)"
        lines.append(f"  {where}: {error.get('msg')}")
    return "\n".join(lines)


def load_config(args: argparse.Namespace) -> EmulatorConfig:
    """The EmulatorConfig from ``--config`` and the flags (raises :class:`loadtest.errors.InvalidInput`)."""
    from pydantic import ValidationError

    from loadtest.emulator_config import EmulatorConfig
    from loadtest.errors import InvalidInput
    from loadtest.scenario.source import load_yaml_file

    data: dict[str, object] = {}  # the YAML as read, overlaid with the flags; the model checks it all
    source = "flags"
    if args.config is not None:
        source = str(args.config)
        # the scenario reader's limits: no alias bomb, depth or size can hang or exhaust the emulator
        loaded = load_yaml_file(args.config, "emulator config")
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise InvalidInput(f"emulator config {args.config} must be a mapping (host, port, endpoints)")
        data = loaded
    if args.host is not None:
        data["host"] = args.host
    if args.port is not None:
        data["port"] = args.port
    endpoints = data.get("endpoints")
    if endpoints is None:
        endpoints = data["endpoints"] = [{}]
    if not isinstance(endpoints, list) or not all(isinstance(e, dict) for e in endpoints):
        raise InvalidInput(f"invalid emulator configuration in {source}: endpoints must be a list of mappings")
    if args.endpoint_id is not None:
        if len(endpoints) != 1:
            raise InvalidInput("--endpoint-id needs a configuration with exactly one endpoint")
        endpoints[0]["id"] = args.endpoint_id
    for flag, key in _ENDPOINT_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            for endpoint in endpoints:
                endpoint[key] = value
    for endpoint in endpoints:
        if args.no_limits:
            endpoint["limits"] = {**endpoint.get("limits", {}), "rate": False, "concurrency": False,
                                  "queue_size": False, "payload": False}
        if args.generator:
            endpoint["generator"] = True
    worker_flags = _worker_flags(args)
    if worker_flags:
        for endpoint in endpoints:
            endpoint["worker"] = {**(endpoint.get("worker") or {}), **worker_flags}
    try:
        config = EmulatorConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(_format_validation_error(exc, source)) from None
    # A worker's relative cwd is relative to the file that names it; given by flags, to the current directory.
    base = args.config.resolve().parent if args.config is not None and not worker_flags else Path.cwd()
    for endpoint_config in config.endpoints:
        if endpoint_config.worker is not None:
            endpoint_config.worker = endpoint_config.worker.resolved(base)
    return config


def _worker_flags(args: argparse.Namespace) -> dict[str, object]:
    """The ``worker`` keys given by ``--worker-*`` flags."""
    import shlex

    from loadtest.errors import InvalidInput

    flags: dict[str, object] = {}
    if args.worker_command is not None:
        try:
            flags["command"] = shlex.split(args.worker_command)
        except ValueError as exc:
            raise InvalidInput(f"--worker-command {args.worker_command!r}: {exc}") from None
    if args.worker_cwd is not None:
        flags["cwd"] = str(args.worker_cwd)
    if args.worker_env:
        env: dict[str, str] = {}
        for item in args.worker_env:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise InvalidInput(f"--worker-env {item!r}: write NAME=VALUE")
            env[name] = value
        flags["env"] = env
    return flags


def _setup_logging(args: argparse.Namespace) -> None:
    import logging

    from loadtest.errors import InvalidInput

    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        raise InvalidInput(f"unknown --log-level {args.log_level!r}; use DEBUG, INFO, WARNING or ERROR")
    handler: logging.Handler
    if args.log_file is not None:
        try:
            handler = logging.FileHandler(args.log_file)
        except OSError as exc:
            raise InvalidInput(f"cannot write --log-file {args.log_file}: {exc.strerror or exc}") from None
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(args: argparse.Namespace) -> int:
    import asyncio

    from loadtest.emulator.server import serve_forever

    _setup_logging(args)
    config = load_config(args)

    def announce(base_url: str) -> None:
        print(base_url, flush=True)

    try:
        asyncio.run(serve_forever(
            config, args.ready_file, announce, args.exit_with_parent, worker_output_dir=args.worker_output_dir
        ))
    except KeyboardInterrupt:
        return exitcodes.OK
    return exitcodes.OK
