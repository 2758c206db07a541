"""Text rules shared by every wire: validation, checksums and UTF-16 conversion.

Every position and length on every wire counts Unicode code points (a Python ``str`` index).
JavaScript counts UTF-16 code units, so the browser converts at its edge; Python code that
talks to a UTF-16 peer uses :func:`utf16_to_codepoint` and :func:`codepoint_to_utf16`.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Sequence

from sync.errors import InvalidText
from sync.ops import Delete, Op, Retain

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


# -- checksums --------------------------------------------------------------------------------
#
# Version 2, what the sequencer writes: ``"<length>:<lane 1, 8 hex><lane 2, 8 hex>"``. Pad the
# text's code points with K - 1 sentinels (0x110000, outside Unicode) at each end; every run
# of K consecutive values of that sequence is a window (a text of n code points has n + K - 1
# of them, the empty text K - 1 windows of sentinels only). Each window is hashed per lane by
# a polynomial mod 2**32 in that lane's odd base, then mixed by murmur3's fmix32 (without it
# the sum would be linear in the characters, and blind to their order). A lane is the sum of
# its mixed window hashes mod 2**32. An edit changes only the windows that overlap it, so a
# checksum is updated from the text around each change: see docs/protocol.md, "Checksums".
#
# Version 1, in revisions and snapshots written before: ``"<length>:<CRC-32 of UTF-8, 8 hex>"``.
# It is still verified (in full), never written.

K = 16  # window length in code points
_SENTINEL = 0x110000
_BASES = (0x9E3779B1, 0x85EBCA77)
_MASK = 0xFFFFFFFF
_V1 = re.compile(r"[0-9]+:[0-9a-f]{8}")
_V2 = re.compile(r"[0-9]+:[0-9a-f]{16}")

# Windows are hashed many at a time: each code point sits in a 64-bit slot of one big integer,
# so that one integer operation (at C speed) acts on every slot, and no product of two 32-bit
# values can carry into the next slot. Long texts go in chunks, which stay in the CPU's cache.
_SLOT = 64
_SLOT_BYTES = _SLOT // 8
_CHUNK = 1 << 14  # windows per chunk
_SENTINEL_SLOT = _SENTINEL.to_bytes(_SLOT_BYTES, "little")
# Per lane, (shift, multiplier) of the four doubling steps: the step of width w makes each
# slot the hash of the 2w values ending there, from the hashes of w values.
_DOUBLINGS = tuple(
    tuple((_SLOT * width, pow(base, width, 1 << 32)) for width in (1, 2, 4, 8)) for base in _BASES
)
assert 1 << len(_DOUBLINGS[0]) == K


@functools.lru_cache(maxsize=64)
def _masks(slots: int) -> tuple[int, int, int]:
    """The low 32, 16 and 19 bits of each of ``slots`` slots."""
    low32 = int.from_bytes(_MASK.to_bytes(_SLOT_BYTES, "little") * slots, "little")
    return low32, (low32 >> 16) & low32, (low32 >> 13) & low32


def _spread(body: str) -> bytearray:
    """The code points of ``body``, one per slot."""
    raw = bytearray(len(body) * _SLOT_BYTES)
    if body.isascii():
        # One byte per code point (Python knows it without a scan): one strided copy instead
        # of an encoding and three.
        raw[0::_SLOT_BYTES] = body.encode("ascii")
    else:
        # Code points are below 2**21: the first three bytes of each UTF-32LE unit (written
        # out, not looped: this runs twice per keystroke on every copy of a document).
        utf32 = body.encode("utf-32-le", "surrogatepass")
        raw[0::_SLOT_BYTES] = utf32[0::4]
        raw[1::_SLOT_BYTES] = utf32[1::4]
        raw[2::_SLOT_BYTES] = utf32[2::4]
    return raw


def _slots(text: str, start: int, stop: int) -> bytes | bytearray:
    """The code points that the windows ending at ``start`` to ``stop - 1`` cover, one per
    slot, with sentinels for positions past either end of ``text``."""
    first = start - (K - 1)
    body = text[max(0, first) : min(len(text), stop)]
    before = max(0, -first)
    after = stop - first - before - len(body)
    raw = _spread(body)
    if before or after:
        return b"".join((_SENTINEL_SLOT * before, raw, _SENTINEL_SLOT * after))
    return raw


def _sum_slots(value: int, count: int) -> int:
    """The sum of the first ``count`` slots of ``value`` (each below 2**32), mod 2**32."""
    value &= (1 << (_SLOT * count)) - 1
    # By halves down to a few slots, then by %: a shift, a mask and an add cost little per
    # bit, while % (a division) costs many times more per bit.
    while count > 8:
        half = (count + 1) // 2
        value = (value & ((1 << (_SLOT * half)) - 1)) + (value >> (_SLOT * half))
        count = half
    # 2**64 = 1 mod (2**64 - 1), and the sum stays below 2**64 - 1.
    return value % ((1 << _SLOT) - 1) & _MASK


def _hashes(ranges: Sequence[tuple[str, int, int]]) -> tuple[int, int]:
    """The mixed hash of every window of ``ranges`` laid out one after another, each with the
    K - 1 code points before its first window: both lanes (lane 2 above lane 1) in one
    integer, and the number of slots per lane. Slots where a window would straddle two
    ranges hold garbage."""
    raw: bytes | bytearray
    for text, start, stop in ranges:
        if start < K - 1 or stop > len(text):
            raw = b"".join([_slots(text, start, stop) for text, start, stop in ranges])
            break
    else:  # no sentinels (every keystroke away from the ends): one string, spread once
        raw = _spread("".join([text[start - (K - 1) : stop] for text, start, stop in ranges]))
    slots = len(raw) // _SLOT_BYTES
    values = int.from_bytes(raw, "little")
    low32 = _masks(slots)[0]
    lanes = 0
    for lane, doublings in enumerate(_DOUBLINGS):
        h = values
        for shift, power in doublings:
            h = ((h << shift) * power + h) & low32
        lanes |= h << (lane * _SLOT * slots)
    # fmix32 in every slot of both lanes at once.
    low32, low16, low19 = _masks(2 * slots)
    lanes ^= (lanes >> 16) & low16
    lanes = (lanes * 0x85EBCA6B) & low32
    lanes ^= (lanes >> 13) & low19
    lanes = (lanes * 0xC2B2AE35) & low32
    lanes ^= (lanes >> 16) & low16
    return lanes, slots


def _window_sums(*ranges: tuple[str, int, int]) -> list[tuple[int, int]]:
    """For each ``(text, start, stop)``: both lanes' sums over the windows of ``text`` that end
    at code points ``start`` to ``stop - 1`` (see ``_hashes`` for how they are laid out)."""
    lanes, slots = _hashes(ranges)
    sums = []
    offset = K - 1  # the slot of the first whole window of the range
    for _, start, stop in ranges:
        count = stop - start
        one = _sum_slots(lanes >> (_SLOT * offset), count)
        two = _sum_slots(lanes >> (_SLOT * (offset + slots)), count)
        sums.append((one, two))
        offset += count + K - 1
    return sums


# A change whose old and new windows together are at most this many is summed by
# ``_window_delta``, whose masks are cached per size.
_DELTA_WINDOWS = 256


@functools.lru_cache(maxsize=128)
def _delta_masks(gone: int, come: int) -> tuple[int, int]:
    """For ``gone`` old windows then ``come`` new ones laid out as ``_hashes`` does, in both
    lanes: the low 32 bits of every window's slot, and of every old window's slot."""
    pad = bytes(_SLOT_BYTES * (K - 1))
    low32 = _MASK.to_bytes(_SLOT_BYTES, "little")
    old = pad + low32 * gone
    keep = (old + pad + low32 * come) * 2
    negate = (old + bytes(_SLOT_BYTES * (K - 1 + come))) * 2
    return int.from_bytes(keep, "little"), int.from_bytes(negate, "little")


def _window_delta(old: tuple[str, int, int], new: tuple[str, int, int]) -> tuple[int, int]:
    """Per lane, the sum over the windows of ``new`` minus the sum over those of ``old`` (each
    ``(text, start, stop)`` as in ``_window_sums``), mod 2**32: what ``_window_sums`` gives,
    subtracted, with one sum per lane instead of two."""
    lanes, slots = _hashes((old, new))
    gone, come = old[2] - old[1], new[2] - new[1]
    keep, negate = _delta_masks(gone, come)
    # Straddling slots are cleared, and old windows' hashes x become x ^ (2**32 - 1), which
    # is -x - 1 mod 2**32: each lane's sum is then the change minus ``gone``.
    lanes = (lanes & keep) ^ negate
    count = slots - (K - 1)
    one = _sum_slots(lanes >> (_SLOT * (K - 1)), count)
    two = _sum_slots(lanes >> (_SLOT * (slots + K - 1)), count)
    return (one + gone) & _MASK, (two + gone) & _MASK


def _format(length: int, lanes: tuple[int, int]) -> str:
    return f"{length}:{lanes[0] & _MASK:08x}{lanes[1] & _MASK:08x}"


def _chunked_sums(text: str, start: int, stop: int) -> tuple[int, int]:
    """``_window_sums`` of one long range, a chunk at a time."""
    lane1 = lane2 = 0
    for chunk in range(start, stop, _CHUNK):
        [(one, two)] = _window_sums((text, chunk, min(stop, chunk + _CHUNK)))
        lane1 += one
        lane2 += two
    return lane1, lane2


def checksum(text: str) -> str:
    """The version 2 checksum of ``text``, computed from scratch.

    Any ``str`` has one, lone surrogates included (as their own code points), so that a corrupt
    copy yields a mismatch rather than an exception.
    """
    return _format(len(text), _chunked_sums(text, 0, len(text) + K - 1))


def checksum_v1(text: str) -> str:
    """``"<length in code points>:<crc32 of the UTF-8 bytes, 8 hex digits>"``: version 1.

    Surrogates are encoded with ``surrogatepass``, so that a corrupt copy yields a mismatch.
    """
    data = text.encode("utf-8", "surrogatepass")
    return f"{len(text)}:{zlib.crc32(data):08x}"


def checksum_version(value: str) -> int | None:
    """1 or 2 for a well-formed checksum of that version, else None."""
    if _V2.fullmatch(value):
        return 2
    if _V1.fullmatch(value):
        return 1
    return None


def checksum_matches(text: str, value: str) -> bool:
    """Whether ``value`` is the checksum of ``text``, in whichever version it is written."""
    version = checksum_version(value)
    if version == 2:
        return checksum(text) == value
    if version == 1:
        return checksum_v1(text) == value
    return False


def _changed_ranges(op: Op) -> list[tuple[int, int, int, int]]:
    """Where ``op`` changes its text: ``(start, end, new start, new end)`` per range, in code
    points of the old and the new text. Ranges closer than K - 1 are one range (with the text
    kept between them), so that no window overlaps two of them."""
    ranges: list[tuple[int, int, int, int]] = []
    old = new = 0
    current: list[int] | None = None  # [start, end, new start, new end] of the open range
    last = len(op) - 1
    for index, component in enumerate(op):
        if isinstance(component, Retain):
            count = component.count
            if current is not None and (count >= K - 1 or index == last):
                ranges.append((current[0], current[1], current[2], current[3]))
                current = None
            old += count
            new += count
            if current is not None:
                current[1], current[3] = old, new
            continue
        if current is None:
            current = [old, old, new, new]
        if isinstance(component, Delete):
            old += len(component.text)
        else:
            new += len(component.text)
        current[1], current[3] = old, new
    if current is not None:
        ranges.append((current[0], current[1], current[2], current[3]))
    return ranges


def update_checksum(old_checksum: str, old_text: str, op: Op, new_text: str) -> str:
    """The version 2 checksum of ``new_text``, which ``op`` made from ``old_text``, whose version
    2 checksum is ``old_checksum``. Costs O(K + size of the change), whatever the text's length:
    only the windows that overlap a change are taken out (from the old text) and put in (from
    the new one). Raises ValueError for a checksum of another version.
    """
    if checksum_version(old_checksum) != 2:
        raise ValueError(f"not a version 2 checksum: {old_checksum!r}")
    lane1, lane2 = int(old_checksum[-16:-8], 16), int(old_checksum[-8:], 16)
    for start, end, new_start, new_end in _changed_ranges(op):
        old_range = (old_text, start, end + K - 1)
        new_range = (new_text, new_start, new_end + K - 1)
        size = end - start + new_end - new_start
        if size + 2 * (K - 1) <= _DELTA_WINDOWS:
            one, two = _window_delta(old_range, new_range)  # a keystroke: one pass for both
            lane1 += one
            lane2 += two
            continue
        if size < _CHUNK:
            gone, come = _window_sums(old_range, new_range)
        else:
            gone, come = _chunked_sums(*old_range), _chunked_sums(*new_range)
        lane1 += come[0] - gone[0]
        lane2 += come[1] - gone[1]
    return _format(len(new_text), (lane1, lane2))


def checksum_length(value: str) -> int:
    """The length part of a checksum (of either version): the text's length in code points."""
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
