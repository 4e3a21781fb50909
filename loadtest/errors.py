"""Every error loadtest shows a person, in one tree: each carries its exit code (``loadtest/exitcodes.py``).

An error is raised where the problem is found, with a sentence that names what is wrong and where; it is
turned into that sentence and its exit code once, by :func:`explain` (called by ``loadtest.cli.main`` and by
the locustfile, the two entry points), never shown as a traceback::

    LoadtestError                       str(error): the sentence; .exit_code; .details(), .sentences()
    ├── InvalidInput                 2  bad input, found before anything was sent
    │   ├── UsageError                  flags misused, one sentence per misuse (cli)
    │   │   └── OverrideError           --duration, --users... that do not fit (scenario.overrides)
    │   ├── ScenarioError               a scenario: every issue at file:line:col (scenario.errors)
    │   ├── YamlFileError               another YAML file: an emulator config... (scenario.source)
    │   ├── UnitError                   a quantity such as 250ms or 50/s (units)
    │   ├── MetricRefError              a name that names no figure (metrics.catalog)
    │   ├── CriteriaError               thresholds or baseline settings (check.criteria)
    │   ├── CheckInputError             what `loadtest check` was given (check.judge)
    │   ├── BaselineError               a baseline that cannot be saved or read (check.baselines)
    │   ├── RunDirectoryError           a run directory that cannot be read (rundir.errors)
    │   ├── LimitsFileError             a discovery's limits.json (discovered_limits)
    │   ├── OutputError                 where a run would write (pipeline.output)
    │   ├── TargetError                 the target as configured: a key variable unset (traffic.runtime)
    │   ├── ConfigurationError          the emulator's configuration (emulator.endpoint)
    │   └── WorkerSetupError            a RunPod worker command that cannot start (emulator.worker_env)
    ├── NotJudgeable                 3  a run that cannot be judged (today said through verdicts)
    ├── TargetFailure                4  the target could not be started or stopped answering
    │   ├── TargetStartError            a run's emulator did not start (pipeline.target)
    │   ├── EmulatorStartError          the emulator process did not come up (emulator.process)
    │   ├── WorkerStartError            a RunPod worker of the emulator did not start (emulator.workers)
    │   └── LoadgensMissing             a distributed run's load generators did not come
    │                                   (traffic.distributed.protocol)
    ├── KeyRefused                   5  the target refused the API key
    ├── OutputIncomplete             6  files of the run could not be written
    └── DiscoveryAborted    4, 5 or 130  a limit discovery stopped: target gone, key refused,
                                        interrupted (discovery.prober)

A run that fails *during* its traffic (the emulator died, the key was refused) is not raised: the pipeline
records the failure (a :class:`TargetFailure` or :class:`KeyRefused`), writes what was measured, and the
failure's exit code becomes the run's. Exceptions that only steer control flow inside a module stay private
there and never reach a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from loadtest import exitcodes


class LoadtestError(Exception):
    """An error a person reads: ``str(error)`` is one sentence saying what is wrong and where."""

    exit_code: int = exitcodes.INVALID_INPUT
    """The process's exit code when this error ends a command."""

    def details(self) -> list[str]:
        """Lines printed as they are, before the sentences (a scenario's issues, each at file:line:col)."""
        return []

    def sentences(self) -> list[str]:
        """The sentences printed after the command's name, one line each."""
        return [str(self)]

    @property
    def sentence(self) -> str:
        """Everything in one line (for a log line, a message to a master, a run's recorded failure)."""
        return "; ".join([*self.details(), *self.sentences()])


class InvalidInput(LoadtestError):
    """Bad input (a scenario, a flag, a file): found before anything was sent; exit 2."""

    exit_code: int = exitcodes.INVALID_INPUT


class UsageError(InvalidInput):
    """Flags that were misused: every misuse found, one sentence each, naming the flag."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))

    def sentences(self) -> list[str]:
        return list(self.problems)


class NotJudgeable(LoadtestError):
    """The run cannot be judged: its directory lacks what the judgement needs; exit 3."""

    exit_code: int = exitcodes.NOT_JUDGEABLE


class TargetFailure(LoadtestError):
    """The target could not be started, or stopped answering; exit 4."""

    exit_code: int = exitcodes.TARGET_ERROR


class KeyRefused(LoadtestError):
    """The target refused the API key (401/403); exit 5."""

    exit_code: int = exitcodes.KEY_REFUSED


class OutputIncomplete(LoadtestError):
    """Files of the run could not be written (disk full, not writable); what could be written is kept; exit 6."""

    exit_code: int = exitcodes.OUTPUT_INCOMPLETE


def explain(error: LoadtestError, command: str, err: TextIO) -> int:
    """Print ``error`` as a person reads it (its details, then ``COMMAND: sentence`` per sentence) on ``err``;
    returns its exit code. The one place an error becomes words and an exit code."""
    for line in error.details():
        print(line, file=err)
    for sentence in error.sentences():
        print(f"{command}: {sentence}" if command else sentence, file=err)
    return error.exit_code
