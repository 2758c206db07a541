"""The error responses each route declares, so its OpenAPI lists every status it can answer."""

from __future__ import annotations

from typing import Any

from app.schemas import ErrorResponse

_DESCRIPTIONS = {
    400: "The request cannot be read (malformed JSON, multipart or text encoding)",
    404: "No such document or revision",
    409: "The id is taken, or the edit conflicts with the document",
    413: "The text is over the size limit",
    422: "The request is well-formed but invalid",
    503: "The database is unavailable or the document too contended; try again",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for ``statuses``, each with the common error body."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in statuses}
