"""The error responses each route declares, so its OpenAPI lists every status it can answer."""

from __future__ import annotations

from typing import Any

from app.schemas import ErrorResponse

_DESCRIPTIONS = {
    400: "The request cannot be read (malformed JSON, multipart or text encoding)",
    401: "An extension does not know who is asking",
    403: "An extension does not allow this",
    404: "No such document or revision",
    409: "The id is taken, or the edit conflicts with the document",
    413: "The text is over the size limit",
    422: "The request is well-formed but invalid",
    429: "An extension says not this often; try again later",
    503: "The database is unavailable or the document too contended; try again",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for ``statuses``, each with the common error body."""
    # Any call may be refused by an extension's authenticate hook.
    every = sorted({*statuses, 401, 403, 429})
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in every}
