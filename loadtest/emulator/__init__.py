"""The built-in RunPod serverless emulator.

This package's ``__init__`` stays free of aiohttp imports: the scenario model imports
:mod:`loadtest.emulator_config` and must not pull the server in. The server runs in its own process.
"""
