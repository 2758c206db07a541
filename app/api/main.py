"""All HTTP routes; each resource lives in its own module under app/api/routes."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.routes import documents, health, history

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(documents.router)
api_router.include_router(documents.imports)
api_router.include_router(history.router)
