"""Text rules shared by every wire: validation, checksums and UTF-16 conversion.

Every position and length on every wire counts Unicode code points (a Python ``str`` index).
JavaScript counts UTF-16 code units, so the browser converts at its edge; Python code that
talks to a UTF-16 peer uses :func:`utf16_to_codepoint` and :func:`codepoint_to_utf16`.
"""

from __future__ import annotations

import re
import zlib

from sync.errors import InvalidText

# XML 1.0 allows TAB, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and U+10000-U+10FFFF. Patches travel
# inside XMPP stanzas, so anything outside that set is refused before it enters a document.
# Surrogates are in the class too: in a Python str they can only be lone (unpaired) ones.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def find_invalid(text: str) -> int | None:
    """Index of the first character a document may not hold, or None."""
    match = _FORBIDDEN.search(text)
    return None if match is None else match.start()


def validate_text(text: str, *, what: str = "text") -> None:
    """Raise :class:`InvalidText` naming the first forbidden character and where it is."""
    index = find_invalid(text)
    if index is None:
        return
    cp = ord(text[index])
    if 0xD800 <= cp <= 0xDFFF:
        reason = "is a lone surrogate (half of a UTF-16 pair)"
    else:
        reason = "is not allowed in XML 1.0"
    raise InvalidText(
        f"{what} has U+{cp:04X} at position {index}, which {reason}",
        position=index,
        codepoint=cp,
    )


def checksum(text: str) -> str:
    """``"<length in code points>:<crc32 of the UTF-8 bytes, 8 hex digits>"``.

    The length catches most divergence at a glance and the CRC the rest. Surrogates are
    encoded with ``surrogatepass`` so that even a corrupt copy yields a checksum (a mismatch)
    rather than an exception.
    """
    data = text.encode("utf-8", "surrogatepass")
    return f"{len(text)}:{zlib.crc32(data):08x}"


def checksum_length(value: str) -> int:
    """The length part of a checksum: the text's length in code points."""
    head, sep, _ = value.partition(":")
    if not sep or not (head.isascii() and head.isdigit()):
        raise ValueError(f"not a checksum: {value!r}")
    return int(head)


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what JavaScript's ``length`` reports)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def codepoint_to_utf16(text: str, index: int) -> int:
    """Translate a code point index into ``text`` into a UTF-16 code unit index."""
    if not 0 <= index <= len(text):
        raise IndexError(f"code point index {index} outside 0..{len(text)}")
    return index + sum(1 for ch in text[:index] if ord(ch) > 0xFFFF)


def utf16_to_codepoint(text: str, index: int) -> int:
    """Translate a UTF-16 code unit index into ``text`` into a code point index.

    An index that falls between the two halves of a surrogate pair is an error: it would
    split a character.
    """
    if index < 0:
        raise IndexError(f"UTF-16 index {index} is negative")
    units = 0
    for position, ch in enumerate(text):
        if units == index:
            return position
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > index:
            raise IndexError(f"UTF-16 index {index} splits the surrogate pair at {position}")
    if units == index:
        return len(text)
    raise IndexError(f"UTF-16 index {index} outside 0..{units}")
