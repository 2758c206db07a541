"""Benchmarks: ``python -m bench.engine`` (the sync engine alone, docs/benchmarks.md) and
``python -m bench.latency`` (end-to-end edit latency through the app and XMPP)."""
