"""All HTTP routes; each resource lives in its own module under app/http/api/routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.http.api.deps import authorize
from app.http.api.routes import auth, bots, documents, health, history, sharing, users, versions

# Every call passes the extensions' authenticate hook first (health and metrics too: an
# extension decides by path what it lets through), then the access policy
# (app/core/access.py POLICY), which refuses any route it does not name.
api_router = APIRouter(dependencies=[Depends(authorize)])
api_router.include_router(auth.router)
api_router.include_router(users.router)
api_router.include_router(users.invites)
api_router.include_router(bots.router)
api_router.include_router(sharing.router)
api_router.include_router(health.router)
api_router.include_router(documents.router)
api_router.include_router(documents.imports)
api_router.include_router(history.router)
api_router.include_router(versions.router)
