"""Prometheus metrics, fed by an extension. Each app gets its own registry so tests can build
many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.core.extensions import Committed, Extension, Settled


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
        self.batch_size = Histogram(
            "collab_commit_batch_revisions",
            "Revisions committed together in one transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
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
        self.forwarded = Counter(
            "collab_edits_forwarded",
            "Edits sent to the instance that sequences their document (app/core/routing.py).",
            registry=self.registry,
        )
        self.forward_seconds = Histogram(
            "collab_forward_seconds",
            "Forwarded edits: time from sending one to the sequencing instance until its answer"
            " (until=answered: the round trip, its sequencing and commit there) and until its"
            " revision was folded in here (until=folded: what its author waits for).",
            ["until"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.requests = Histogram(
            "collab_http_request_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )

    def forward_answered(self, seconds: float) -> None:
        self.forwarded.inc()
        self.forward_seconds.labels("answered").observe(seconds)

    def forward_folded(self, seconds: float) -> None:
        self.forward_seconds.labels("folded").observe(seconds)


class MetricsExtension(Extension):
    """Counts what the rooms report, through the same hooks as every other extension."""

    priority = 0  # first to hear: its numbers include what later extensions refuse

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.loaded = 0

    async def on_load(self, doc_id: str) -> None:
        self.loaded += 1
        self.metrics.rooms.set(self.loaded)

    async def on_unload(self, doc_id: str) -> None:
        self.loaded = max(0, self.loaded - 1)
        self.metrics.rooms.set(self.loaded)

    async def after_submit(self, settled: Settled) -> None:
        self.metrics.edits.labels(settled.placement.value).inc()
        self.metrics.edit_seconds.observe(settled.seconds)

    async def after_commit(self, committed: Committed) -> None:
        self.metrics.batch_size.observe(len(committed.revisions))

    async def edit_refused(self, doc_id: str, code: str) -> None:
        self.metrics.edit_errors.labels(code).inc()

    async def member_dropped(self, doc_id: str, reason: str) -> None:
        self.metrics.slow_consumers.inc()
