"""Our server next to two reference Yjs servers, driven by the same client processes.

    make bench-peers                  # the full run; writes docs/benchmarks-peers.{md,json}
    make bench-peers ARGS=--quick     # a check of the harness, about 2 minutes

Layout (the orchestrator runs in the project's venv, everything marked *env* in the peers'
own venv, ``bench/peers/.env/``, which :mod:`bench.peers.env` builds):

- ``main.py``: the command line, the plan of cells, interleaving and the probe for the
  largest K; ``cells.py``: one server, one scenario: start, drive, measure, stop;
  ``servers.py``: the four servers as processes; ``procstat.py``: CPU and memory from /proc;
  ``analysis.py``: latencies and the correctness checks; ``report.py``: tables and files,
  around ``template.md`` (``--render JSON`` writes the Markdown again from saved results).
- ``worker.py`` (*env*): a client process; ``yclient.py`` (*env*) speaks the y-websocket
  protocol with pycrdt, ``oclient.py`` (*env*) drives our ``WSClient`` and ``SyncClient``;
  ``pycrdt_app.py`` (*env*) is the pycrdt-websocket server.
- ``plan.py`` and ``stats.py`` are shared and need only the standard library.
"""
