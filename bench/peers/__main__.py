"""``python -m bench.peers``: see :mod:`bench.peers.main`."""

from bench.peers.main import main

main()
