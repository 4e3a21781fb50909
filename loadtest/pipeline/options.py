"""What a run was asked to do: the scenario, the command-line overrides and what to do afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loadtest.scenario.overrides import Overrides


@dataclass(frozen=True)
class RunOptions:
    """``loadtest run``'s request, as typed values (the CLI parses flags into it; tests build it)."""

    scenario_path: Path
    out_dir: Path
    """Where run directories are created (``OUT_DIR/<scenario>/<time>``; ``latest`` points at the newest)."""
    duration: str | None = None
    users: int | None = None
    rate: str | None = None
    max_in_flight: int | None = None
    seed: int | None = None
    drain: str | None = None
    """How long to follow jobs in flight after the duration (replaces the scenario's ``drain``)."""
    run_dir: Path | None = None
    """Exact run directory to write (default: ``out_dir/<scenario>/<time>``)."""
    force: bool = False
    """Write into a ``run_dir`` that already holds files, replacing the files a run writes there."""
    host: str | None = None
    """Send to this API base URL instead of the scenario's target (no emulator is started)."""
    confirm_probe: bool = False
    progress: bool = True
    output: Literal["text", "quiet", "json"] = "text"
    """``text``: the progress line and the end-of-run summary; ``quiet``: only the result line (and errors);
    ``json``: nothing but ``summary.json`` (with the verdicts) on stdout, for scripts."""
    report: bool = True
    thresholds: bool = True
    """Judge the scenario's thresholds at the end (``--no-thresholds`` turns it off)."""
    check: bool = False
    """Also compare with a baseline (``--check``; ``--baseline NAME`` implies it)."""
    baseline: str | None = None

    @property
    def overrides(self) -> Overrides:
        return Overrides(self.duration, self.users, self.rate, self.max_in_flight, self.seed, self.drain)

    def override_flags(self) -> dict[str, str | int]:
        """The overrides given, by flag name (recorded in summary.json and sent to distributed workers)."""
        given = {"duration": self.duration, "users": self.users, "rate": self.rate,
                 "max_in_flight": self.max_in_flight, "seed": self.seed, "drain": self.drain}
        return {name: value for name, value in given.items() if value is not None}
