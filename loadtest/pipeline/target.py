"""Where a run's traffic goes: the built-in emulator (started for the run and watched) or a given URL.

The emulator runs in its own process (asyncio); the pipeline starts and stops it through
``loadtest.emulator.process`` and speaks HTTP to it, never importing its server code. While the run
goes on, :meth:`Target.death` says whether the emulator has died, so the run stops within a tick
instead of sending into a closed port until its end.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import TracebackType

from loadtest.emulator.process import EmulatorProcess
from loadtest.errors import TargetFailure
from loadtest.scenario.model import EmulatorTarget, EndpointTarget, Scenario


class TargetStartError(TargetFailure):
    """The emulator of a run could not be started; the message says why and where its log is (exit 4)."""


class Target:
    """The base URL requests are built on (``{base}/{endpoint_id}/{operation}``) and, for the built-in
    emulator, the process serving it. A context manager: the emulator stops when the block ends."""

    def __init__(self, base_url: str, emulator: EmulatorProcess | None = None, kind: str = "host") -> None:
        self.base_url = base_url.rstrip("/")
        self.emulator = emulator
        self.kind = kind
        """``emulator``, ``endpoint`` (a real endpoint's base URL) or ``host`` (a URL given with --host)."""
        self.died_at: float | None = None
        """When the emulator was first seen dead (Unix seconds)."""

    @classmethod
    def for_scenario(cls, scenario: Scenario, *, host: str | None, log_path: Path | None) -> Target:
        """``host`` when given; else a real endpoint's base URL, or a freshly started emulator serving the
        scenario's ``target.emulator`` endpoint on a free loopback port (its log in ``log_path``)."""
        if host:
            return cls(host, kind="host")
        target = scenario.target
        if isinstance(target, EndpointTarget):
            return cls(target.base_url, kind="endpoint")
        return cls.start_emulator(target, log_path=log_path)

    @classmethod
    def start_emulator(cls, target: EmulatorTarget, *, log_path: Path | None) -> Target:
        """The emulator serving ``target``'s endpoint on a free loopback port; raises :class:`TargetStartError`."""
        process = EmulatorProcess(target.emulator, host="127.0.0.1", port=0, log_file=log_path)
        try:
            process.start()
        except Exception as exc:  # the emulator reports why it could not start
            process.stop()
            log = f" (log: {log_path})" if log_path is not None else ""
            raise TargetStartError(f"the emulator did not start: {exc}{log}") from exc
        return cls(process.base_url, process, kind="emulator")

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    def death(self) -> str | None:
        """How the emulator ended ("killed by signal 9, SIGKILL", "exit code 3"), or None while it serves
        (and always for a target this process did not start)."""
        if self.emulator is None:
            return None
        code = self.emulator.exit_code()
        if code is None:
            return None
        if self.died_at is None:
            self.died_at = time.time()
        return describe_exit(code)

    def ground_truth(self) -> dict[str, object] | None:
        """The emulator's own figures for the run; None for a real endpoint or a dead emulator."""
        if self.emulator is None or self.death() is not None:
            return None
        try:
            return self.emulator.ground_truth()
        except Exception:  # the run's own measurements stand without it
            return None

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def describe_exit(code: int) -> str:
    """``-9`` -> "killed by signal 9, SIGKILL"; ``3`` -> "exit code 3"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            return f"killed by signal {-code}"
        return f"killed by signal {-code}, {name}"
    return f"exit code {code}"
