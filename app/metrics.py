"""Prometheus metrics. Each app gets its own registry so tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.edits = Counter(
            "collab_edits",
            "Edits sequenced, by how they were placed (exact, fuzzy, duplicate).",
            ["placement"],
            registry=self.registry,
        )
        self.edit_errors = Counter(
            "collab_edit_errors", "Edits refused, by error code.", ["code"], registry=self.registry
        )
        self.edit_seconds = Histogram(
            "collab_edit_seconds",
            "Time from receiving an edit to its commit (rebase, database write).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.connections = Gauge(
            "collab_connections", "Open WebSocket connections.", registry=self.registry
        )
        self.rooms = Gauge(
            "collab_documents_loaded", "Documents held in memory.", registry=self.registry
        )
        self.slow_consumers = Counter(
            "collab_slow_consumer_disconnects",
            "Connections closed because they did not keep up.",
            registry=self.registry,
        )
        self.requests = Histogram(
            "collab_http_request_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
