"""The RunPod queue API as a client speaks it, without Locust or gevent: what the client knows of its target
(``target_facts``), requests and answers on the wire (``wire``), and whether the target answers at all
(``reachability``).

The run's traffic (``loadtest.traffic``, over Locust's sessions) and the limit discovery
(``loadtest.discovery``) both build on it; neither imports the other.
"""
