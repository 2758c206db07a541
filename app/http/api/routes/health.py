"""Health, readiness and metrics.

``/health`` says how each dependency is doing, precisely enough to act on; ``/ready`` says
only whether this instance should be sent traffic now (what a load balancer asks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app.core.bus import RevisionBus
from app.core.store import DocumentStore
from app.http.api.deps import BusDep, MetricsDep, RoomsDep, SettingsDep, StoreDep

router = APIRouter(tags=["health"])

# A database that does not answer a ping in this long is as good as down for editing.
PING_TIMEOUT_SECONDS = 5.0


@runtime_checkable
class ReportingBus(Protocol):
    """A bus that can say more than ok/down (the XMPP bridge): its state word, backlog..."""

    def report(self) -> Mapping[str, str | int | float]: ...


class DependencyHealth(BaseModel):
    status: Literal["ok", "down", "disabled"]
    # The precise state: for xmpp connected, publishing (connected, with a backlog),
    # connecting, reconnecting or stopped; for the database ok or down.
    state: str = ""
    detail: str = ""
    backlog: int | None = None  # xmpp: revisions committed here and not yet published
    server: str | None = None  # xmpp: the managed Prosody's state (running, restarting...)
    server_restarts: int | None = None  # xmpp: times the app has restarted its Prosody
    dropped_events: int | None = None  # xmpp: forged or unexpected events ignored
    # xmpp: open documents whose nodes could not be made or subscribed to: nothing committed
    # here reaches other instances or bots for them (the detail names one, and why)
    documents_without_fanout: int | None = None


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    dependencies: dict[str, DependencyHealth]
    documents_loaded: int


class ReadinessPublic(BaseModel):
    ready: bool
    reasons: list[str]


async def _database(store: DocumentStore) -> DependencyHealth:
    try:
        await asyncio.wait_for(store.ping(), PING_TIMEOUT_SECONDS)
    except TimeoutError:
        return DependencyHealth(
            status="down", state="down", detail=f"no answer in {PING_TIMEOUT_SECONDS:g} s"
        )
    except Exception as exc:  # any failure means "down", with the reason shown
        return DependencyHealth(status="down", state="down", detail=str(exc)[:200])
    return DependencyHealth(status="ok", state="ok")


def _xmpp(bus: RevisionBus) -> DependencyHealth:
    status, detail = bus.health()
    health = DependencyHealth(status=status, state=status, detail=detail)
    if isinstance(bus, ReportingBus):
        report = bus.report()
        backlog = int(report.get("backlog", 0))
        state = str(report.get("state", status))
        health.state = "publishing" if state == "connected" and backlog else state
        health.backlog = backlog
        health.server = str(report.get("server", "")) or None
        health.server_restarts = int(report.get("server_restarts", 0))
        health.dropped_events = int(report.get("dropped_events", 0))
        health.documents_without_fanout = int(report.get("documents_without_fanout", 0))
    return health


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database is down"}},
)
async def read_health(store: StoreDep, rooms: RoomsDep, bus: BusDep) -> JSONResponse:
    """Each dependency's state: 503 when the database is down; "degraded" (still 200) when
    only XMPP is, since editing goes on without it."""
    dependencies = {"database": await _database(store), "xmpp": _xmpp(bus)}
    healthy = all(d.status != "down" for d in dependencies.values()) and not (
        dependencies["xmpp"].documents_without_fanout
    )
    body = HealthPublic(
        status="ok" if healthy else "degraded",
        dependencies=dependencies,
        documents_loaded=len(rooms.rooms),
    )
    database_up = dependencies["database"].status == "ok"
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if database_up else 503)


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "Send this instance no traffic"}},
)
async def read_ready(store: StoreDep, bus: BusDep, settings: SettingsDep) -> JSONResponse:
    """Whether to send this instance traffic: 200 if its database answers (and, with
    COLLAB_READY_REQUIRES_XMPP, its XMPP connection is up), else 503 with the reasons."""
    reasons = []
    database = await _database(store)
    if database.status != "ok":
        reasons.append(f"database down: {database.detail}")
    if settings.ready_requires_xmpp:
        xmpp = _xmpp(bus)
        if xmpp.status != "ok":
            reasons.append(f"xmpp {xmpp.state}: {xmpp.detail}")
    body = ReadinessPublic(ready=not reasons, reasons=reasons)
    return JSONResponse(body.model_dump(), status_code=503 if reasons else 200)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def read_metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics: edits, connections, latencies."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
