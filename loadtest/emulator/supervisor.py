"""Child processes that cannot outlive the emulator: the process groups of real workers.

A worker is more than one process: the runpod SDK starts a ping process beside the handler, and when the
handler's process dies abruptly that ping process is orphaned and keeps running. So, in layers:

1. every worker starts in its own session, hence its own process group, and is always signalled as a
   group (SIGTERM, then SIGKILL);
2. ``PR_SET_PDEATHSIG``: a worker's main process gets SIGKILL the moment the emulator dies;
3. a watchdog process (:mod:`loadtest.emulator.watchdog`, in its own session) holds the other end of a
   pipe and SIGKILLs every registered group when the emulator is gone, children included;
4. the emulator is a child subreaper (``PR_SET_CHILD_SUBREAPER``): orphans of a worker (the ping process
   after a crash) become the emulator's children and are reaped here, not left as zombies under an init
   that may never reap them.

2 and 4 are Linux facilities (skipped elsewhere; 1 and 3 still hold). Nothing here is per endpoint: one
supervisor per emulator process, shared by its pools.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
WATCHDOG_SCRIPT = Path(__file__).with_name("watchdog.py")


class ChildSupervisor:
    """Starts worker process groups, signals and reaps them, and keeps the watchdog informed."""

    def __init__(self) -> None:
        self._prctl: Callable[..., int] | None = None
        if sys.platform.startswith("linux"):
            try:
                self._prctl = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):  # no prctl: the watchdog alone guards against orphans
                self._prctl = None
        self._subreaper = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._groups: set[int] = set()

    # --- starting -----------------------------------------------------------------------------------
    def spawn(
        self, argv: Sequence[str], *, cwd: str, env: Mapping[str, str], stdout: IO[bytes], stderr: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` as the leader of a new session; register its group with the watchdog.

        Raises ``OSError`` when the program cannot be executed."""
        self._become_subreaper()
        self._start_watchdog()
        parent = os.getpid()
        prctl = self._prctl

        def in_child() -> None:  # runs between fork and exec: no locks, no allocation-heavy work
            if prctl is not None:
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the emulator died before the death signal was armed
                os.kill(os.getpid(), signal.SIGKILL)

        process = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            start_new_session=True, preexec_fn=in_child, close_fds=True,
        )
        self._groups.add(process.pid)
        self._tell_watchdog(f"+{process.pid}")
        return process

    def _become_subreaper(self) -> None:
        if self._subreaper or self._prctl is None:
            return
        self._subreaper = True
        if self._prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            log.warning("could not become a child subreaper (errno %d); orphans go to init", ctypes.get_errno())

    def _start_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.poll() is None:
            return
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WATCHDOG_SCRIPT)], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            log.error("could not start the worker watchdog (%s): workers rely on PR_SET_PDEATHSIG alone", exc)
            self._watchdog = None
            return
        for pgid in self._groups:
            self._tell_watchdog(f"+{pgid}")

    def _tell_watchdog(self, line: str) -> None:
        watchdog = self._watchdog
        if watchdog is None or watchdog.stdin is None:
            return
        try:
            watchdog.stdin.write(line.encode() + b"\n")
            watchdog.stdin.flush()
        except OSError:
            log.error("the worker watchdog is gone: workers rely on PR_SET_PDEATHSIG alone")
            self._watchdog = None

    # --- stopping and reaping -----------------------------------------------------------------------
    @staticmethod
    def signal_group(pgid: int, sig: int) -> bool:
        """Send ``sig`` to every process of the group; False when none is left."""
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:  # a member changed its credentials; the rest got nothing either
            log.warning("no permission to signal worker process group %d", pgid)
            return True
        return True

    def reap_group(self, pgid: int) -> bool:
        """Reap the group's exited orphans (call only once its leader was reaped through its ``Popen``);
        True when no process of the group is left, after which the group is forgotten."""
        while True:
            try:
                info = os.waitid(os.P_PGID, pgid, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                break
            if info is None:
                break
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            self.forget(pgid)
            return True
        except PermissionError:
            return False
        return False

    def forget(self, pgid: int) -> None:
        if pgid in self._groups:
            self._groups.discard(pgid)
            self._tell_watchdog(f"-{pgid}")

    @property
    def groups(self) -> frozenset[int]:
        return frozenset(self._groups)

    def close(self) -> None:
        """No group left to guard: let the watchdog end (it kills whatever is still registered)."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        try:
            if watchdog.stdin is not None:
                watchdog.stdin.close()
            watchdog.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            watchdog.kill()
            watchdog.wait()


_SUPERVISOR: ChildSupervisor | None = None


def supervisor() -> ChildSupervisor:
    """The emulator process's one supervisor."""
    global _SUPERVISOR
    if _SUPERVISOR is None:
        _SUPERVISOR = ChildSupervisor()
    return _SUPERVISOR


def shutdown() -> None:
    """End the watchdog, if one was started (the emulator is stopping and its workers are gone)."""
    if _SUPERVISOR is not None:
        _SUPERVISOR.close()
