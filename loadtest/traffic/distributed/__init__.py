"""Distributed runs on Locust's master/worker protocol: the master drives, load generators send, one run directory.

A *load generator* is a Locust process that runs users (Locust calls it a worker; in this project a worker is
only ever a RunPod worker). How the pieces talk (all over Locust's own ZeroMQ connection, so only the
master's port must be open):

* A load generator connects with nothing but the master's address, asks for the run (``loadtest:hello``)
  and gets the scenario file's text and the command-line overrides (``loadtest:scenario``); it prepares them
  as every run is prepared and builds the same user classes the master dispatches. No file is shared:
  payload files a scenario names are read from the master's scenario directory when this machine has one at
  that path, else from the working directory.
* Every Locust stats report a load generator sends (``report_to_master``, every few seconds) carries its
  recorder's ``drain()``; the master ``merge()``s it. When its users have stopped it records its unfinished
  jobs as in flight and sends the rest (``loadtest:final``) before Locust's ``client_stopped``; ZeroMQ keeps
  one connection's messages in order, so the master has every measurement when its test stops. Merging is
  exact, so the run directory holds the totals a single process would have produced.
* The ``respect`` limiter budget is divided among the load generators that are running: the master sends
  each its share (``loadtest:share``, ``1 / generators``) whenever one joins or leaves.
* One that stops sending heartbeats (killed, machine gone) or quits before its final report is *lost*: the
  master notes when it was last heard from, how much of the run it missed and that its measurements since
  its last report are missing; ``summary.json`` lists it under ``run.settings.distributed``. One lost for
  heartbeats that is heard from again only *stalled*: it is taken back and nothing it measured is lost.

Modules: ``protocol`` (messages, timings, the part of the run a load generator is handed, how a master gets
its load generators), ``master`` (the coordinator), ``loadgen`` (the load generator's agent and ``loadtest
run --generator``), ``drive`` (the master's run loop and its factory: what differs from a single-process
run), ``hooks`` (the same machinery under the locustfile, for the web UI and ``locust -f``).
"""
