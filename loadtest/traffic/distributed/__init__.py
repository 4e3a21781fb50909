"""Distributed runs on Locust's master/worker protocol: the master drives, workers send, one run directory.

How the pieces talk (all over Locust's own ZeroMQ connection, so only the master's port must be open):

* A worker connects with nothing but the master's address, asks for the run (``loadtest:hello``) and gets
  the scenario file's text and the command-line overrides (``loadtest:scenario``); it builds the same
  user classes the master dispatches. No file is shared: payload files a scenario names are read on the
  worker from the master's scenario directory when it has one at that path, else from its working
  directory.
* Every Locust stats report a worker sends (``report_to_master``, every few seconds) carries its recorder's
  ``drain()``; the master ``merge()``s it. When the worker's users have stopped it records its unfinished
  jobs as in flight and sends the rest (``loadtest:final``) before Locust's ``client_stopped``; ZeroMQ keeps
  one connection's messages in order, so the master has every worker's measurements when its test stops.
  Merging is exact, so the run directory holds the totals a single process would have produced.
* The ``respect`` limiter budget is divided among the workers that are running: the master sends each its
  share (``loadtest:share``, ``1 / workers``) whenever one joins or leaves.
* A worker that stops sending heartbeats (killed, machine gone) or quits before its final report is *lost*:
  the master notes when it was last heard from, how much of the run it missed and that its measurements
  since its last report are missing; ``summary.json`` lists it under ``run.settings.distributed``. One lost
  for heartbeats that is heard from again only *stalled*: it is taken back and nothing it measured is lost.

Modules: ``protocol`` (messages, timings, the run handed to a worker), ``master`` (the coordinator),
``worker`` (the agent and ``loadtest run --worker``), ``drive`` (the master's run loop: what differs from
a single-process run), ``hooks`` (the same machinery under the locustfile, for the web UI and ``locust -f``).
"""
