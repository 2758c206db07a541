"""People's colors on a document: each person present has one nobody else present has.

The rule (docs/protocol.md, "Colors"): a person who joins keeps the color they asked for if
nobody else on the document (on this instance or, as far as it has heard, on another) has
it; otherwise, and when they asked for none, they get the first free color of the palette
counted from a slot their document and name pick, so the same person tends to get the same
color each visit. Several sessions of one author count as one person and may share a color.
Once every palette color is taken, the least used one from that slot: two people share a
color only when more than twelve are present.

Two instances can give one color to two people at the same moment, before either heard of
the other's. Each then hears of the clash and both decide it the same way: the person with
the greater session id changes color (``yields``), on the instance they are connected to.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable

# The page's palette (frontend/src/lib/identity.js): distinct, readable on white and on the
# dark theme, each with contrast enough for a cursor line.
PALETTE = (
    "#d7263d",
    "#1b998b",
    "#2e86de",
    "#f46036",
    "#8e44ad",
    "#2a9d3a",
    "#c2185b",
    "#b8860b",
    "#00838f",
    "#5d4037",
    "#3949ab",
    "#e65100",
)

COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def normal(color: str) -> str:
    """``#RRGGBB`` as ``#rrggbb``: one color, one spelling, when comparing."""
    return color.lower()


def slot(doc_id: str, author: str) -> int:
    """Where in the palette ``author`` starts looking on ``doc_id``."""
    return zlib.crc32(f"{doc_id}\0{author}".encode()) % len(PALETTE)


def assign(wanted: str | None, taken: Iterable[str], doc_id: str, author: str) -> str:
    """The color for ``author`` on ``doc_id``, where the others present have ``taken``.

    ``wanted`` if nobody has it; else the first free palette color from the author's slot;
    else (the palette is all taken) the least used palette color, the earliest from the slot.
    """
    used = Counter(normal(color) for color in taken)
    if wanted and COLOR.fullmatch(wanted) and not used[normal(wanted)]:
        return normal(wanted)
    start = slot(doc_id, author)
    order = [PALETTE[(start + i) % len(PALETTE)] for i in range(len(PALETTE))]
    return min(order, key=lambda color: used[color])


def has_free(taken: Iterable[str]) -> bool:
    """Whether some palette color is not in ``taken``."""
    return bool(set(PALETTE) - {normal(color) for color in taken})


def yields(session: str, other: str) -> bool:
    """Of two people of different authors who were given one color at once, ``session``
    changes color if this is True (and ``other`` if it is False): on every instance alike."""
    return session > other
