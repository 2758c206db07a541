"""The conformance vectors are current, and the Python engine passes every one of them.

``frontend/test/conformance.test.js`` replays the same files against the JavaScript twin.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

from sync import intent, merge, ops, patches, protocol, text
from sync.client import SyncClient
from sync.errors import SyncError
from sync.fold import fold
from tests.conformance import generate

Case = dict[str, Any]


def load(name: str) -> Any:
    return json.loads((generate.VECTORS / name).read_text(encoding="utf-8"))


def expect(case: Case, func: Callable[..., Any], *args: Any) -> None:
    """``func(*args)`` returns ``case["result"]``, or raises the class ``case["error"]``."""
    try:
        result = func(*args)
    except (SyncError, ValueError, IndexError) as exc:
        assert type(exc).__name__ == case.get("error"), f"{case}: raised {exc!r}"
    else:
        assert "error" not in case, f"{case}: returned {result!r}"
        assert result == case["result"], case


def test_vectors_are_current() -> None:
    fresh = generate.build()
    on_disk = {path.name for path in generate.VECTORS.glob("*.json")}
    stale = sorted(
        name
        for name, content in fresh.items()
        if name not in on_disk or (generate.VECTORS / name).read_text(encoding="utf-8") != content
    )
    extra = sorted(on_disk - fresh.keys() - generate.WRITTEN_ELSEWHERE.keys())
    assert not stale and not extra, (
        f"conformance vectors out of date (changed: {stale}, no longer generated: {extra}): "
        "if the engine changed on purpose, run `.venv/bin/python -m tests.conformance.generate`, "
        "review the diff, and make the JavaScript twin in frontend/ pass it too"
    )


def test_text() -> None:
    vectors = load("text.json")
    for case in vectors["checksum"]:
        assert text.checksum(case["text"]) == case["checksum"], case
        assert text.checksum_v1(case["text"]) == case["checksum_v1"], case
        assert text.find_invalid(case["text"]) == case["invalid"], case
        try:
            text.validate_text(case["text"], what="sample")
        except SyncError as exc:
            assert str(exc) == case["message"], case
        else:
            assert "message" not in case, case
    for case in vectors["utf16"]:
        assert text.utf16_length(case["text"]) == case["utf16_length"]
        for index, result in case["to_utf16"]:
            expect(result, text.codepoint_to_utf16, case["text"], index)
        for index, result in case["to_codepoint"]:
            expect(result, text.utf16_to_codepoint, case["text"], index)
    for value, result in vectors["checksum_length"]:
        expect(result, text.checksum_length, value)


def test_checksum() -> None:
    vectors = load("checksum.json")
    for case in vectors["full"]:
        assert text.checksum(case["text"]) == case["checksum"], case
        assert text.checksum_v1(case["text"]) == case["checksum_v1"], case
    for case in vectors["update"]:
        op = ops.from_json(case["op"])
        new_text = ops.apply(case["text"], op)
        result = text.update_checksum(case["checksum"], case["text"], op, new_text)
        assert result == case["result"], case
    for value, version in vectors["version"]:
        assert text.checksum_version(value) == version, value
    for sample, value, matches in vectors["matches"]:
        assert text.checksum_matches(sample, value) == matches, (sample, value)
    for case in vectors["fold"]:
        revision = protocol.from_wire(case["revision"])
        assert isinstance(revision, protocol.Revision)

        def folded(case: Case = case, revision: protocol.Revision = revision) -> Any:
            new_text, op = fold(case["text"], revision, case["known"])
            return {"text": new_text, "op": ops.to_json(op)}

        expect(case, folded)


def test_ops() -> None:
    vectors = load("ops.json")
    j, o = ops.to_json, ops.from_json
    for case in vectors["normalize"]:
        assert j(o(case["op"])) == case["result"]
    for case in vectors["apply"]:
        expect(case, ops.apply, case["text"], o(case["op"]))
    for case in vectors["compose"]:
        expect(case, lambda a, b: j(ops.compose(o(a), o(b))), case["a"], case["b"])
    for case in vectors["transform"]:
        op, other = o(case["op"]), o(case["other"])
        if "error" in case:
            expect(case, ops.transform, op, other)
            continue
        assert j(ops.transform(op, other)) == case["other_first"], case
        assert j(ops.transform(op, other, other_first=False)) == case["op_first"], case
    for case in vectors["invert"]:
        assert j(ops.invert(o(case["op"]))) == case["result"]
    for case in vectors["transform_position"]:
        moved = ops.transform_position(
            case["position"], o(case["op"]), stick_left=case["stick_left"]
        )
        assert moved == case["result"], case
    for case in vectors["diffs"]:
        op = o(case["op"])
        assert [list(d) for d in ops.to_diffs(case["base"], op)] == case["diffs"], case
        assert ops.from_diffs([tuple(d) for d in case["diffs"]]) == op, case
    for case in vectors["replace"]:
        args = case["length"], case["position"], case["delete"], case["insert"]
        expect(case, lambda *a: j(ops.replace(*a)), *args)


def test_patches() -> None:
    vectors = load("patches.json")
    for case in vectors["make"]:
        hunks = patches.make_patch(case["text"], ops.from_json(case["op"]))
        assert generate.hunks_json(hunks) == case["hunks"], case
        assert patches.format_patch(hunks) == case["patch"], case
    for case in vectors["parse"]:
        try:
            hunks = patches.parse_patch(case["patch"])
        except SyncError as exc:
            assert type(exc).__name__ == case.get("error"), case
            continue
        assert generate.hunks_json(hunks) == case["hunks"], case
        try:
            op, checks = patches.op_from_patch(hunks, case["base_length"])
        except SyncError as exc:
            assert type(exc).__name__ == case.get("op_error"), case
            continue
        assert ops.to_json(op) == case["op"], case
        found = [{"position": c.position, "text": c.text, "in_result": c.in_result} for c in checks]
        assert found == case["checks"], case
    for case in vectors["apply"]:
        expect(case, generate.apply_json, case["text"], case["patch"])


def test_protocol() -> None:
    for case in load("protocol.json"):
        try:
            message = protocol.from_wire(case["wire"])
        except SyncError as exc:
            assert type(exc).__name__ == case.get("error"), case
        else:
            assert message.to_wire() == case["message"], case


def test_intent() -> None:
    vectors = load("intent.json")
    for earlier, later, result in vectors["tie"]:
        found = intent.later_goes_first(intent.Intent(earlier), intent.Intent(later))
        assert found is result, (earlier, later)
    for case in vectors["typed"]:
        run = None if case["run"] is None else tuple(case["run"])
        kind, after = intent.typed(run, ops.from_json(case["op"]))
        assert (None if kind is None else kind.value) == case["intent"], case
        assert (None if after is None else list(after)) == case["result"], case
    for case in vectors["map_run"]:
        run = None if case["run"] is None else tuple(case["run"])
        moved = intent.map_run(run, ops.from_json(case["op"]))
        assert (None if moved is None else list(moved)) == case["result"], case


def test_merge() -> None:
    vectors = load("merge.json")
    for case in vectors["changes_between"]:
        assert ops.to_json(merge.changes_between(case["old"], case["new"])) == case["op"], case
    for case in vectors["rebase_onto"]:
        base, changes, target = case["base"], ops.from_json(case["changes"]), case["target"]
        assert ops.to_json(merge.rebase_onto(base, changes, target)) == case["op"], case
        assert merge.merge_onto(base, changes, target) == case["result"], case


def test_unicode() -> None:
    vectors = load("unicode.json")
    assert vectors["version"] == unicodedata.unidata_version
    for name, predicate in (("alnum", str.isalnum), ("space", str.isspace)):
        inside = {cp for start, end in vectors[name] for cp in range(start, end + 1)}
        for cp in range(sys.maxunicode + 1):
            assert predicate(chr(cp)) == (cp in inside), (name, hex(cp))


def state_of(client: SyncClient) -> dict[str, Any]:
    return {
        "text": client.text,
        "shadow": client.shadow,
        "rev": client.rev,
        "state": client.state.value,
        "unconfirmed": client.unconfirmed_count,
    }


def run_step(client: SyncClient, step: Case) -> Any:
    do = step["do"]
    if do == "replace":
        return client.replace(step["position"], step["delete"], step["insert"])
    if do == "set_text":
        return client.set_text(step["text"])
    if do == "edit":
        return client.edit(ops.from_json(step["op"]))
    if do == "receive":
        message = protocol.from_wire(step["message"])
        assert not isinstance(message, (protocol.Edit, protocol.Resync))
        return client.receive(message)
    return {
        "connect": client.connect,
        "disconnect": client.disconnect,
        "resend": client.resend,
        "flush": client.flush,
    }[do]()


@pytest.mark.parametrize("session", load("sessions.json"), ids=lambda s: s["name"])
def test_session(session: Case) -> None:
    start = session["start"]
    client = SyncClient(session["client"], text=start["text"], rev=start["rev"], seq=start["seq"])
    for number, step in enumerate(session["steps"], start=1):
        where = f"step {number} ({step['do']})"
        try:
            result = run_step(client, step)
        except SyncError as exc:
            assert type(exc).__name__ == step.get("error"), f"{where}: {exc!r}"
            result = None
        else:
            assert "error" not in step, where
        if "returns" in step:
            assert ops.to_json(result) == step["returns"], where
        out = result if isinstance(result, list) else []
        assert [message.to_wire() for message in out] == step["out"], where
        assert state_of(client) == step["after"], where
    final = session["final"]
    assert {**state_of(client), "rejected": [e.to_wire() for e in client.rejected]} == final
