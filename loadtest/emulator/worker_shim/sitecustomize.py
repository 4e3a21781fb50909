"""loadtest's guard for real worker processes: the runpod SDK never reads the developer's RunPod key.

The emulator puts this directory first on the worker's ``PYTHONPATH``, so Python imports this module at
start-up (``site`` imports ``sitecustomize``). It changes one thing: when the SDK's credentials module is
imported, its ``CREDENTIAL_FILE`` (``~/.runpod/config.toml``, whose key the SDK would otherwise put in the
``Authorization`` header of every job request) is pointed at a path that does not exist, named by
``LOADTEST_RUNPOD_CREDENTIALS_FILE``. The SDK then uses the emulator's per-run ``RUNPOD_AI_API_KEY``.
``HOME`` is left alone (model caches and other tools' settings live there). The user's own
``sitecustomize``, if any, still runs: it is loaded after this one.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_TARGET = "runpod.cli.groups.config.functions"
_PATH = os.environ.get("LOADTEST_RUNPOD_CREDENTIALS_FILE")
_HERE = os.path.dirname(os.path.abspath(__file__))


class _CredentialsRedirect(importlib.abc.MetaPathFinder):
    """Finds the SDK's credentials module as usual and redirects its file once it has loaded."""

    def find_spec(self, name, path, target=None):
        if name != _TARGET or _PATH is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        load = loader.exec_module

        def exec_module(module):
            load(module)
            module.CREDENTIAL_FILE = _PATH

        loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _CredentialsRedirect())


def _chain():
    """Run the next ``sitecustomize`` on the path (the one this module shadows), as Python would have."""
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # as site.py does: report and go on
        print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(exc).__name__}: {exc}", file=sys.stderr)


_chain()
