"""The application factory: the store, the rooms, the bus and the extensions, wired together
in a lifespan."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import Match

from app.buses.memory import MemoryBus
from app.buses.xmpp.accounts import ManagedRegistrar
from app.buses.xmpp.bridge import XmppBridge
from app.buses.xmpp.prosody import ManagedProsody, ProsodyError, XmppAccount
from app.config import Settings, get_settings
from app.core.access import Access
from app.core.accounts import AccountStore
from app.core.bots import BotService
from app.core.bus import RevisionBus
from app.core.chat import ChatRelay, ChatService
from app.core.documents import DocumentService
from app.core.extensions import Extension, Extensions
from app.core.gate import Gate
from app.core.identity import CSRF_HEADER, LINK_HEADER, Identity
from app.core.leases import LeaseStore, MemoryLeases
from app.core.publishing import BusExtension
from app.core.reachability import ReachabilityNotice
from app.core.registry import RoomRegistry
from app.core.routing import SequencerRouting
from app.core.store import DocumentStore
from app.core.versions import MemoryVersions, Versions, VersionStore
from app.core.xmpp_links import AddressChannel, XmppLinks
from app.http import docs, pages, ws
from app.http.api.main import api_router
from app.http.compression import Compression
from app.http.errors import install_handlers
from app.http.hosts import AllowedHosts
from app.memory import MemoryRelease
from app.metrics import Metrics, MetricsExtension
from app.stores.memory import MemoryStore
from app.stores.memory_accounts import MemoryAccountStore
from app.stores.sql.accounts import SqlAccountStore
from app.stores.sql.engine import make_engine
from app.stores.sql.leases import SqlLeaseStore
from app.stores.sql.migrate import upgrade
from app.stores.sql.store import SqlStore
from app.stores.sql.versions import SqlVersionStore

log = logging.getLogger(__name__)

MEMORY_URL = "memory://"


def create_app(
    settings: Settings | None = None,
    *,
    extensions: Sequence[Extension] = (),
    bus: RevisionBus | None = None,
) -> FastAPI:
    """The application. ``extensions`` run beside the built-in ones (metrics, the bus);
    ``bus`` replaces the one ``COLLAB_XMPP_MODE`` would choose (tests share a memory hub)."""
    settings = settings or get_settings()
    metrics = Metrics()
    # Our own loggers ("app", "sync") at the configured level, unless the host process
    # (a test runner, an embedding application) has set logging up already.
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The gate (origin, CSRF, who is asking) runs first of the authenticate hooks.
    gate = Gate(settings)
    hooks = Extensions([MetricsExtension(metrics), gate, *extensions])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            store = await _open_store(settings, stack)
            rooms = RoomRegistry(store, settings, hooks)
            chosen = bus or await _xmpp_bus(settings, stack, metrics)
            hooks.add(BusExtension(chosen))
            # Chat beside each document: over the bus's chat rooms when it has them (XMPP).
            app.state.chat = ChatService(rooms, chosen if isinstance(chosen, ChatRelay) else None)
            hooks.add(app.state.chat)
            access = Access(settings, store, _account_store(store))
            if access.enabled:  # else channels stay open, as everything else is
                chosen.follow_access(access.bus_members)
                access.listeners.append(chosen.access_changed)
            app.state.bots = _bot_service(access, chosen)
            app.state.versions = Versions(_version_store(store), store)
            hooks.add(app.state.versions)
            gate.identity = Identity(settings, access.accounts, access)
            # People's own XMPP addresses, proven by a message sent from them (over the bus).
            app.state.xmpp_links = XmppLinks(access.accounts, access)
            if isinstance(chosen, AddressChannel):
                app.state.xmpp_links.channel = chosen
                if access.enabled:
                    chosen.attach_address_claims(app.state.xmpp_links.redeem)
            app.state.access = access
            app.state.identity = gate.identity
            app.state.store = store
            app.state.rooms = rooms
            app.state.documents = DocumentService(store, rooms, settings, hooks, access)
            app.state.bus = chosen
            # The bus stops after the rooms have closed (they relay their people leaving).
            if settings.sequencer_routing and _reaches_others(chosen):
                routing = SequencerRouting(_lease_store(store), chosen, settings)
                routing.on_forwarded = metrics.forward_answered
                routing.on_folded = metrics.forward_folded
                hooks.add(routing)
                rooms.routing = routing
            hooks.add(ReachabilityNotice(rooms))
            release = MemoryRelease.for_this_system() if settings.release_memory else None
            if release is not None and os.environ.get("PYTHONMALLOC") == "malloc":
                # Only under the C allocator, as `collab serve` runs: under pymalloc a trim
                # gives back next to nothing, and an app embedded in another process (a test
                # runner) would have that process's garbage collected at odd moments.
                hooks.add(release)
                stack.push_async_callback(release.stop)
            await chosen.start(rooms)
            stack.push_async_callback(chosen.stop)
            if rooms.routing is not None:
                # After the rooms have closed: their leases are given up, not left to expire.
                stack.push_async_callback(rooms.routing.stop)
            stack.push_async_callback(rooms.close)
            access.start()
            stack.push_async_callback(access.stop)
            log.info("serving documents from %s", _redacted(settings.resolved_database_url()))
            if await gate.identity.setup_needed():
                log.warning(
                    "no accounts yet: open http://%s:%s/setup to make the administrator "
                    "(or run: collab users create NAME --admin)",
                    settings.host,
                    settings.port,
                )
            # What startup built (modules, the framework, the wiring) lives as long as the
            # server: out of the collector's sight, so that a full collection, which a burst
            # of allocations can set off at any message, scans only what came after (it was a
            # pause of every document of about 100 ms on a small machine).
            gc.collect()
            gc.freeze()
            stack.callback(gc.unfreeze)
            yield

    app = FastAPI(
        title="XMPP Collab",
        summary="Real-time collaborative text documents, sequenced as diff-match-patch "
        "revisions and published over XMPP pubsub.",
        version="0.1.0",
        lifespan=lifespan,
        # Served by app/http/docs.py from our own copies of Swagger UI and ReDoc.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.extensions = hooks
    install_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.items(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", CSRF_HEADER, LINK_HEADER],
        )
    # JSON and pages larger than a packet or two go out gzipped to a browser that accepts it.
    # HTTP only: the WebSocket's frames pass through untouched, and the assets' precompressed
    # copies (app/http/pages.py) already carry a Content-Encoding, which it leaves alone.
    app.add_middleware(Compression, minimum_size=1024, compresslevel=6)
    # Added last, so it runs first: a request for a host not ours goes no further.
    hosts = settings.items(settings.allowed_hosts)
    if settings.host not in ("0.0.0.0", "::", ""):  # the address it listens on is its own
        hosts.append(settings.host)
    app.add_middleware(AllowedHosts, patterns=hosts)
    app.include_router(api_router)
    app.include_router(ws.router)
    frontend_dir = settings.frontend_dir or pages.default_frontend_dir()
    docs.install(app, frontend_dir)
    pages.install(app, frontend_dir)

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


async def _open_store(settings: Settings, stack: contextlib.AsyncExitStack) -> DocumentStore:
    if settings.database_url == MEMORY_URL:
        log.warning("documents are kept in memory only (COLLAB_DATABASE_URL=memory://)")
        return MemoryStore(snapshot_every=settings.snapshot_every)
    # The store closes the engine too (and its SQLite writer): one callback, even when the
    # migrations below fail.
    store = SqlStore(
        make_engine(settings),
        snapshot_every=settings.snapshot_every,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    stack.push_async_callback(store.close)
    await upgrade(store.engine)
    return store


def _account_store(store: DocumentStore) -> AccountStore:
    """People and permissions live beside the documents: in the same database, or memory."""
    if isinstance(store, SqlStore):
        return SqlAccountStore(store.engine)
    return MemoryAccountStore()


def _version_store(store: DocumentStore) -> VersionStore:
    if isinstance(store, SqlStore):
        return SqlVersionStore(store.engine)
    return MemoryVersions()


def _reaches_others(bus: RevisionBus) -> bool:
    """Whether other instances can hear this one: only then is there anyone to forward edits
    to, and a lease worth writing (XMPP off: each instance is on its own)."""
    return isinstance(bus, XmppBridge) or (isinstance(bus, MemoryBus) and bus.shared)


def _lease_store(store: DocumentStore) -> LeaseStore:
    """Leases where the documents are: instances agree through the database they share."""
    if isinstance(store, SqlStore):
        return SqlLeaseStore(store.engine)
    return MemoryLeases()


def _bot_service(access: Access, bus: RevisionBus) -> BotService:
    """Bots, registered on the managed Prosody when the app runs one."""
    if not isinstance(bus, XmppBridge):
        return BotService(access, None)
    where = (bus.account.host, bus.account.port, bus.account.pubsub)
    if bus.server is None:
        return BotService(access, None, where=where)
    reserved = frozenset({bus.account.jid.split("@", 1)[0]})
    return BotService(access, ManagedRegistrar(bus.server), reserved, where)


async def _xmpp_bus(
    settings: Settings, stack: contextlib.AsyncExitStack, metrics: Metrics
) -> RevisionBus:
    """The bus ``COLLAB_XMPP_MODE`` asks for: none to speak of (off), the managed Prosody, or
    an external XMPP server."""
    if settings.xmpp_mode == "off":
        log.info("XMPP is off (COLLAB_XMPP_MODE=off): no pubsub, no bots")
        return MemoryBus()
    prosody: ManagedProsody | None = None  # ours to run, and to restart if it dies
    if settings.xmpp_mode == "managed":
        prosody = ManagedProsody(
            Path(settings.data_dir),
            domain=settings.xmpp_domain,
            port=settings.xmpp_managed_port,
            restart_delay=settings.xmpp_restart_delay,
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
    return XmppBridge(
        account, resource=resource, settings=settings, metrics=metrics, server=prosody
    )


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
