"""All HTTP routes; each resource lives in its own module under app/http/api/routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.http.api.deps import authenticate
from app.http.api.routes import documents, health, history

# Every call passes the extensions' authenticate hook first (health and metrics too: an
# extension decides by path what it lets through).
api_router = APIRouter(dependencies=[Depends(authenticate)])
api_router.include_router(health.router)
api_router.include_router(documents.router)
api_router.include_router(documents.imports)
api_router.include_router(history.router)
