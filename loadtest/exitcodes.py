"""Process exit codes, one meaning each, shared by every subcommand (documented in the README); the error
that ends a command carries its code (``loadtest/errors.py``)."""

OK = 0
"""Success: the run finished, or the check passed."""

CHECK_FAILED = 1
"""A threshold was not met or a regression against the baseline was found."""

INVALID_INPUT = 2
"""Bad input: an invalid scenario, a bad flag, a missing file. Nothing was run."""

NOT_JUDGEABLE = 3
"""The run could not be judged: the run directory lacks data the check needs."""

TARGET_ERROR = 4
"""The target could not be started, or stopped answering: the emulator failed to start or died, nothing got
an answer for ``guards.unreachable_after``, a distributed run's load generators never came."""

KEY_REFUSED = 5
"""The target refused the API key (401/403); the run stopped at the first refusal."""

OUTPUT_INCOMPLETE = 6
"""The run directory or its report could not be written completely (disk full, not writable): what could be
written is kept, and the message names what is missing."""

INTERRUPTED = 130
"""Stopped by Ctrl-C / SIGTERM; what was measured is kept and marked as interrupted."""
