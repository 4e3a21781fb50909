"""The flags several subcommands share, declared once, and their checks (standard library only: the CLI
imports it before anything heavy).

* where a run writes (``--out-dir``, ``--run-dir``, ``--force``): ``run``, ``ui``, ``limits``;
* the scenario's overrides (``--duration``, ``--users``, ...): ``run``;
* load generators, the Locust processes that send the traffic: ``--generators N`` here (``run``, ``ui``),
  or a master (``--master --expect-generators N``) and generators started elsewhere (``--generator
  --master-host HOST``): ``run``. The words before the load generators had their name (``--processes``,
  ``--worker``, ``--expect-workers``, ``--expect-workers-max-wait``) keep working, unlisted; a message
  names a flag as it was typed;
* argparse types for a positive number, rate or duration.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

DEFAULT_OUT_DIR = "reports"
"""Where run directories go unless ``--out-dir`` says otherwise."""
DEFAULT_MASTER_PORT = 5557
"""Locust's own default master port; the only port load generators need to reach."""
SPELLED = "_spelled"
"""Namespace attribute: each flag given, by destination, as it was typed (a new name or an old alias)."""


class _Spelled(argparse.Action):
    """``store`` (or, with ``nargs=0``, ``store_true``) that also notes the spelling used."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True if self.nargs == 0 else values)
        spelled = dict(getattr(namespace, SPELLED, {}))
        spelled[self.dest] = option_string or self.dest
        setattr(namespace, SPELLED, spelled)


def add_renamed(group: argparse._ActionsContainer, name: str, old: str, *, help: str, flag: bool = False,
                type: Callable[[str], object] = str, metavar: str | None = None,
                default: object = None) -> None:
    """``name`` with its help, and ``old`` (its spelling before the rename) accepted, unlisted."""
    dest = name.lstrip("-").replace("-", "_")
    nargs = 0 if flag else None
    group.add_argument(name, action=_Spelled, dest=dest, nargs=nargs, type=type, metavar=metavar,
                       default=default, help=help)
    group.add_argument(old, action=_Spelled, dest=dest, nargs=nargs, type=type, metavar=metavar,
                       default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def spelled(args: argparse.Namespace, dest: str, default: str) -> str:
    """The flag for ``dest`` as the user typed it (``default`` when not given)."""
    return str(getattr(args, SPELLED, {}).get(dest, default))


# ---------------------------------------------------------------------------------------- argparse types


def positive(kind: type[float] | type[int], what: str) -> Callable[[str], float | int]:
    """An argparse type for a number greater than 0."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: expected a number, found {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{what}: must be greater than 0, found {text}")
        return value

    return parse


def positive_quantity(kind: str, examples: str) -> Callable[[str], float]:
    """An argparse type for a ``rate`` or a ``duration`` with its unit, greater than 0."""

    def parse(text: str) -> float:
        from loadtest.units import UnitError, parse_duration, parse_rate

        try:
            value = (parse_rate if kind == "rate" else parse_duration)(text)
        except (UnitError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"expected a {kind} such as {examples}: {exc}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"a {kind} must be greater than 0, found {text}")
        return value

    return parse


# ------------------------------------------------------------------------------------------ shared groups


def add_output_arguments(parser: argparse.ArgumentParser, *, what: str, layout: str) -> None:
    """``--out-dir``, ``--run-dir`` and ``--force``: where ``what`` (run directories...) are written."""
    parser.add_argument("--out-dir", default=DEFAULT_OUT_DIR, metavar="DIR",
                        help=f"where {what} are created (default: {DEFAULT_OUT_DIR}/)")
    parser.add_argument("--run-dir", metavar="DIR",
                        help=f"exact directory to write (default: {layout}); refused when it already holds files, "
                             "unless --force")
    parser.add_argument("--force", action="store_true",
                        help="with --run-dir: replace the files loadtest wrote there before (other files stay)")


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """The scenario values a command line may replace (``loadtest.scenario.overrides``)."""
    parser.add_argument("--duration", metavar="TIME", help="run length, e.g. 30s or 5m (replaces the scenario's)")
    parser.add_argument("--users", type=int, metavar="N", help="closed model: hold N users (replaces the stages)")
    parser.add_argument("--rate", metavar="RATE", help="open model: constant arrival rate, e.g. 50/s (replaces stages)")
    parser.add_argument("--max-in-flight", type=int, metavar="N", help="open model: flows running at once")
    parser.add_argument("--seed", type=int, help="replace the scenario's seed")
    parser.add_argument("--drain", metavar="TIME",
                        help="after the duration, follow jobs in flight this long (no new ones); 0 stops at once "
                             "(replaces the scenario's drain, default 30s)")


OVERRIDE_FLAGS: tuple[str, ...] = ("duration", "users", "rate", "max_in_flight", "seed", "drain")
"""The destinations of :func:`add_override_arguments`, the fields of ``Overrides``."""


def override_values(args: argparse.Namespace) -> dict[str, str | int]:
    """The overrides given on the command line, by field name (for ``Overrides(**...)``)."""
    return {name: getattr(args, name) for name in OVERRIDE_FLAGS if getattr(args, name, None) is not None}


def add_generators_argument(group: argparse._ActionsContainer, *, help_text: str) -> None:
    """``--generators N`` (once ``--processes N``): load generators on this machine."""
    add_renamed(group, "--generators", "--processes", type=int, metavar="N", help=help_text)


def generators_problem(args: argparse.Namespace) -> str | None:
    """``--generators 0`` and the like, named as typed; None when fine or not given."""
    count = getattr(args, "generators", None)
    if count is not None and count < 1:
        return f"{spelled(args, 'generators', '--generators')}: must be at least 1, got {count}"
    return None


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """``loadtest run``'s load-generator flags: local generators, or a master and generators elsewhere.

    ``--generators N``: a master here plus N load generators on this machine (loopback only).
    ``--master --expect-generators N [--master-bind-host H] [--master-bind-port P]``: a master that waits for
    N load generators started elsewhere with ``--generator --master-host HOST [--master-port P]`` (no
    scenario argument: the generator gets it from the master). Only the master writes the run directory.
    """
    group = parser.add_argument_group("load generators (a Locust master and its load generators)")
    add_generators_argument(group, help_text="run the users in N load-generator processes on this machine, "
                                             "under a master in this process")
    group.add_argument("--master", action="store_true",
                       help="be the master of a distributed run; load generators connect with --generator")
    add_renamed(group, "--expect-generators", "--expect-workers", type=int, metavar="N",
                help="with --master: start once N load generators have connected (default 1)")
    add_renamed(group, "--expect-generators-max-wait", "--expect-workers-max-wait", type=float, default=300.0,
                metavar="SECONDS", help="with --master: give up when the load generators have not all connected "
                                        "after this long (default 300; 0 waits as long as it takes)")
    group.add_argument("--master-bind-host", default="*", metavar="HOST",
                       help="with --master: interface to accept load generators on (default: all)")
    group.add_argument("--master-bind-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT",
                       help=f"with --master: port to accept load generators on (default {DEFAULT_MASTER_PORT})")
    add_renamed(group, "--generator", "--worker", flag=True, default=False,
                help="be a load generator: take the scenario and orders from the master at --master-host")
    group.add_argument("--master-host", metavar="HOST", help="with --generator: the master's address")
    group.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT",
                       help=f"with --generator: the master's port (default {DEFAULT_MASTER_PORT})")


def distributed_requested(args: argparse.Namespace) -> bool:
    """True when any load-generator flag was given (a stray one is then reported, not ignored)."""
    return bool(
        args.generators is not None or args.master or args.generator or args.expect_generators is not None
        or args.master_host or args.master_port != DEFAULT_MASTER_PORT or args.master_bind_port != DEFAULT_MASTER_PORT
        or args.master_bind_host != "*"
    )


def usage_problems(args: argparse.Namespace) -> list[str]:
    """Every misuse of the load-generator flags, each naming the flag as typed."""
    generators = spelled(args, "generators", "--generators")
    generator = spelled(args, "generator", "--generator")
    expect = spelled(args, "expect_generators", "--expect-generators")
    max_wait = spelled(args, "expect_generators_max_wait", "--expect-generators-max-wait")
    problems = []
    modes = [name for name, on in ((generators, args.generators is not None), ("--master", args.master),
                                   (generator, args.generator)) if on]
    if len(modes) > 1:
        problems.append(f"{' and '.join(modes)}: choose one")
    if args.generator:
        if args.scenario:
            problems.append(f"{generator}: takes no SCENARIO (the master sends it)")
        if not args.master_host:
            problems.append(f"{generator}: needs --master-host HOST")
    elif not args.scenario:
        problems.append("SCENARIO: a scenario file is required")
    problem = generators_problem(args)
    if problem is not None:
        problems.append(problem)
    if args.expect_generators is not None:
        if not args.master:
            problems.append(f"{expect}: only with --master")
        elif args.expect_generators < 1:
            problems.append(f"{expect}: must be at least 1, got {args.expect_generators}")
    if args.expect_generators_max_wait < 0:
        problems.append(f"{max_wait}: must be 0 or more, got {args.expect_generators_max_wait:g}")
    if args.master_host and not args.generator:
        problems.append(f"--master-host: only with {generator}")
    if not args.generator and args.master_port != DEFAULT_MASTER_PORT:
        problems.append(f"--master-port: only with {generator} (the master's own port is --master-bind-port)")
    if not args.master and args.master_bind_host != "*":
        problems.append("--master-bind-host: only with --master")
    if not args.master and args.master_bind_port != DEFAULT_MASTER_PORT:
        problems.append("--master-bind-port: only with --master")
    for port_flag in ("master_port", "master_bind_port"):
        port = getattr(args, port_flag)
        if not 1 <= port <= 65535:
            problems.append(f"--{port_flag.replace('_', '-')}: not a port number: {port}")
    return problems

