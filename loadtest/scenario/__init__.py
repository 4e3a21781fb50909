"""The scenario language: YAML files validated into :class:`~loadtest.scenario.model.Scenario`.

``model`` holds the pydantic models, ``loader`` reads a file (with ``${VAR}`` interpolation) and reports
every mistake at once with ``file:line:column``, ``semantics`` holds whole-scenario checks, ``payload``
builds each job's input from the payload generators. Nothing here imports Locust.
"""
