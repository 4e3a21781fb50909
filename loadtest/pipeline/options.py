"""What a run was asked to do, as one typed value: the scenario, its overrides, where it writes, who
generates the load and what to do afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from loadtest.scenario.overrides import Overrides
from loadtest.traffic.distributed.protocol import LoadgenOptions


@dataclass(frozen=True)
class RunOptions:
    """``loadtest run``'s request (the CLI parses flags into it; tests build it)."""

    scenario_path: Path
    out_dir: Path
    """Where run directories are created (``OUT_DIR/<scenario>/<time>``; ``latest`` points at the newest)."""
    overrides: Overrides = field(default_factory=Overrides)
    """What the command line replaces in the scenario (``--duration``, ``--users``, ...)."""
    run_dir: Path | None = None
    """Exact run directory to write (default: ``out_dir/<scenario>/<time>``)."""
    force: bool = False
    """Write into a ``run_dir`` that already holds files, replacing the files a run writes there."""
    host: str | None = None
    """Send to this API base URL instead of the scenario's target (no emulator is started)."""
    confirm_probe: bool = False
    loadgens: LoadgenOptions | None = None
    """Run the users on load generators under a master in this process (None: in this process)."""
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
