"""Secrets kept out of every file a run writes: secret-looking keys' values replaced, and the values of
secret-looking environment variables blanked out wherever they appear in text.

Run directories are shared (CI artefacts, baselines committed to git), so whatever goes into one from the
scenario, the settings or the target's own words passes through :func:`redact` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

REDACTED = "<redacted>"
"""What stands in place of a secret."""

_SECRET_KEY = re.compile(
    r"^(.*[_-])?(api[_-]?key|apikey|token|secret|password|passwd|authorization|credentials?)$", re.IGNORECASE
)
"""Keys whose values are secrets (``api_key``, ``hf_token``, ``Authorization``), but not ``max_tokens``."""
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_SHORTEST_SECRET = 8
"""Environment values shorter than this are not blanked out (``1`` or ``true`` would blank half a file)."""


def secret_values() -> list[str]:
    """Values of secret-looking environment variables, longest first (so a value containing another is
    replaced whole)."""
    return sorted({v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= _SHORTEST_SECRET},
                  key=len, reverse=True)


def redact(value: object, secrets: list[str] | None = None) -> object:
    """A copy with secret-looking keys' values replaced and any secret environment value blanked out."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v, secrets))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    return value

