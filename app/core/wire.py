"""JSON for the wire: encoded once per message, whatever the number of readers.

orjson is several times faster than the standard library, and stricter in the ways a server
wants: it refuses non-finite numbers, lone surrogates and nesting deeper than 1,024 levels
when reading, and never writes text that is not valid UTF-8.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

DecodeError = orjson.JSONDecodeError


def encode(message: dict[str, Any]) -> str:
    """``message`` as compact JSON text, with non-ASCII characters as they are."""
    try:
        return orjson.dumps(message).decode()
    except TypeError:
        # orjson refuses integers past 64 bits and lone surrogates. Nothing we send should
        # hold either (what we echo is checked first), but if something does, the answer must
        # still be JSON that any reader takes: lone surrogates become U+FFFD, and the standard
        # library writes big integers exactly.
        return json.dumps(_scrub(message), ensure_ascii=False, allow_nan=False)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None  # what orjson writes for them
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def decode(raw: str | bytes) -> Any:
    """The value in ``raw``; raises ``DecodeError`` (a ``ValueError``) for anything that is
    not strict JSON.

    One leniency: a lone surrogate written as a JSON escape (``"\\ud800"``) is JSON, and
    the message is read (the standard library allows it) so that the field holding it can
    be refused precisely, naming the edit, instead of the whole message. That reader is held
    to orjson's other rules: no NaN or Infinity (nor a number too large for a double), no
    integer of more than 20 digits, no nesting past the recursion limit.
    """
    try:
        return orjson.loads(raw)
    except DecodeError as exc:
        if "surrogate" not in str(exc):
            raise
    try:
        return json.loads(
            raw, parse_constant=_no_constants, parse_int=_bounded_int, parse_float=_finite_float
        )
    except RecursionError:
        raise DecodeError("nested too deeply", "", 0) from None
    except DecodeError:
        raise
    except ValueError as exc:  # e.g. a number the standard library will not convert
        raise DecodeError(str(exc), "", 0) from None


def _no_constants(name: str) -> Any:
    raise DecodeError(f"{name} is not a JSON number", "", 0)


def _bounded_int(text: str) -> int:
    # orjson reads integers up to 64 bits exactly and larger ones as doubles; past 20 digits
    # int() would cost time quadratic in the digits (and refuses past 4,300).
    if len(text.lstrip("-")) > 20:
        raise DecodeError(f"the number {text[:24]}... has too many digits", "", 0)
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DecodeError("number is infinity when parsed as double", "", 0)
    return value
