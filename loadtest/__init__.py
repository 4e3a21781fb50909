"""loadtest: declarative load testing for RunPod-style serverless queue endpoints."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loadtest")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
