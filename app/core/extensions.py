"""Extensions: optional async hooks at each step of a document's life, run in order.

An extension is an object derived from :class:`Extension` that overrides the hooks it cares
about; every hook is optional. :class:`Extensions` runs them in ``priority`` order (lower
first; ties keep the order given) and calls only the extensions that override a hook, so a
hook nobody uses costs nothing on the edit path.

Hooks that may say no (``authenticate``, ``before_submit``) raise ``app.core.errors.Refused``
(or any ``AppError``); the first refusal wins and later extensions are not asked. Hooks that
report (everything else) cannot undo what happened: an exception there is logged and the
next extension still runs, so a broken metrics exporter never loses an edit.

The hooks, and when they run:

    authenticate       before a WebSocket is accepted, and before every REST call
    on_load            a document was loaded into memory (its room exists)
    on_unload          a document left memory (idle, or deleted)
    before_submit      an edit is about to be sequenced (WebSocket, bot, REST)
    after_commit       revisions are durable, acknowledged and sent to local members
    after_submit       an edit is settled: committed, or found to be a duplicate
    edit_refused       an edit was refused (the code said to its author)
    on_presence        a local person joined, moved or left
    member_dropped     a connection was closed because it did not keep up
    document_created   / document_renamed / document_deleted
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.bus import PresenceEvent
from app.core.store import DocumentInfo
from sync.protocol import Edit, Revision
from sync.server import Placement

log = logging.getLogger(__name__)

Transport = Literal["websocket", "http"]
Origin = Literal["websocket", "bus", "rest", "forwarded"]  # forwarded: by another instance


@dataclass(slots=True)
class ConnectionRequest:
    """Who is asking, before any work is done for them."""

    transport: Transport
    path: str
    doc_id: str | None  # the document the request is about, when the path names one
    method: str  # "GET", "POST"... ("GET" for a WebSocket upgrade)
    headers: Mapping[str, str]  # lower-case names
    client: tuple[str, int] | None
    # What extensions learned (an account, a role), for the extensions after them.
    identity: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    doc_id: str
    edit: Edit
    author: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Committed:
    doc_id: str
    revisions: Sequence[Revision]  # consecutive, oldest first


@dataclass(frozen=True, slots=True)
class Settled:
    doc_id: str
    placement: Placement
    seconds: float  # from the edit's arrival to its commit (or to finding the duplicate)


class Extension:
    """Override the hooks you need. ``priority``: lower runs first."""

    priority: int = 100

    async def authenticate(self, request: ConnectionRequest) -> None:
        pass

    async def on_load(self, doc_id: str) -> None:
        pass

    async def on_unload(self, doc_id: str) -> None:
        pass

    async def before_submit(self, request: SubmitRequest) -> None:
        pass

    async def after_commit(self, committed: Committed) -> None:
        pass

    async def after_submit(self, settled: Settled) -> None:
        pass

    async def edit_refused(self, doc_id: str, code: str) -> None:
        pass

    async def on_presence(self, doc_id: str, event: PresenceEvent) -> None:
        pass

    async def member_dropped(self, doc_id: str, reason: str) -> None:
        pass

    async def document_created(self, info: DocumentInfo, text: str) -> None:
        pass

    async def document_renamed(self, info: DocumentInfo) -> None:
        pass

    async def document_deleted(self, doc_id: str) -> None:
        pass


_HOOKS = tuple(
    name for name, value in vars(Extension).items() if callable(value) and not name.startswith("_")
)


class Extensions:
    """The app's extensions, in order. Each ``run_*`` calls only those overriding the hook."""

    def __init__(self, extensions: Sequence[Extension] = ()) -> None:
        self.items: list[Extension] = []
        self._by_hook: dict[str, list[Extension]] = {name: [] for name in _HOOKS}
        for extension in extensions:
            self.add(extension)

    def add(self, extension: Extension) -> None:
        self.items.append(extension)
        self.items.sort(key=lambda e: e.priority)  # stable: ties keep the order of adding
        for name in _HOOKS:
            self._by_hook[name] = [e for e in self.items if _overrides(e, name)]

    def uses(self, hook: str) -> bool:
        return bool(self._by_hook[hook])

    # -- hooks that may refuse ------------------------------------------------------------

    async def authenticate(self, request: ConnectionRequest) -> None:
        for extension in self._by_hook["authenticate"]:
            await extension.authenticate(request)

    async def before_submit(self, request: SubmitRequest) -> None:
        for extension in self._by_hook["before_submit"]:
            await extension.before_submit(request)

    # -- hooks that report ----------------------------------------------------------------

    async def on_load(self, doc_id: str) -> None:
        await self._report("on_load", doc_id)

    async def on_unload(self, doc_id: str) -> None:
        await self._report("on_unload", doc_id)

    async def after_commit(self, committed: Committed) -> None:
        await self._report("after_commit", committed)

    async def after_submit(self, settled: Settled) -> None:
        await self._report("after_submit", settled)

    async def edit_refused(self, doc_id: str, code: str) -> None:
        await self._report("edit_refused", doc_id, code)

    async def on_presence(self, doc_id: str, event: PresenceEvent) -> None:
        await self._report("on_presence", doc_id, event)

    async def member_dropped(self, doc_id: str, reason: str) -> None:
        await self._report("member_dropped", doc_id, reason)

    async def document_created(self, info: DocumentInfo, text: str) -> None:
        await self._report("document_created", info, text)

    async def document_renamed(self, info: DocumentInfo) -> None:
        await self._report("document_renamed", info)

    async def document_deleted(self, doc_id: str) -> None:
        await self._report("document_deleted", doc_id)

    async def _report(self, hook: str, *args: Any) -> None:
        for extension in self._by_hook[hook]:
            try:
                await getattr(extension, hook)(*args)
            except Exception:
                log.exception("extension %s failed in %s", type(extension).__name__, hook)


def _overrides(extension: Extension, hook: str) -> bool:
    return getattr(type(extension), hook) is not getattr(Extension, hook)
