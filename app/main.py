"""The application factory and its lifespan: database, migrations, rooms, XMPP, metrics."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.routing import Match

from app import web, ws
from app.api.main import api_router
from app.config import Settings, get_settings
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.errors import install_handlers
from app.metrics import Metrics
from app.rooms import RoomRegistry
from app.store import Store
from app.xmpp.bridge import XmppBridge
from app.xmpp.prosody import ManagedProsody, ProsodyError, XmppAccount

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()
    # Our own loggers ("app", "sync") at the configured level, unless the host process
    # (a test runner, an embedding application) has set logging up already.
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            await upgrade(engine)
            store = Store(engine, snapshot_every=settings.snapshot_every)
            rooms = RoomRegistry(store, settings, metrics)
            stack.push_async_callback(rooms.close)
            app.state.store = store
            app.state.rooms = rooms
            app.state.xmpp = await _start_xmpp(settings, stack, rooms, store, metrics)
            log.info("serving documents from %s", _redacted(settings.resolved_database_url()))
            yield

    app = FastAPI(
        title="XMPP Collab",
        summary="Real-time collaborative text documents, sequenced as diff-match-patch "
        "revisions and published over XMPP pubsub.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_handlers(app)
    app.include_router(api_router)
    app.include_router(ws.router)
    web.install(app, settings.frontend_dir or web.default_frontend_dir())

    @app.middleware("http")
    async def _timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(app, request)
        metrics.requests.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    return app


async def _start_xmpp(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    rooms: RoomRegistry,
    store: Store,
    metrics: Metrics,
) -> XmppBridge | None:
    """Start (managed mode) or reach (external mode) the XMPP server, and the bridge."""
    if settings.xmpp_mode == "off":
        log.info("XMPP is off (COLLAB_XMPP_MODE=off): no pubsub, no bots")
        return None
    if settings.xmpp_mode == "managed":
        prosody = ManagedProsody(
            Path(settings.data_dir), domain=settings.xmpp_domain, port=settings.xmpp_managed_port
        )
        account = await prosody.start()  # raises ProsodyError with the fix to apply
        stack.push_async_callback(prosody.stop)
    else:
        if not settings.xmpp_jid or not settings.xmpp_password:
            raise ProsodyError(
                "COLLAB_XMPP_MODE=external needs COLLAB_XMPP_JID and COLLAB_XMPP_PASSWORD"
            )
        domain = settings.xmpp_jid.split("@", 1)[-1].split("/", 1)[0]
        account = XmppAccount(
            settings.xmpp_jid,
            settings.xmpp_password,
            settings.xmpp_host,
            settings.xmpp_port,
            settings.xmpp_pubsub or f"pubsub.{domain}",
        )
    resource = settings.xmpp_resource or f"app-{socket.gethostname()}-{settings.port}-{os.getpid()}"
    bridge = XmppBridge(
        account, resource=resource, rooms=rooms, store=store, settings=settings, metrics=metrics
    )
    rooms.events = bridge
    stack.push_async_callback(bridge.stop)
    await bridge.start(wait=settings.xmpp_connect_timeout)
    return bridge


def _route_template(app: FastAPI, request: Request) -> str:
    # Label by template ("/api/documents/{doc_id}"), never by raw path: ids would make
    # the metric's cardinality grow with the number of documents.
    matched = request.scope.get("route")
    if matched is not None:
        return str(getattr(matched, "path", "other"))
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return getattr(route, "path", "other")
    return "unmatched"


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
