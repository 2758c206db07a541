"""JSON for the wire: encoded once per message, whatever the number of readers.

orjson is several times faster than the standard library, and stricter in the ways a server
wants: it refuses non-finite numbers, lone surrogates and nesting deeper than 1,024 levels
when reading, and never writes text that is not valid UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

DecodeError = orjson.JSONDecodeError


def encode(message: dict[str, Any]) -> str:
    """``message`` as compact JSON text, with non-ASCII characters as they are."""
    try:
        return orjson.dumps(message).decode()
    except TypeError:
        # orjson refuses integers past 64 bits and lone surrogates; the standard library
        # writes the first exactly and escapes the second, so the answer stays valid JSON
        # in valid UTF-8 (nothing we send should hold either, but an echo might).
        return json.dumps(message, ensure_ascii=True, allow_nan=False)


def decode(raw: str | bytes) -> Any:
    """The value in ``raw``; raises ``DecodeError`` (a ``ValueError``) for anything that is
    not strict JSON.

    One leniency: a lone surrogate written as a JSON escape (``"\\ud800"``) is JSON, and
    the message is read (the standard library allows it) so that the field holding it can
    be refused precisely, naming the edit, instead of the whole message.
    """
    try:
        return orjson.loads(raw)
    except DecodeError as exc:
        if "surrogate" not in str(exc):
            raise
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise DecodeError("nested too deeply", "", 0) from None


def _no_constants(name: str) -> Any:
    raise DecodeError(f"{name} is not a JSON number", "", 0)
