"""Write the conformance vectors that the Python engine and its JavaScript twin must both pass.

Run ``.venv/bin/python -m tests.conformance.generate`` after a deliberate change to the engine;
``test_vectors.py`` fails while the committed files differ from what this writes, and replays
every vector against the Python engine; ``frontend/test/conformance.test.js`` replays them
against the JavaScript one.

Every case is computed by the Python engine from inputs chosen here (fixed seeds, so the output
is deterministic). Conventions in the files:

* operations are ``ops.to_json`` lists, hunks are ``{start1, length1, start2, length2, diffs}``,
  messages are ``to_wire()`` objects, and every position and length counts code points;
* ``"error"`` is the Python exception class the engine raises. ``SyncError`` subclasses have
  JavaScript classes of the same name; ``ValueError`` and ``IndexError`` are ``RangeError``.

Sessions are recorded by running a :class:`~sync.server.Sequencer` and several
:class:`~sync.client.SyncClient` s through a seeded random schedule (concurrent edits at the
same spot, astral text, lost and duplicated messages, disconnects, refused edits, snapshots
after a short history), then recording every call made on one of the clients, with the
messages it returned and its state after it. Some schedules have every client type a run at one
spot, forwards or backwards, so that typing intents (``sync/intent.py``) decide their ties.
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sync import intent, merge, ops, patches, protocol, text
from sync.client import ClientState, SyncClient
from sync.errors import ChecksumMismatch, SyncError
from sync.fold import fold
from sync.ops import Op
from sync.protocol import ClientMessage, Edit, EditError, Resync, Revision, ServerMessage, Synced
from sync.server import Placement, Sequencer

VECTORS = Path(__file__).parent / "vectors"
JSONValue = Any

# Pieces that random texts are made of: ASCII, Latin with precomposed and combining accents,
# CJK, astral characters (two UTF-16 units each), Hebrew and Arabic, CR LF and private use.
PIECES = [
    "a", "b", "c", "d", " ", " ", "\n", "é", "e\u0301", "字", "中文",
    "😀", "𝄞", "👍🏽", "שלום", "مرحبا", "\r\n", "\t", "\ue000", "x😀y",
]  # fmt: skip


def random_text(rng: random.Random, pieces: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(pieces))


def random_op(rng: random.Random, base: str, edits: int = 2) -> Op:
    """An operation on ``base`` with up to ``edits`` changes, often at the same few spots."""
    builder = ops.OpBuilder()
    hotspots = [0, len(base), len(base) // 2]
    count = rng.randint(1, edits)
    spots = sorted({rng.choice([*hotspots, rng.randint(0, len(base))]) for _ in range(count)})
    done = 0
    for spot in spots:
        builder.retain(max(0, spot - done))
        done = max(done, spot)
        deleted = min(rng.choice([0, 0, 1, 2, 5]), len(base) - done)
        builder.delete(base[done : done + deleted])
        done += deleted
        if deleted == 0 or rng.random() < 0.6:
            builder.insert(random_text(rng, rng.randint(1, 3)))
    builder.retain(len(base) - done)
    return builder.build()


def hunks_json(hunks: list[patches.Hunk]) -> list[JSONValue]:
    return [
        {
            "start1": h.start1,
            "length1": h.length1,
            "start2": h.start2,
            "length2": h.length2,
            "diffs": [[kind, data] for kind, data in h.diffs],
        }
        for h in hunks
    ]


def outcome(func: Callable[..., JSONValue], *args: Any) -> dict[str, JSONValue]:
    """``{"result": func(*args)}``, or ``{"error": class name}`` if it raises."""
    try:
        return {"result": func(*args)}
    except (SyncError, ValueError, IndexError) as exc:
        return {"error": type(exc).__name__}


# -- text ------------------------------------------------------------------------------------

TEXT_SAMPLES = [
    "",
    "hello",
    "héllo wörld",
    "e\u0301 a\u0308\u0304",  # combining marks
    "中文字符，日本語のテキスト",
    "😀",
    "a😀b𝄞c",
    "👍🏽👨‍👩‍👧",  # skin tone modifier and a ZWJ sequence
    "שלום עולם مرحبا",
    "line one\r\nline two\r\n",
    "tab\there",
    "\ufeffbom",
    "\ue000\uf8ff private use",
    "\U0010fffd last plane",
    "\ud800",
    "a\udc00b",
    "😀\ud83d",
    "\x00",
    "ok\x01",
    "\x08\x0b\x0c\x0e\x1f",
    "\x7f\x80\x9f",  # allowed by XML 1.0
    "a\ufffe",
    "\uffff",
    "\ufffd",
]


def text_vectors() -> dict[str, JSONValue]:
    checksums = []
    for sample in TEXT_SAMPLES:
        case: dict[str, JSONValue] = {
            "text": sample,
            "checksum": text.checksum(sample),
            "checksum_v1": text.checksum_v1(sample),
            "invalid": text.find_invalid(sample),
        }
        try:
            text.validate_text(sample, what="sample")
        except SyncError as exc:
            case["message"] = str(exc)
        checksums.append(case)
    conversions = []
    for sample in TEXT_SAMPLES:
        if text.find_invalid(sample) is not None:
            continue
        units = text.utf16_length(sample)
        conversions.append(
            {
                "text": sample,
                "utf16_length": units,
                "to_utf16": [
                    [i, outcome(text.codepoint_to_utf16, sample, i)]
                    for i in range(-1, len(sample) + 2)
                ],
                "to_codepoint": [
                    [i, outcome(text.utf16_to_codepoint, sample, i)] for i in range(-1, units + 2)
                ],
            }
        )
    lengths = [
        [value, outcome(text.checksum_length, value)]
        for value in [
            *CHECKSUM_LENGTHS,
            *(text.checksum(sample) for sample in TEXT_SAMPLES[:8]),
            *(text.checksum_v1(sample) for sample in TEXT_SAMPLES[:8]),
        ]
    ]
    return {"checksum": checksums, "utf16": conversions, "checksum_length": lengths}


# Only ASCII digits make a length: str.isdigit() alone would take these.
CHECKSUM_LENGTHS = [
    "12:0000abcd",
    "0:",
    ":0",
    "abc",
    "12",
    "-1:0",
    "+1:0",
    " 1:0",
    "1 :0",
    "\u0661\u0662:0",  # Arabic-Indic digits
    "\uff11:0",  # fullwidth 1
    "\u00b2:0",  # superscript 2
    "1\u0967:0",  # Devanagari 1
]


# -- checksums -------------------------------------------------------------------------------

K = text.K


def _repeat_text(rng: random.Random, length: int) -> str:
    """Text with long repeats (so windows recur) and every kind of character."""
    unit = random_text(rng, rng.randint(1, 4))
    return "".join(unit if rng.random() < 0.7 else random_text(rng, 1) for _ in range(length))


def checksum_texts(rng: random.Random) -> list[str]:
    return [
        "",
        "a",
        "ab",
        "ba",
        "x" * (K - 1),
        "x" * K,
        "x" * (K + 1),
        "😀" * (2 * K),
        "ab" * K,
        "ba" * K,
        "a" * K + "b" + "a" * K,
        "a" * K + "c" + "a" * K,
        "\ud800",
        "a\udc00b",
        "😀\ud83d",
        "\U0010fffd" * 3,
        *(random_text(rng, n) for n in (1, 5, 20, 60, 200)),
        *(_repeat_text(rng, n) for n in (10, 40)),
    ]


def spaced_op(rng: random.Random, base: str) -> Op:
    """Several changes, with gaps around K - 1 between them (so that their windows meet,
    touch or stay apart), at either end too."""
    builder = ops.OpBuilder()
    done = rng.choice([0, 0, rng.randint(0, min(3, len(base)))])
    builder.retain(done)
    while done < len(base):
        deleted = min(rng.choice([0, 0, 1, 2, K, 3 * K]), len(base) - done)
        builder.delete(base[done : done + deleted])
        done += deleted
        if deleted == 0 or rng.random() < 0.5:
            builder.insert(random_text(rng, rng.choice([1, 1, 2, K])))
        gap = min(rng.choice([0, 1, K - 3, K - 2, K - 1, K, 2 * K]), len(base) - done)
        builder.retain(gap)
        done += gap
    if rng.random() < 0.5:
        builder.insert(random_text(rng, rng.randint(1, 3)))
    return builder.build()


def checksum_vectors() -> dict[str, JSONValue]:
    rng = random.Random(5)
    texts = checksum_texts(rng)
    full = [
        {"text": t, "checksum": text.checksum(t), "checksum_v1": text.checksum_v1(t)} for t in texts
    ]
    cases: list[tuple[str, Op]] = [
        ("", ops.replace(0, 0, "", "hello 😀")),  # from empty
        ("hello 😀", ops.replace(7, 0, "hello 😀", "")),  # to empty
        ("x" * 40, ops.replace(40, 0, "", "😀")),  # at the start
        ("x" * 40, ops.replace(40, 40, "", "😀")),  # at the end
        ("x" * 40, ops.replace(40, 20, "x", "y")),  # a same-length substitution
        ("ab" * 30, ops.replace(60, 10, "ab" * 20, "")),  # a long delete
        ("ab" * 30, ops.replace(60, 31, "", "ba" * 40)),  # a long insert
    ]
    for t in texts:
        if t and text.find_invalid(t) is None:
            cases.append((t, random_op(rng, t, edits=3)))
            cases.append((t, spaced_op(rng, t)))
    updates = []
    for base, op in cases:
        new = ops.apply(base, op)
        old = text.checksum(base)
        assert text.update_checksum(old, base, op, new) == text.checksum(new)
        updates.append(
            {"text": base, "checksum": old, "op": ops.to_json(op), "result": text.checksum(new)}
        )
    values = [text.checksum("abc"), text.checksum_v1("abc"), "3:0", "3:" + "0" * 12, "abc"]
    versions = [[value, text.checksum_version(value)] for value in [*values, "3:" + "0" * 17]]
    matches = [
        [t, value, text.checksum_matches(t, value)]
        for t in ("abc", "abd")
        for value in [*values, text.checksum("abc").upper()]
    ]
    return {
        "full": full,
        "update": updates,
        "version": versions,
        "matches": matches,
        "fold": fold_cases(),
    }


def fold_cases() -> list[JSONValue]:
    """``fold`` with and without the copy's own checksum, for revisions of both versions,
    and for copies that drifted from the server's text."""
    server = "Pack my box with five dozen liquor jugs. 😀 The quick brown fox jumps over."
    op = ops.replace(len(server), server.index("liquor"), "liquor", "wine")
    after = ops.apply(server, op)
    patch = patches.patch_text(server, op)
    v2, v1 = text.checksum(after), text.checksum_v1(after)

    def revision(value: str) -> Revision:
        return Revision(7, 6, "Ann", protocol.OpId("ann", 3), patch, value)

    # Drifted 10 characters before the change: inside its windows, outside its context.
    near = server.replace("five", "fivE")
    far = server[:-3] + "X" + server[-2:]  # drifted far from it, by one character
    shorter = server[:-3] + server[-2:]  # drifted far from it, one character shorter
    runs = [
        (server, text.checksum(server), revision(v2)),
        (server, None, revision(v2)),
        (server, text.checksum_v1(server), revision(v2)),
        (server, text.checksum(server), revision(v1)),
        (server, None, revision(v1)),
        (server, text.checksum(server), revision("80:" + "0" * 16)),
        (server, text.checksum(server), revision("80:0")),
        # A copy that differs from the server's, with its own checksum: caught however far
        # the difference is from the change.
        (far, text.checksum(far), revision(v2)),
        (far, None, revision(v2)),
        (shorter, text.checksum(shorter), revision(v2)),
        # A copy changed behind the engine's back, its checksum still the server's: caught
        # where the revision's windows read it.
        (near, text.checksum(server), revision(v2)),
        # The limit of an update (docs/protocol.md, "Checksums"): a copy changed behind the
        # engine's back, far from later changes and with the same length, still passes.
        (far, text.checksum(server), revision(v2)),
    ]
    out: list[JSONValue] = []
    for copy, known, rev in runs:
        case: dict[str, JSONValue] = {"text": copy, "known": known, "revision": rev.to_wire()}
        case.update(outcome(_fold_json, copy, rev, known))
        out.append(case)
    return out


def _fold_json(copy: str, revision: Revision, known: str | None) -> JSONValue:
    new_text, op = fold(copy, revision, known)
    return {"text": new_text, "op": ops.to_json(op)}


# -- ops -------------------------------------------------------------------------------------


def ops_vectors() -> dict[str, JSONValue]:
    rng = random.Random(1)
    cases: dict[str, list[JSONValue]] = {
        "normalize": [],
        "apply": [],
        "compose": [],
        "transform": [],
        "invert": [],
        "transform_position": [],
        "diffs": [],
        "replace": [],
    }
    noncanonical = [
        [{"retain": 0}, {"insert": ""}, {"delete": ""}],
        [{"retain": 1}, {"retain": 2}, {"insert": "a"}, {"insert": "😀"}],
        [{"insert": "x"}, {"delete": "a"}, {"insert": "y"}, {"delete": "😀"}, {"retain": 1}],
        [{"delete": "a"}, {"insert": "x"}, {"delete": "b"}],
    ]
    for components in noncanonical:
        cases["normalize"].append(
            {"op": components, "result": ops.to_json(ops.from_json(components))}
        )
    for _ in range(40):
        base = random_text(rng, rng.randint(0, 8))
        a = random_op(rng, base)
        b = random_op(rng, base, edits=3)
        after_a = ops.apply(base, a)
        c = random_op(rng, after_a)
        cases["apply"].append({"text": base, "op": ops.to_json(a), "result": after_a})
        cases["compose"].append(
            {"a": ops.to_json(a), "b": ops.to_json(c), "result": ops.to_json(ops.compose(a, c))}
        )
        cases["transform"].append(
            {
                "base": base,
                "op": ops.to_json(a),
                "other": ops.to_json(b),
                "other_first": ops.to_json(ops.transform(a, b)),
                "op_first": ops.to_json(ops.transform(a, b, other_first=False)),
            }
        )
        cases["invert"].append({"op": ops.to_json(a), "result": ops.to_json(ops.invert(a))})
        for position in sorted({0, len(base) // 2, len(base), rng.randint(0, len(base))}):
            for stick_left in (False, True):
                case = {"position": position, "op": ops.to_json(a), "stick_left": stick_left}
                case["result"] = ops.transform_position(position, a, stick_left=stick_left)
                cases["transform_position"].append(case)
        cases["diffs"].append(
            {
                "base": base,
                "op": ops.to_json(a),
                "diffs": [[kind, data] for kind, data in ops.to_diffs(base, a)],
            }
        )
    for base, components in [
        ("abc", [{"retain": 2}]),
        ("abc", [{"retain": 4}]),
        ("a😀c", [{"retain": 1}, {"delete": "😁"}, {"retain": 1}]),
        ("abc", [{"retain": 3}, {"delete": "d"}]),
    ]:
        cases["apply"].append(
            {"text": base, "op": components, **outcome(ops.apply, base, ops.from_json(components))}
        )
    for a_json, b_json in [
        ([{"retain": 2}], [{"retain": 3}]),
        ([{"insert": "ab"}], [{"delete": "ax"}]),
    ]:
        cases["compose"].append(
            {"a": a_json, "b": b_json, **outcome(_compose_json, a_json, b_json)}
        )
    for a_json, b_json in [
        ([{"retain": 2}], [{"retain": 3}]),
        ([{"delete": "ab"}], [{"delete": "ax"}]),
    ]:
        failed = outcome(_transform_json, a_json, b_json)
        cases["transform"].append({"op": a_json, "other": b_json, "error": failed["error"]})
    for length, position, deleted, inserted in [
        (5, 0, "", "x"),
        (5, 5, "", "😀"),
        (5, 2, "cd", "中"),
        (5, 4, "ef", ""),
        (5, -1, "", "x"),
        (0, 1, "", "x"),
    ]:
        cases["replace"].append(
            {
                "length": length,
                "position": position,
                "delete": deleted,
                "insert": inserted,
                **outcome(_replace_json, length, position, deleted, inserted),
            }
        )
    return cases


def _compose_json(a: JSONValue, b: JSONValue) -> JSONValue:
    return ops.to_json(ops.compose(ops.from_json(a), ops.from_json(b)))


def _transform_json(a: JSONValue, b: JSONValue) -> JSONValue:
    return ops.to_json(ops.transform(ops.from_json(a), ops.from_json(b)))


def _replace_json(length: int, position: int, deleted: str, inserted: str) -> JSONValue:
    return ops.to_json(ops.replace(length, position, deleted, inserted))


# -- patches ---------------------------------------------------------------------------------

# Patch texts that exercise the strict reader: every rule it enforces, and the leniencies it
# shares with diff-match-patch (optional lengths, lowercase escapes, raw non-ASCII text).
HANDWRITTEN_PATCHES = [
    ("", 0),
    ("@@ -1 +1 @@\n-a\n+b\n", 1),
    ("@@ -1,1 +1,1 @@\n-a\n+b\n", 1),
    ("@@ -1, +1, @@\n-a\n+b\n", 1),
    ("@@ -3,0 +3,2 @@\n+ab\n", 2),
    ("@@ -1 +1 @@\n-%f0%9f%98%80\n+b\n", 1),
    ("@@ -1 +1 @@\n-é\n+中\n", 1),
    ("@@ -1 +1 @@\n-%EF%BB%BF\n+b\n", 1),
    ("@@ -1,3 +1,3 @@\n a\n-%0D\n+%0A\n b\n", 3),
    ("@@ -1 +1 @@\n-%ZZ\n+b\n", 1),
    ("@@ -1 +1 @@\n-%\n+b\n", 1),
    ("@@ -1 +1 @@\n-%4\n+b\n", 1),
    ("@@ -1 +1 @@\n-%C3\n+b\n", 1),
    ("@@ -1 +1 @@\n-%C0%AF\n+b\n", 1),
    ("@@ -1 +1 @@\n-%ED%A0%80\n+b\n", 1),
    ("@@ -1 +1 @@\n-%F0%9F%98%80%F0\n+b\n", 1),
    ("@@ -1 +1 @@\n-%C3é\n+b\n", 1),
    ("@@ -1 +1 @@\n-%01\n+b\n", 1),
    ("@@ -1 +1 @@\n-%EF%BF%BE\n+b\n", 1),
    ("@@ -1 +1 @@\n-\x01\n+b\n", 1),
    ("@@ -0 +0 @@\n-a\n", 1),
    ("@@ -1,2 +1,2 @@\n-a\n+b\n", 1),
    ("@@ -1 +1 @@\r\n-a\r\n+b\r\n", 1),
    ("@@ -1 +1@@\n-a\n+b\n", 1),
    ("@@ -a +1 @@\n-a\n+b\n", 1),
    ("x\n@@ -1 +1 @@\n-a\n+b\n", 1),
    ("@@ -1 +1 @@\n\n-a\n+b\n", 1),
    ("@@ -1 +1 @@\n-a\n+b\n\n", 1),
    ("@@ -1 +1 @@\n*a\n+b\n", 1),
    ("@@ -5 +5 @@\n-a\n+b\n", 2),
    ("@@ -1,2 +1,2 @@\n-ab\n+cd\n@@ -1 +1 @@\n-c\n+x\n", 4),
    ("@@ -2 +2 @@\n-b\n+x\n@@ -1 +1 @@\n-a\n+y\n", 4),
    # Header numbers are ASCII digits only (Python's \d would also take these).
    ("@@ -\u0661 +\u0661 @@\n-a\n+b\n", 1),  # Arabic-Indic 1
    ("@@ -1 +\uff11 @@\n-a\n+b\n", 1),  # fullwidth 1
    ("@@ -1,\u00b2 +1,2 @@\n-ab\n+cd\n", 2),  # superscript 2
    ("@@ -1\u0967 +1 @@\n-a\n+b\n", 20),  # Devanagari 1
    # Raw (unescaped) text must be valid by itself, checked before escapes are decoded.
    ("@@ -1 +1 @@\n-\ud800\n+b\n", 1),
    ("@@ -1 +1 @@\n-a\n+x\udc00y\n", 1),
    ("@@ -1 +1 @@\n-\ud83d%F0\n+b\n", 1),  # a lone surrogate and a bad escape
    ("@@ -1 +1 @@\n-%\x01\n+b\n", 1),  # a forbidden character and a bad escape
    ("@@ -1 +1 @@\n-😀\n+b\n", 1),  # raw astral text is a character
]


def patch_texts(rng: random.Random) -> Iterator[tuple[str, Op]]:
    """Texts and operations whose patches cover single and multiple hunks, context grown
    until unique (repeated text) or to diff-match-patch's limit, and hunks whose context
    overlaps the changes of their neighbours."""
    for _ in range(30):
        base = random_text(rng, rng.randint(0, 12))
        yield base, random_op(rng, base)
    for _ in range(20):
        base = random_text(rng, rng.randint(20, 40))
        yield base, random_op(rng, base, edits=5)
    repeated = "ab cd ef " * 6 + "😀 ab cd ef " * 3
    for _ in range(10):
        yield repeated, random_op(rng, repeated, edits=4)
    # Changes 9 apart: the first hunk's trailing context reaches into the second's change.
    spaced = "0123456789abcdefghijklmnopqrstuvwxyz"
    yield (
        spaced,
        ops.from_json(
            [{"retain": 5}, {"insert": "X"}, {"retain": 9}, {"delete": "ef"}, {"retain": 20}]
        ),
    )
    yield "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ops.replace(40, 20, "a", "b")


def patch_vectors() -> dict[str, JSONValue]:
    rng = random.Random(2)
    make, parse, apply = [], [], []
    for base, op in patch_texts(rng):
        hunks = patches.make_patch(base, op)
        wire = patches.format_patch(hunks)
        make.append(
            {"text": base, "op": ops.to_json(op), "hunks": hunks_json(hunks), "patch": wire}
        )
        parse.append(_parse_case(wire, len(base)))
        apply.append({"text": base, "patch": wire, **outcome(apply_json, base, wire)})
        if len(base) > 2:
            # The same patch on a text changed at one spot, or a shorter text: refused.
            at = rng.randrange(len(base))
            changed = base[:at] + ("Z" if base[at] != "Z" else "Y") + base[at + 1 :]
            apply.append({"text": changed, "patch": wire, **outcome(apply_json, changed, wire)})
            apply.append({"text": base[1:], "patch": wire, **outcome(apply_json, base[1:], wire)})
    for wire, base_length in HANDWRITTEN_PATCHES:
        parse.append(_parse_case(wire, base_length))
    return {"make": make, "parse": parse, "apply": apply}


def _parse_case(wire: str, base_length: int) -> dict[str, JSONValue]:
    try:
        hunks = patches.parse_patch(wire)
    except SyncError as exc:
        return {"patch": wire, "error": type(exc).__name__}
    case = {"patch": wire, "hunks": hunks_json(hunks), "base_length": base_length}
    try:
        op, checks = patches.op_from_patch(hunks, base_length)
    except SyncError as exc:
        return {**case, "op_error": type(exc).__name__}
    checks_json = [
        {"position": c.position, "text": c.text, "in_result": c.in_result} for c in checks
    ]
    return {**case, "op": ops.to_json(op), "checks": checks_json}


def apply_json(base: str, wire: str) -> JSONValue:
    new_text, op = patches.apply_patch(base, patches.parse_patch(wire))
    return {"text": new_text, "op": ops.to_json(op)}


# -- protocol --------------------------------------------------------------------------------


def protocol_vectors() -> list[JSONValue]:
    revision = Revision(3, 2, "Ann", protocol.OpId("ann.1", 4), "@@ -1 +1 @@\n-a\n+b\n", "1:0")
    good: list[JSONValue] = [
        Edit(0, protocol.OpId("a", 1), "").to_wire(),
        Edit(0, protocol.OpId("a", 1), "", intent.Intent.FORWARD).to_wire(),
        Edit(0, protocol.OpId("a", 1), "", intent.Intent.BACKWARD).to_wire(),
        Edit(0, protocol.OpId("a", 1), "", intent.Intent.NONE).to_wire(),
        {**Edit(0, protocol.OpId("a", 1), "").to_wire(), "intent": None},
        replace(revision, intent=intent.Intent.FORWARD).to_wire(),
        replace(revision, intent=intent.Intent.BACKWARD).to_wire(),
        {**revision.to_wire(), "intent": "none"},
        Resync("c-1_x.y~z", 7).to_wire(),
        Resync("c", 0, full=True).to_wire(),
        {"type": "resync", "client": "c", "since": 2},
        revision.to_wire(),
        {**revision.to_wire(), "extra": "ignored"},
        protocol.Snapshot(5, "te😀xt", text.checksum("te😀xt"), 2).to_wire(),
        Synced(9).to_wire(),
        EditError(protocol.OpId("a", 2), "patch-rejected", "no").to_wire(),
    ]
    bad: list[JSONValue] = [
        None,
        [],
        "edit",
        {},
        {"type": "ping"},
        {"type": "edit", "client": "a", "seq": 1, "patch": ""},
        {"type": "edit", "base": -1, "client": "a", "seq": 1, "patch": ""},
        {"type": "edit", "base": "0", "client": "a", "seq": 1, "patch": ""},
        {"type": "edit", "base": True, "client": "a", "seq": 1, "patch": ""},
        {"type": "edit", "base": 0.5, "client": "a", "seq": 1, "patch": ""},
        {"type": "edit", "base": 0, "client": "", "seq": 1, "patch": ""},
        {"type": "edit", "base": 0, "client": "a b", "seq": 1, "patch": ""},
        {"type": "edit", "base": 0, "client": "x" * 65, "seq": 1, "patch": ""},
        {"type": "edit", "base": 0, "client": "é", "seq": 1, "patch": ""},
        {"type": "edit", "base": 0, "client": 5, "seq": 1, "patch": ""},
        {"type": "edit", "base": 0, "client": "a", "seq": 1, "patch": None},
        {"type": "edit", "base": 0, "client": "a", "seq": 1, "patch": "", "intent": "legacy"},
        {"type": "edit", "base": 0, "client": "a", "seq": 1, "patch": "", "intent": "Forward"},
        {"type": "edit", "base": 0, "client": "a", "seq": 1, "patch": "", "intent": 1},
        {"type": "edit", "base": 0, "client": "a", "seq": 1, "patch": "", "intent": False},
        {**revision.to_wire(), "intent": "sideways"},
        {"type": "resync", "client": "c", "since": 0, "full": "yes"},
        {"type": "resync", "client": "c", "since": 0, "full": None},
        {"type": "revision", **{k: v for k, v in revision.to_wire().items() if k != "checksum"}},
        {"type": "snapshot", "rev": 1, "text": "a", "checksum": "1:0"},
        {"type": "synced"},
        {"type": "error", "code": "x", "message": "y", "client": "a"},
    ]
    cases: list[JSONValue] = []
    for wire in good + bad:
        try:
            cases.append({"wire": wire, "message": protocol.from_wire(wire).to_wire()})
        except SyncError as exc:
            cases.append({"wire": wire, "error": type(exc).__name__})
    return cases


# -- typing intent -------------------------------------------------------------------------


def intent_vectors() -> dict[str, JSONValue]:
    values = [i.value for i in intent.Intent]
    tie = [
        [earlier, later, intent.later_goes_first(intent.Intent(earlier), intent.Intent(later))]
        for earlier in values
        for later in values
    ]
    rng = random.Random(5)
    typed: list[JSONValue] = []
    map_run: list[JSONValue] = []
    base = "abcdef"
    handwritten: list[tuple[tuple[int, int] | None, Op]] = [
        ((3, 4), ops.replace(6, 4, "", "x")),  # forwards
        ((3, 4), ops.replace(6, 3, "", "x")),  # backwards
        ((3, 4), ops.replace(6, 1, "", "x")),  # elsewhere
        (None, ops.replace(6, 4, "", "x")),  # no run yet
        ((3, 3), ops.replace(6, 3, "", "x")),  # after a backspace
        ((3, 4), ops.replace(6, 4, "de", "x")),  # over a selection right after the run
        ((3, 4), ops.replace(6, 3, "d", "é")),  # over the run's own letter
        ((3, 4), ops.replace(6, 0, "ab", "")),  # a delete only
        ((3, 4), ops.from_json([{"insert": "y"}, {"retain": 6}, {"insert": "x"}])),
        ((0, 6), ops.replace(6, 6, "", "😀z")),
    ]
    cases = list(handwritten)
    for _ in range(60):
        start = rng.randint(0, len(base))
        end = rng.randint(start, len(base))
        run = None if rng.random() < 0.1 else (start, end)
        cases.append((run, random_op(rng, base, rng.randint(1, 2))))
    for run, op in cases:
        found, after = intent.typed(run, op)
        typed.append(
            {
                "run": None if run is None else list(run),
                "op": ops.to_json(op),
                "intent": None if found is None else found.value,
                "result": None if after is None else list(after),
            }
        )
        moved = intent.map_run(run, op)
        map_run.append(
            {
                "run": None if run is None else list(run),
                "op": ops.to_json(op),
                "result": None if moved is None else list(moved),
            }
        )
    return {"tie": tie, "typed": typed, "map_run": map_run}


# -- merge -----------------------------------------------------------------------------------


# Pieces for texts whose changes can slide along repeated text, with every kind of character
# diff_cleanupSemanticLossless scores: ASCII and non-ASCII letters and digits, astral letters
# and digits (alphanumeric in Python; their private-use stand-ins in the JavaScript twin are
# not), astral symbols, spaces that only Python or only JavaScript's \s counts, line breaks,
# blank lines, punctuation, combining marks, a character only newer Unicode assigns, and
# private use.
WORDS = [
    "one", "two", "the", "cat", "a", "ab", "ba", " ", " ", " ", "  ", "\n", "\n\n", "\r\n",
    "\r\n\r\n", "\t", ".", ",", "-", "_", "1", "é", "e\u0301", "字", "中文", "שלום", "٣",
    "Ⅻ", "½", "²", "😀", "𝄞", "👍🏽", "𝐀", "𝟙", "𠀀", "\U00031350", "\u00a0", "\u3000",
    "\u2028", "\u0085", "\ufeff", "\ue000", "x😀y", "a b", "b a",
]  # fmt: skip


def word_text(rng: random.Random, pieces: int) -> str:
    return "".join(rng.choice(WORDS) for _ in range(pieces))


def word_op(rng: random.Random, base: str, edits: int = 2) -> Op:
    """Like :func:`random_op`, inserting pieces of :data:`WORDS` or copies of the neighbouring
    text (changes that can slide), or deleting a few characters."""
    builder = ops.OpBuilder()
    spots = sorted({rng.randint(0, len(base)) for _ in range(rng.randint(1, edits))})
    done = 0
    for spot in spots:
        builder.retain(max(0, spot - done))
        done = max(done, spot)
        roll = rng.random()
        if roll < 0.25:
            builder.insert(word_text(rng, rng.randint(1, 2)))
        elif roll < 0.5 and done > 0:
            # Repeat what comes before or after: a change that slides.
            builder.insert(base[done - rng.randint(1, min(done, 6)) : done])
        elif roll < 0.75 and done < len(base):
            builder.insert(base[done : done + rng.randint(1, 6)])
        else:
            deleted = base[done : done + rng.randint(1, 6)]
            builder.delete(deleted)
            done += len(deleted)
    builder.retain(len(base) - done)
    return builder.build()


# Words and what separates them, for sentences that lose or repeat a few words.
LETTERS = ["one", "two", "the", "a", "é", "字", "שלום", "٣", "Ⅻ", "½", "𝐀", "𝟙", "𠀀", "😀", "𝄞",
           "x😀y", "e\u0301", "1", "_", "\U00031350"]  # fmt: skip
SEPARATORS = [" ", " ", "  ", "\n", "\n\n", "\r\n", "\r\n\r\n", "\t", ". ", ", ", "-", "😀",
              "\u00a0", "\u3000", "\u2028", "\u0085", "\ufeff", "\ue000", ""]  # fmt: skip


def sentence_edit(rng: random.Random) -> tuple[str, str]:
    """A sentence, and the same with a few words (and separators) dropped or repeated."""
    tokens = [rng.choice(pool) for _ in range(rng.randint(2, 7)) for pool in (LETTERS, SEPARATORS)]
    i = rng.randrange(len(tokens) - 1)
    j = min(len(tokens), i + rng.choice([1, 2, 2, 3, 4]))
    roll = rng.random()
    if roll < 0.45:
        edited = tokens[:i] + tokens[j:]
    elif roll < 0.9:
        edited = tokens[:j] + tokens[i:j] + tokens[j:]
    else:
        edited = [*tokens[:i], rng.choice(LETTERS), *tokens[i:]]
    return "".join(tokens), "".join(edited)


def _swap(base: str, old: str, new: str) -> Op:
    """``base`` with its first ``old`` replaced by ``new``."""
    return ops.replace(len(base), base.index(old), old, new)


def _insert(base: str, position: int, new: str) -> Op:
    return ops.replace(len(base), position, "", new)


_FOX = "The quick brown fox jumps over the lazy dog."

# Three-way merges: (base, local changes on base, the snapshot the server sent).
MERGES: list[tuple[str, Op, str]] = [
    # Text the server already deleted is not deleted again, nor its neighbours.
    ("one two three", _swap("one two three", "two ", ""), "one three"),
    ("one two three", _swap("one two three", "two ", "2 "), "one three"),
    # Where the server's deletion aligns two ways, the word-boundary cleanup picks one; here
    # it is " two," (punctuation before a space scores best), so with the local "two, " one
    # space too many goes.
    ("one, two, three", _swap("one, two, three", "two, ", ""), "one, three"),
    ("über straße drei", _swap("über straße drei", "straße ", ""), "über drei"),
    ("a😀 b😀 c", _swap("a😀 b😀 c", "b😀 ", ""), "a😀 c"),
    # Changes longer than diff-match-patch's 32-character matcher, on both sides.
    (_FOX, _swap(_FOX, "quick brown fox jumps over the lazy", "slow cat"), _FOX[4:-1] + "!"),
    (
        _FOX,
        _swap(_FOX, ".", " and the 😀😀😀 emoji cat sleeps all day long."),
        _FOX + " Then it rained for a very long time.",
    ),
    (_FOX, _swap(_FOX, "brown", "red"), "The dog."),
    # Inserts whose context vanished survive, once.
    (
        "the quick brown fox",
        ops.compose(
            _swap("the quick brown fox", "quick ", ""), _insert("the brown fox", 13, " jumps")
        ),
        "0123456789 0123456789",
    ),
    ("keep this sentence here", _swap("keep this sentence here", "this", "that"), "keep here"),
    ("abcdef", ops.from_json([{"delete": "abcd"}, {"retain": 2}, {"insert": "XY"}]), "ab"),
    ("hello world", _insert("hello world", 8, "X"), ""),
    # Both insert at one place: the server's text comes first.
    ("ab", _insert("ab", 1, "X"), "aYb"),
    ("", _insert("", 0, "mine"), "theirs"),
    (
        "alpha\nbeta\ngamma\n",
        _swap("alpha\nbeta\ngamma\n", "beta", "BETA"),
        "zero\nalpha\nbeta\ngamma\n",
    ),
    (
        "line one\nline two\nline three\n",
        _insert("line one\nline two\nline three\n", 29, "line four\n"),
        "> line one\nline two\nline three\nother 1\nother 2\n",
    ),
    ("a😀b\r\nc", _insert("a😀b\r\nc", 0, ">"), "a😁b\nc字"),
    ("\ue000😀\ue001", _swap("\ue000😀\ue001", "😀", "𝄞"), "\ue001😀\ue000𝄞"),
]


def merge_vectors() -> dict[str, JSONValue]:
    rng = random.Random(3)
    between, rebase = [], []
    for _ in range(40):
        old = random_text(rng, rng.randint(0, 15))
        new = ops.apply(old, random_op(rng, old, edits=3))
        between.append({"old": old, "new": new, "op": ops.to_json(merge.changes_between(old, new))})
    merges = list(MERGES)
    for _ in range(30):
        base = random_text(rng, rng.randint(5, 25))
        changes = random_op(rng, base, edits=2)
        merges.append((base, changes, ops.apply(base, random_op(rng, base, edits=3))))
    # Many changes that diff_cleanupSemanticLossless slides to a word boundary: the JavaScript
    # twin must score every boundary as Python does.
    words = random.Random(4)
    for _ in range(400):
        old = word_text(words, words.randint(2, 12))
        new = ops.apply(old, word_op(words, old, edits=2))
        between.append({"old": old, "new": new, "op": ops.to_json(merge.changes_between(old, new))})
    for _ in range(300):
        old, new = sentence_edit(words)
        between.append({"old": old, "new": new, "op": ops.to_json(merge.changes_between(old, new))})
    # Texts that hold every private-use character themselves: the JavaScript twin narrows
    # astral characters to other BMP characters then.
    crowded = "".join(map(chr, range(0xE000, 0xF900)))
    old, new = f"{crowded} 𝐀𝐀 𝐀𝐀 c😀 d😀 😀", f"{crowded} 𝐀𝐀 c😀 d😀 😀 😀"
    between.append({"old": old, "new": new, "op": ops.to_json(merge.changes_between(old, new))})
    for _ in range(60):
        base = word_text(words, words.randint(3, 12))
        target = ops.apply(base, word_op(words, base, edits=3))
        merges.append((base, word_op(words, base, edits=2), target))
    for base, changes, target in merges:
        op = merge.rebase_onto(base, changes, target)
        rebase.append(
            {
                "base": base,
                "changes": ops.to_json(changes),
                "target": target,
                "op": ops.to_json(op),
                "result": merge.merge_onto(base, changes, target),
            }
        )
    return {"changes_between": between, "rebase_onto": rebase}


def _ranges(predicate: Callable[[str], bool]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for cp in range(sys.maxunicode + 1):
        if predicate(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return ranges


def unicode_vectors() -> dict[str, JSONValue]:
    """The character classes diff_cleanupSemanticLossless scores boundaries by: Python's
    ``str.isalnum`` and ``str.isspace``, as ranges of code points, under the Unicode version
    of the Python that generated them. The JavaScript twin carries the same table."""
    return {
        "version": unicodedata.unidata_version,
        "alnum": _ranges(str.isalnum),
        "space": _ranges(str.isspace),
    }


# -- sessions --------------------------------------------------------------------------------

NAMES = ("ann", "bob", "cy", "dee")


@dataclass(frozen=True)
class Scenario:
    """One recorded session: how many clients, how hostile the network, how short the
    server's memory. Probabilities are per delivered message (or per edit, for ``busy``)."""

    name: str
    seed: int
    clients: int = 3
    actions: int = 160
    text: str = ""
    history_limit: int = 1000
    max_length: int | None = None
    drop: float = 0.0  # a server message is lost (a gap, or a lost acknowledgement)
    duplicate: float = 0.0  # a server message arrives twice
    lose_edits: float = 0.0  # a client message is lost on the way
    busy: float = 0.0  # the server answers an edit with a retryable "busy" error
    tamper: float = 0.0  # the observed client gets a revision or snapshot with a bad checksum
    disconnects: float = 0.4  # weight of the "disconnect" action
    # "random" edits anywhere; "forward", "backward" or "mixed": every client types a run
    # of letters of its own at one spot (mixed: the first client backwards, the rest forwards)
    typing: str = "random"


SCENARIOS = [
    Scenario("calm", seed=11, text="hello world"),
    Scenario("calm-empty-start", seed=12, clients=2),
    Scenario("crowded", seed=13, clients=4, actions=200, text="abc"),
    Scenario("lossy", seed=14, text="the quick brown fox", drop=0.15, duplicate=0.15),
    Scenario("lossy-both-ways", seed=15, drop=0.1, duplicate=0.1, lose_edits=0.2),
    Scenario("short-history", seed=16, history_limit=2, disconnects=1.5, text="😀 start"),
    Scenario("short-history-lossy", seed=17, history_limit=3, disconnects=1.0, drop=0.1),
    Scenario("size-limit", seed=18, max_length=24, text="0123456789"),
    Scenario("busy-server", seed=19, busy=0.3, text="שלום world"),
    Scenario("drifted-copy", seed=20, tamper=0.15, text="中文 text"),
    Scenario("drifted-short-history", seed=23, tamper=0.3, history_limit=2, disconnects=1.0),
    # An edit that waits too long is refused as stale: caught up by snapshot, or by revisions.
    Scenario("stale-edits", seed=8, clients=4, history_limit=2, lose_edits=0.1),
    Scenario("stale-edits-rebased", seed=9, clients=4, history_limit=2, lose_edits=0.1),
    Scenario("everything", seed=21, clients=4, actions=240, history_limit=3, max_length=40,
             drop=0.08, duplicate=0.08, lose_edits=0.1, busy=0.1, tamper=0.05, disconnects=1.0),
    Scenario("everything-again", seed=22, history_limit=2, max_length=30, drop=0.1,
             duplicate=0.1, lose_edits=0.1, busy=0.1, tamper=0.05, disconnects=1.0),
    # Everyone types at one spot: the intents keep each run in one piece.
    Scenario("one-spot-forwards", seed=31, text="[]", typing="forward", disconnects=0.2),
    Scenario("one-spot-backwards", seed=32, text="[]", typing="backward", disconnects=0.2),
    Scenario("one-spot-mixed-lossy", seed=33, clients=3, text="<[]>", typing="mixed",
             drop=0.1, duplicate=0.1, lose_edits=0.1, busy=0.1),
]  # fmt: skip

# Each client's letters in a one-spot scenario come from its own block of code points.
RUN_BLOCKS = {"ann": 0x4E00, "bob": 0x0410, "cy": 0x05D0, "dee": 0x3041}


def client_state(client: SyncClient) -> dict[str, JSONValue]:
    return {
        "text": client.text,
        "shadow": client.shadow,
        "rev": client.rev,
        "state": client.state.value,
        "unconfirmed": client.unconfirmed_count,
    }


def run_call(
    client: SyncClient, step: dict[str, JSONValue], func: Callable[[SyncClient], Any]
) -> tuple[Any, dict[str, JSONValue]]:
    """Call ``func(client)``; return its result (None if it raised) and the step as recorded:
    what was called, what it returned or raised, the messages to send and the state after."""
    try:
        result = func(client)
    except SyncError as exc:
        # Only a corrupt snapshot may raise; anything else is a bug in the engine.
        if not isinstance(exc, ChecksumMismatch):
            raise
        result, step = None, {**step, "error": type(exc).__name__}
    out = result if isinstance(result, list) else []
    if isinstance(result, tuple):
        step = {**step, "returns": ops.to_json(result)}
    return result, {
        **step,
        "out": [message.to_wire() for message in out],
        "after": client_state(client),
    }


@dataclass
class Peer:
    client: SyncClient
    online: bool = False
    outbox: list[ClientMessage] = field(default_factory=list)  # on the way to the server
    inbox: list[ServerMessage] = field(default_factory=list)  # on the way to the client


class World:
    """A sequencer, its clients and the network between them, answering as ``app/`` does:
    a resync gets the revisions since and ``Synced(head)``, or a snapshot alone; a refused
    edit gets an ``EditError``; a duplicate gets its earlier revision again."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.server = Sequencer(
            scenario.text, history_limit=scenario.history_limit, max_length=scenario.max_length
        )
        names = NAMES[: scenario.clients]
        self.peers = {name: Peer(SyncClient(name, text=scenario.text)) for name in names}
        self.observed = names[0]
        self.steps: list[JSONValue] = []
        self.typed: dict[str, list[str]] = {name: [] for name in names}

    # -- calls on clients, recorded for the observed one

    def call(
        self, name: str, step: dict[str, JSONValue], func: Callable[[SyncClient], Any]
    ) -> None:
        peer = self.peers[name]
        result, recorded = run_call(peer.client, step, func)
        peer.outbox.extend(result if isinstance(result, list) else [])
        if name == self.observed:
            self.steps.append(recorded)

    def type_something(self, name: str) -> None:
        client = self.peers[name].client
        rng = self.rng
        if self.scenario.typing != "random":
            self.type_run(name)
            return
        roll = rng.random()
        if roll < 0.1:
            new_text = ops.apply(client.text, random_op(rng, client.text))
            self.call(name, {"do": "set_text", "text": new_text}, lambda c: c.set_text(new_text))
        elif roll < 0.2:
            op = random_op(rng, client.text)
            self.call(name, {"do": "edit", "op": ops.to_json(op)}, lambda c: c.edit(op))
        else:
            length = len(client.text)
            position = rng.choice([0, length, length // 2, rng.randint(0, length)])
            delete = min(rng.choice([0, 0, 1, 3]), length - position)
            insert = random_text(rng, rng.randint(0, 2))
            step = {"do": "replace", "position": position, "delete": delete, "insert": insert}
            self.call(name, step, lambda c: c.replace(position, delete, insert))

    def type_run(self, name: str) -> None:
        """``name`` types its next letter after (forwards) or before (backwards) its last."""
        client = self.peers[name].client
        letters = self.typed[name]
        typing = self.scenario.typing
        forward = typing == "forward" or (typing == "mixed" and name != NAMES[0])
        if letters:
            position = client.text.index(letters[-1]) + (1 if forward else 0)
        else:
            position = client.text.index("[") + 1
        letter = chr(RUN_BLOCKS[name] + len(letters))
        letters.append(letter)
        step = {"do": "replace", "position": position, "delete": 0, "insert": letter}
        self.call(name, step, lambda c: c.replace(position, 0, letter))

    def runs_problems(self) -> list[str]:
        """Each client's run, as typed, where it is not in one piece in the server's text."""
        typing = self.scenario.typing
        problems = []
        for name, letters in self.typed.items():
            forward = typing == "forward" or (typing == "mixed" and name != NAMES[0])
            run = "".join(letters if forward else reversed(letters))
            if run not in self.server.text:
                problems.append(f"{name}'s run {run!r} is split in {self.server.text!r}")
        return problems

    def connect(self, name: str) -> None:
        self.peers[name].online = True
        self.call(name, {"do": "connect"}, SyncClient.connect)

    def disconnect(self, name: str) -> None:
        peer = self.peers[name]
        # What was on its way when the connection broke reached the server, or was lost.
        if self.rng.random() < 0.5:
            while peer.outbox:
                self.serve(name)
        peer.online = False
        peer.outbox.clear()
        peer.inbox.clear()
        self.call(name, {"do": "disconnect"}, SyncClient.disconnect)

    # -- the network

    def serve(self, name: str, *, faults: bool = True) -> None:
        """The server takes the next message from ``name``."""
        peer = self.peers[name]
        message = peer.outbox.pop(0)
        if faults and self.rng.random() < self.scenario.lose_edits:
            return
        if isinstance(message, Resync):
            answer = self.server.catch_up(message.since, message.client, full=message.full)
            if isinstance(answer, list):
                peer.inbox.extend([*answer, Synced(self.server.rev)])
            else:
                peer.inbox.append(answer)
            return
        assert isinstance(message, Edit)
        if faults and self.rng.random() < self.scenario.busy:
            peer.inbox.append(EditError(message.op_id, "busy", "the server is busy; try again"))
            return
        try:
            result = self.server.submit(message, name)
        except SyncError as exc:
            peer.inbox.append(EditError(message.op_id, exc.code, str(exc)))
            return
        if result.placement is Placement.DUPLICATE:
            peer.inbox.append(result.revision)
            return
        for other in self.peers.values():
            if other.online:
                other.inbox.append(result.revision)

    def deliver(self, name: str, *, faults: bool = True) -> None:
        """``name`` receives the next message the server sent it."""
        peer = self.peers[name]
        rng, scenario = self.rng, self.scenario
        message = peer.inbox[0]
        if not (faults and rng.random() < scenario.duplicate):
            peer.inbox.pop(0)
        if faults and rng.random() < scenario.drop:
            return
        tamper = faults and name == self.observed and rng.random() < scenario.tamper
        if tamper and isinstance(message, (Revision, protocol.Snapshot)):
            message = replace(message, checksum="0:" + "0" * 16)
        self.call(
            name, {"do": "receive", "message": message.to_wire()}, lambda c: c.receive(message)
        )

    # -- schedules

    def run(self) -> None:
        scenario, rng = self.scenario, self.rng
        for name in self.peers:
            if rng.random() < 0.7:
                self.connect(name)
        actions: list[tuple[float, Callable[[], None]]] = [
            (4, lambda: self.type_something(rng.choice(list(self.peers)))),
            (2, lambda: self.call(self.pick(online=True), {"do": "flush"}, SyncClient.flush)),
            (4, lambda: self.serve(self.pick(outbox=True))),
            (5, lambda: self.deliver(self.pick(inbox=True))),
            (scenario.disconnects, lambda: self.disconnect(self.pick(online=True))),
            (1, lambda: self.connect(self.pick(online=False))),
            (0.5, lambda: self.call(self.pick(), {"do": "resend"}, SyncClient.resend)),
        ]
        weights = [weight for weight, _ in actions]
        done = 0
        while done < scenario.actions:
            _, action = rng.choices(actions, weights)[0]
            try:
                action()
            except LookupError:
                continue  # no client fits that action now
            done += 1
        self.settle()

    def pick(self, *, online: bool | None = None, outbox: bool = False, inbox: bool = False) -> str:
        names = [
            name
            for name, peer in self.peers.items()
            if (online is None or peer.online == online)
            and (peer.outbox or not outbox)
            and (peer.inbox or not inbox)
        ]
        if not names:
            raise LookupError("no client fits")
        return self.rng.choice(names)

    def settle(self) -> None:
        """Reconnect everyone and run a perfect network until every copy is the server's."""
        for name, peer in self.peers.items():
            if not peer.online:
                self.connect(name)
        for _ in range(10_000):
            busy = [name for name, peer in self.peers.items() if peer.outbox or peer.inbox]
            if busy:
                name = busy[0]
                if self.peers[name].outbox:
                    self.serve(name, faults=False)
                else:
                    self.deliver(name, faults=False)
                continue
            waiting = [
                name
                for name, peer in self.peers.items()
                if peer.client.state is not ClientState.READY or peer.client.has_unconfirmed
            ]
            if not waiting:
                break
            for name in waiting:
                self.call(name, {"do": "resend"}, SyncClient.resend)
                self.call(name, {"do": "flush"}, SyncClient.flush)
        else:
            raise RuntimeError(f"session {self.scenario.name} did not settle")
        head = (self.server.text, self.server.text, self.server.rev)
        for name, peer in self.peers.items():
            if (peer.client.text, peer.client.shadow, peer.client.rev) != head:
                raise RuntimeError(f"session {self.scenario.name}: {name} did not converge")


class Script:
    """A hand-written session: the observed client "ann", a sequencer, and every message moved
    by hand, for cases a random schedule would rarely hit."""

    def __init__(self, name: str, text: str, *, history_limit: int = 1000) -> None:
        self.name = name
        self.text = text
        self.server = Sequencer(text, history_limit=history_limit)
        self.client = SyncClient("ann", text=text)
        self.steps: list[JSONValue] = []

    def do(self, step: dict[str, JSONValue], func: Callable[[SyncClient], Any]) -> Any:
        result, recorded = run_call(self.client, step, func)
        self.steps.append(recorded)
        return result

    def receive(self, message: ServerMessage) -> list[ClientMessage]:
        step = {"do": "receive", "message": message.to_wire()}
        return self.do(step, lambda c: c.receive(message))

    def swap(self, old: str, new: str) -> None:
        """ann replaces the first ``old`` in its text with ``new``."""
        position, delete = self.client.text.index(old), len(old)
        step = {"do": "replace", "position": position, "delete": delete, "insert": new}
        self.do(step, lambda c: c.replace(position, delete, new))

    def other(self, name: str, edits: list[tuple[str, str]], *, trim: bool = False) -> None:
        """Another client connects, makes ``edits`` (swaps) one by one, and disconnects.
        With ``trim``, a swap changes only what differs (``"b"`` to ``"abc"`` inserts)."""
        client = SyncClient(name, text=self.text)
        for message in client.connect():
            assert isinstance(message, Resync)
            answer = self.server.catch_up(message.since, name, full=message.full)
            for reply in (
                [*answer, Synced(self.server.rev)] if isinstance(answer, list) else [answer]
            ):
                client.receive(reply)
        for old, new in edits:
            position = client.text.index(old)
            while trim and old and new and old[0] == new[0]:
                old, new, position = old[1:], new[1:], position + 1
            while trim and old and new and old[-1] == new[-1]:
                old, new = old[:-1], new[:-1]
            client.replace(position, len(old), new)
            for message in client.flush():
                assert isinstance(message, Edit)
                client.receive(self.server.submit(message, name).revision)
        assert client.text == self.server.text

    def answer(self, request: ClientMessage) -> list[ServerMessage]:
        """What the server sends back for ``request``, as ``World.serve`` does."""
        if isinstance(request, Resync):
            answer = self.server.catch_up(request.since, request.client, full=request.full)
            return [*answer, Synced(self.server.rev)] if isinstance(answer, list) else [answer]
        return [self.server.submit(request, "ann").revision]

    def session(self) -> JSONValue:
        client = self.client
        head = (self.server.text, self.server.text, self.server.rev)
        if (client.text, client.shadow, client.rev) != head or client.has_unconfirmed:
            raise RuntimeError(f"session {self.name} did not converge")
        return {
            "name": self.name,
            "client": "ann",
            "start": {"text": self.text, "rev": 0, "seq": 0},
            "steps": self.steps,
            "final": {**client_state(client), "rejected": []},
        }


def full_resync_session() -> JSONValue:
    """A revision fails its checksum while a catch-up is answered: the client asks for a
    snapshot, ignores the ``synced`` that ends the older answer, asks again for a snapshot
    when its timer fires, and merges a deletion the server already has ("one two three")."""
    s = Script("full-resync-ignores-older-synced", "one two three")
    [request] = s.do({"do": "connect"}, SyncClient.connect)
    s.other("bob", [("two ", "")])
    old_answer = s.answer(request)  # [revision 1, synced 1]
    s.swap("two ", "")  # ann deletes the same word while catching up
    s.swap("three", "three four")
    revision = old_answer[0]
    assert isinstance(revision, Revision)
    [full] = s.receive(replace(revision, checksum="9:00000000"))
    assert isinstance(full, Resync) and full.full
    assert s.receive(old_answer[1]) == []  # the older answer's synced: still waiting
    [again] = s.do({"do": "resend"}, SyncClient.resend)
    assert again == full
    [edit] = s.receive(s.answer(full)[0])
    [ack] = s.answer(edit)
    [snapshot] = s.answer(again)  # the resend's answer comes after the edit was sequenced
    s.receive(snapshot)
    s.receive(ack)  # already folded in by the snapshot
    s.do({"do": "flush"}, SyncClient.flush)
    return s.session()


def snapshot_merge_session() -> JSONValue:
    """Offline edits meet a snapshot: a change longer than 32 characters, and an insert into
    a sentence someone else deleted meanwhile."""
    text = "The quick brown fox jumps over the lazy dog. It was a sunny day in the park."
    s = Script("snapshot-merge", text, history_limit=1)
    s.swap("quick brown fox jumps over the lazy", "slow cat")
    s.swap("sunny", "very sunny")
    s.swap("park.", "park. The end.")
    s.other("bob", [("It was a sunny day ", ""), ("The", "A"), ("dog.", "dog!")])
    [request] = s.do({"do": "connect"}, SyncClient.connect)
    [snapshot] = s.answer(request)
    [edit] = s.receive(snapshot)
    for reply in s.answer(edit):
        s.receive(reply)
    return s.session()


def repeated_snapshot_sessions() -> list[JSONValue]:
    """Snapshots nobody is waiting for are ignored: a duplicate that arrives once the client is
    ready, and an old one that arrives during a later catch-up. Merging either would send the
    unconfirmed edit again."""
    s = Script("duplicate-snapshot-while-ready", "one two three", history_limit=1)
    s.swap("one", "ONE")  # offline
    s.other("bob", [("three", "three four"), ("two", "2")])
    [request] = s.do({"do": "connect"}, SyncClient.connect)
    [snapshot] = s.answer(request)  # the history is too short for revisions
    [edit] = s.receive(snapshot)
    assert s.receive(snapshot) == []  # the same snapshot again: ready, and nobody asked
    [ack] = s.answer(edit)
    s.receive(ack)
    assert s.receive(snapshot) == []  # and once more, now older than the client
    sessions = [s.session()]

    s = Script("old-snapshot-during-later-catch-up", "one two three", history_limit=1)
    s.swap("one", "ONE")
    s.other("bob", [("three", "three four"), ("two", "2")])
    [request] = s.do({"do": "connect"}, SyncClient.connect)
    [snapshot] = s.answer(request)
    [edit] = s.receive(snapshot)
    s.receive(s.answer(edit)[0])
    s.swap("four", "four five")
    [edit] = s.do({"do": "flush"}, SyncClient.flush)  # lost with the connection
    s.do({"do": "disconnect"}, SyncClient.disconnect)
    s.other("cy", [("2", "two")])
    [request] = s.do({"do": "connect"}, SyncClient.connect)
    assert s.receive(snapshot) == []  # a straggler older than the client: still syncing
    assert s.client.state is ClientState.SYNCING
    [revision, synced] = s.answer(request)
    s.receive(revision)
    [edit] = s.receive(synced)
    s.receive(s.answer(edit)[0])
    sessions.append(s.session())
    return sessions


def late_first_copy_session(
    name: str, text: str, first: tuple[int, int, str], later: tuple[int, int, str],
    others: list[tuple[str, str]], *, exact: bool,
) -> JSONValue:  # fmt: skip
    """ann sends ``first`` and types ``later``; the connection breaks and others edit; the
    catch-up is a snapshot, merged and sent again under the same id. Then the first copy,
    delayed in the network, reaches the server before the second: it lands once, the second is
    a duplicate, and only what ann typed later is sent on top. ``exact``: whether the server
    places the first copy as the merge placed the second (else the acknowledgement differs)."""
    s = Script(name, text)
    s.do({"do": "connect"}, SyncClient.connect)
    s.receive(Synced(0))
    position, delete, insert = first
    step = {"do": "replace", "position": position, "delete": delete, "insert": insert}
    s.do(step, lambda c: c.replace(position, delete, insert))
    [sent] = s.do({"do": "flush"}, SyncClient.flush)
    position, delete, insert = later
    step = {"do": "replace", "position": position, "delete": delete, "insert": insert}
    s.do(step, lambda c: c.replace(position, delete, insert))
    s.do({"do": "disconnect"}, SyncClient.disconnect)
    s.other("bob", others, trim=exact)
    [request] = s.do({"do": "connect"}, SyncClient.connect)
    assert isinstance(request, Resync)
    [again] = s.receive(s.server.catch_up(request.since, "ann", full=True))
    assert isinstance(again, Edit) and again.op_id == sent.op_id  # the same id
    [late] = s.answer(sent)
    [duplicate] = s.answer(again)
    assert duplicate == late and isinstance(late, Revision)
    merged_op = patches.apply_patch(s.client.shadow, patches.parse_patch(again.patch))[1]
    assert (fold(s.client.shadow, late)[1] == merged_op) is exact, name
    replies = s.receive(late)
    assert s.receive(duplicate) == []
    while replies:
        replies.extend(s.receive(s.answer(replies.pop(0))[0]))
    for _, _, typed in (first, later):
        assert s.server.text.count(typed) == 1, (name, s.server.text)
    return s.session()


def late_copy_sessions() -> list[JSONValue]:
    # The server places the first copy as the merge did: an exact acknowledgement.
    exact = late_first_copy_session(
        "snapshot-then-late-first-copy", "base\n", (0, 0, "mine "), (0, 0, "later "),
        [("base\n", "base\nother\n"), ("base", "top\nbase")], exact=True,
    )  # fmt: skip
    # The merge put "TWO" after "one ", the server (transforming the first copy over the
    # deletion of " two ") before the space: the acknowledgement differs from the in-flight
    # edit, the client keeps its text and sends the difference.
    mismatched = late_first_copy_session(
        "mismatched-acknowledgement-keeps-text", "one two three", (4, 3, "TWO"),
        (0, 0, "> "), [(" two ", " ")], exact=False,
    )  # fmt: skip
    return [exact, mismatched]


def session_vectors() -> list[JSONValue]:
    sessions = []
    for scenario in SCENARIOS:
        world = World(scenario)
        world.run()
        if scenario.typing != "random" and world.runs_problems():
            raise RuntimeError(f"{scenario.name}: {world.runs_problems()}")
        client = world.peers[world.observed].client
        sessions.append(
            {
                "name": scenario.name,
                "client": world.observed,
                "start": {"text": scenario.text, "rev": 0, "seq": 0},
                "steps": world.steps,
                "final": {
                    "text": client.text,
                    "shadow": client.shadow,
                    "rev": client.rev,
                    "state": client.state.value,
                    "unconfirmed": client.unconfirmed_count,
                    "rejected": [error.to_wire() for error in client.rejected],
                },
            }
        )
    return [
        *sessions,
        full_resync_session(),
        snapshot_merge_session(),
        *repeated_snapshot_sessions(),
        *late_copy_sessions(),
    ]


# -- files -----------------------------------------------------------------------------------

# What each file holds, and how deep its JSON is laid out one item per line (deeper levels
# stay on the item's line), so that a change to the engine shows up as a readable diff.
FILES: dict[str, tuple[Callable[[], JSONValue], int]] = {
    "text.json": (text_vectors, 2),
    "checksum.json": (checksum_vectors, 2),
    "ops.json": (ops_vectors, 2),
    "patches.json": (patch_vectors, 2),
    "protocol.json": (protocol_vectors, 1),
    "intent.json": (intent_vectors, 2),
    "merge.json": (merge_vectors, 2),
    "unicode.json": (unicode_vectors, 2),
    "sessions.json": (session_vectors, 3),
}

# Vector files in the same directory that another script writes and checks (so this one
# neither writes them nor counts them as stale), with the test that does.
WRITTEN_ELSEWHERE = {
    "authorship.json": "tests/sync/test_authorship_vectors.py",
}

# JSON can carry these only as escapes: lone surrogates are not UTF-8, and U+FFFE/U+FFFF are
# easy to lose in an editor.
_ESCAPE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def dump(value: JSONValue, depth: int, indent: int = 0) -> str:
    if depth == 0 or not isinstance(value, (dict, list)) or not value:
        compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", compact)
    pad = " " * (indent + 1)
    if isinstance(value, list):
        items = [pad + dump(item, depth - 1, indent + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = [
        f"{pad}{json.dumps(key)}: {dump(item, depth - 1, indent + 1)}"
        for key, item in value.items()
    ]
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def build() -> dict[str, str]:
    """The content of every vector file, by file name."""
    files = {}
    for name, (make, depth) in FILES.items():
        data = make()
        content = dump(data, depth) + "\n"
        if json.loads(content) != data:
            raise RuntimeError(f"{name} would not read back as written")
        files[name] = content
    return files


def main() -> None:
    VECTORS.mkdir(exist_ok=True)
    for name, content in build().items():
        (VECTORS / name).write_text(content, encoding="utf-8")
    total = sum(path.stat().st_size for path in VECTORS.glob("*.json"))
    print(f"wrote {len(FILES)} files, {total} bytes, to {VECTORS}", file=sys.stderr)


if __name__ == "__main__":
    main()
