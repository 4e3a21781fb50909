"""The run pipeline: one owner for a run from the scenario file to the exit code, above the stages.

``run.py`` is ``loadtest run`` top to bottom (prepare, target, drive, conclude); ``locust_session.py``
attaches the same steps to a session Locust drives itself (web UI, plain ``locust -f``). The stages it
calls: ``scenario`` (prepare), the emulator's launcher (``target``), ``traffic`` (drive Locust),
``rundir`` (write the run directory, read it back), ``check`` (judge), ``report`` (render).
"""
