"""Blame: who wrote each part of a document's text, at its head or at any revision.

Attribution is computed from the revision log (``sync.authorship``): revision 0's text has
no known author, and every revision gives the characters it inserts to its author. Replaying
the log from revision 0 on every request would cost the whole history, so each app keeps a
:class:`BlameCache`: per document, the attribution at the newest revision asked for (a
request at the head then folds in only the revisions since) and checkpoints spaced through
the log, so a past revision is never more than one spacing of revisions from a known state.
The spacing doubles whenever a document holds more than ``MAX_CHECKPOINTS``, which bounds
its memory. A document deleted and made again under the same id is told apart by its
creation time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from app.core.errors import RevisionNotFound
from app.core.store import DocumentStore
from app.http.api.deps import DocId, StoreDep
from app.http.api.responses import errors
from app.schemas import MAX_INT
from sync.authorship import Attribution

MAX_DOCUMENTS = 256  # documents whose attribution is kept, least recently asked dropped first
MAX_CHECKPOINTS = 32  # per document; past that the spacing doubles
FIRST_SPACING = 256  # revisions between checkpoints to begin with
PAGE = 500  # revisions read from the store at a time
SLICE_SECONDS = 0.02  # a long replay lets the event loop run at least this often


@dataclass(slots=True)
class _Known:
    created_at: datetime
    newest: tuple[int, Attribution] | None = None
    spacing: int = FIRST_SPACING
    checkpoints: dict[int, Attribution] = field(default_factory=dict)

    def nearest(self, rev: int) -> tuple[int, Attribution] | None:
        """The known state latest at or before ``rev``."""
        best: tuple[int, Attribution] | None = None
        if self.newest is not None and self.newest[0] <= rev:
            best = self.newest
        for at, attribution in self.checkpoints.items():
            if at <= rev and (best is None or at > best[0]):
                best = (at, attribution)
        return best

    def keep(self, rev: int, attribution: Attribution) -> None:
        if rev % self.spacing != 0 or rev in self.checkpoints:
            return
        self.checkpoints[rev] = attribution.copy()
        while len(self.checkpoints) > MAX_CHECKPOINTS:
            self.spacing *= 2
            self.checkpoints = {r: a for r, a in self.checkpoints.items() if r % self.spacing == 0}


class BlameCache:
    """Attributions of recently asked documents (see the module's docstring)."""

    def __init__(self, max_documents: int = MAX_DOCUMENTS) -> None:
        self.max_documents = max_documents
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self.revisions_read = 0  # for tests: how much of the log was replayed

    async def at(
        self, store: DocumentStore, doc_id: str, rev: int | None
    ) -> tuple[int, Attribution]:
        """The revision and the attribution of the text there (head when ``rev`` is None)."""
        info = await store.get(doc_id)
        target = info.head_rev if rev is None else rev
        if not 0 <= target <= info.head_rev:
            raise RevisionNotFound(
                f"document '{doc_id}' has revisions 0 to {info.head_rev}, not {target}"
            )
        known = self._known.get(doc_id)
        if known is None or known.created_at != info.created_at:
            known = _Known(info.created_at)
        self._known[doc_id] = known
        self._known.move_to_end(doc_id)
        while len(self._known) > self.max_documents:
            self._known.popitem(last=False)

        start = known.nearest(target)
        if start is None:
            at, attribution = 0, Attribution(len(await store.text_at(doc_id, 0)))
            known.keep(0, attribution)
        else:
            at, attribution = start[0], start[1].copy()
        since = time.monotonic()
        while at < target:
            page = await store.revisions_after(doc_id, at, min(PAGE, target - at))
            if not page:  # the log moved under us (deleted meanwhile): as the store says
                raise RevisionNotFound(f"document '{doc_id}' has no revision {at + 1}")
            for revision in page:
                attribution.apply_patch(revision.patch, revision.author)
                at = revision.rev
                known.keep(at, attribution)
                if time.monotonic() - since > SLICE_SECONDS:
                    await anyio.sleep(0)  # other documents' people wait no longer than this
                    since = time.monotonic()
            self.revisions_read += len(page)
        if known.newest is None or known.newest[0] <= at:
            known.newest = (at, attribution.copy())
        return at, attribution


def blame_cache(connection: HTTPConnection) -> BlameCache:
    """The app's cache (a REST request's, or a WebSocket's that asked for authorship)."""
    cache: BlameCache | None = getattr(connection.app.state, "blame", None)
    if cache is None:
        cache = connection.app.state.blame = BlameCache()
    return cache


class BlamePublic(BaseModel):
    id: str
    rev: int = Field(description="The revision the attribution is of")
    length: int = Field(description="The text's length there, in code points")
    start: int
    end: int
    # A list, not a tuple: OpenAPI 3.0 readers of the schema have no fixed-length arrays.
    runs: list[list[int | str | None]] = Field(
        description="[start, length, author] in code points, covering start..end with no gap; "
        "author is null for text from before the first revision",
        examples=[[[0, 6, "ann"], [6, 4, None]]],
    )
    authors: list[str] = Field(description="Everyone named in runs, in order of first place")


async def read_blame(
    doc_id: DocId,
    store: StoreDep,
    request: Request,
    rev: Annotated[int | None, Query(ge=0, le=MAX_INT, description="A past revision")] = None,
    start: Annotated[int, Query(ge=0, le=MAX_INT, description="From this code point")] = 0,
    end: Annotated[
        int | None, Query(ge=0, le=MAX_INT, description="Up to this code point (excluded)")
    ] = None,
) -> BlamePublic:
    """Who wrote the text (or the range ``start``..``end`` of it), as runs of one author."""
    at, attribution = await blame_cache(request).at(store, doc_id, rev)
    stop = attribution.length if end is None else min(end, attribution.length)
    first = min(start, stop)
    runs = attribution.runs(first, stop)
    authors = list(dict.fromkeys(a for _, _, a in runs if a is not None))
    listed: list[list[int | str | None]] = [[s, n, a] for s, n, a in runs]
    return BlamePublic(
        id=doc_id,
        rev=at,
        length=attribution.length,
        start=first,
        end=stop,
        runs=listed,
        authors=authors,
    )


def install(router: APIRouter) -> None:
    """Add ``GET /blame`` to the history router (``/api/documents/{doc_id}``)."""
    router.add_api_route(
        "/blame",
        read_blame,
        methods=["GET"],
        response_model=BlamePublic,
        responses=errors(404, 422),
        name="read_blame",
    )
