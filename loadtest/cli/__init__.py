"""The ``loadtest`` command line: one subcommand per job, a module of this package each.

Subcommand modules are imported lazily so that ``loadtest validate`` does not pay for Locust and gevent,
and so that the emulator (asyncio) and the traffic side (gevent) never share a process by accident.
Each module named in :data:`SUBCOMMANDS` provides ``add_arguments(parser)`` and ``main(args) -> int``;
such a module imports only the standard library at its top and everything heavy inside ``main``. An error
of the project (:class:`loadtest.errors.LoadtestError`) raised anywhere below becomes its sentence and its
exit code here, in :func:`main`, and nowhere else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from loadtest import __version__, exitcodes
from loadtest.errors import LoadtestError, explain

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "run": ("loadtest.cli.run", "run a scenario headless and write a report"),
    "ui": ("loadtest.cli.ui", "run a scenario in Locust's web UI"),
    "validate": ("loadtest.cli.validate", "check scenario files without running them"),
    "schema": ("loadtest.cli.schema", "write the scenario JSON Schema"),
    "emulate": ("loadtest.cli.emulate", "start the built-in RunPod serverless emulator"),
    "report": ("loadtest.cli.report", "rebuild the report of a run directory"),
    "compare": ("loadtest.cli.compare", "compare two run directories side by side"),
    "check": ("loadtest.cli.check", "judge a run against thresholds and a baseline"),
    "baseline": ("loadtest.cli.baseline", "save or list baselines"),
    "limits": ("loadtest.cli.limits", "discover the rate and concurrency limits an endpoint enforces"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadtest",
        description="Load tests for RunPod-style serverless queue endpoints, from YAML scenarios.",
    )
    parser.add_argument("--version", action="version", version=f"loadtest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return exitcodes.INVALID_INPUT
    try:
        return int(module.main(args) or exitcodes.OK)
    except LoadtestError as error:  # raised where the problem was found; said here, once
        return explain(error, f"loadtest {args.command}", sys.stderr)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
