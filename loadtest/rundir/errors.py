"""What goes wrong reading a run directory."""

from __future__ import annotations


class RunDirectoryError(Exception):
    """A run directory that is missing, unreadable or of a format this version does not read; the message
    names the file (and the key) and says what is wrong (exit 2 where a command meets it)."""
