"""Health and metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app.http.api.deps import BusDep, MetricsDep, RoomsDep, StoreDep

router = APIRouter(tags=["health"])


class DependencyHealth(BaseModel):
    status: Literal["ok", "down", "disabled"]
    detail: str = ""


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    dependencies: dict[str, DependencyHealth]
    documents_loaded: int


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "A dependency is down"}},
)
async def read_health(store: StoreDep, rooms: RoomsDep, bus: BusDep) -> JSONResponse:
    """Each dependency's state: 503 when the database is down; "degraded" (still 200) when
    only XMPP is, since editing goes on without it."""
    dependencies: dict[str, DependencyHealth] = {}
    try:
        await store.ping()
        dependencies["database"] = DependencyHealth(status="ok")
    except Exception as exc:  # any failure means "down", with the reason shown
        dependencies["database"] = DependencyHealth(status="down", detail=str(exc)[:200])
    state, detail = bus.health()
    dependencies["xmpp"] = DependencyHealth(status=state, detail=detail)
    healthy = all(d.status != "down" for d in dependencies.values())
    body = HealthPublic(
        status="ok" if healthy else "degraded",
        dependencies=dependencies,
        documents_loaded=len(rooms.rooms),
    )
    database_up = dependencies["database"].status == "ok"
    return JSONResponse(body.model_dump(), status_code=200 if database_up else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def read_metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics: edits, connections, latencies."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
