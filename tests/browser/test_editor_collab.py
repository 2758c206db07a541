"""Two people in one document, in real browsers: typing at once, Unicode, offline, undo.

Every check ends the same way: both pages synced and showing exactly the server's text.
"""

from __future__ import annotations

import random
import re

import pytest
from playwright.sync_api import expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import (
    EDITOR,
    caret_to_end,
    caret_to_start,
    converge,
    create_document,
    in_order,
    is_subsequence,
    server_text,
    text_of,
    type_together,
    wait_synced,
    wait_text,
    words_once,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ANN_WORDS = ["apple", "avocado", "apricot", "almond", "anise"]
BOB_WORDS = ["quince", "kiwi", "mango", "fig", "lychee"]


def typed(words: list[str]) -> str:
    return "".join(f" {w}" for w in words)


def test_typing_at_the_same_spot_keeps_every_keystroke(server: LiveServer, people: People) -> None:
    """Both type at the end of the same line at once. The protocol keeps every character
    and each person's order, but does not promise whole words here: an insert that meets a
    concurrent one at the same place goes after it when sequenced later (docs/protocol.md,
    "the one sequenced first comes first"), so one person's typing can land inside the
    other's (seen: "Fruit: a ppquince kiwi mango fig lycheele avocado…")."""
    doc_id = create_document(server, "Fruit:")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    caret_to_end(ann)
    caret_to_end(bob)

    type_together([(ann, typed(ANN_WORDS)), (bob, typed(BOB_WORDS))])

    text = converge(server, doc_id, [ann, bob])
    assert text.startswith("Fruit:"), text
    assert sorted(text) == sorted("Fruit:" + typed(ANN_WORDS) + typed(BOB_WORDS)), text
    assert is_subsequence(typed(ANN_WORDS), text), text
    assert is_subsequence(typed(BOB_WORDS), text), text


def test_words_at_the_same_spot_stay_whole(server: LiveServer, people: People) -> None:
    """The same race one word per edit (as a paste or an input method commits them): then
    every word must land whole, exactly once, in its author's order."""
    doc_id = create_document(server, "Fruit:")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    caret_to_end(ann)
    caret_to_end(bob)

    for mine, theirs in zip(ANN_WORDS, BOB_WORDS, strict=True):
        ann.keyboard.insert_text(f" {mine}")
        bob.keyboard.insert_text(f" {theirs}")

    text = converge(server, doc_id, [ann, bob])
    words_once(text, ANN_WORDS + BOB_WORDS)
    in_order(text, ANN_WORDS)
    in_order(text, BOB_WORDS)
    assert sorted(text.split()) == sorted(["Fruit:", *ANN_WORDS, *BOB_WORDS]), text


def test_typing_at_different_spots(server: LiveServer, people: People) -> None:
    original = "first line\nsecond line\nthird line"
    doc_id = create_document(server, original)
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    caret_to_start(ann)
    caret_to_end(bob)

    ann_text = "".join(f"{w} " for w in ANN_WORDS)
    type_together([(ann, ann_text), (bob, typed(BOB_WORDS))], chunk=3)

    assert converge(server, doc_id, [ann, bob]) == ann_text + original + typed(BOB_WORDS)


EMOJI = "😀👍🏽 👨\u200d👩\u200d👧"
CJK = "漢字かな한국어"
COMBINING = "e\u0301 n\u0303"  # NFD on purpose: nothing may normalize it
PRECOMPOSED = "é ñ"


def test_unicode_typed_and_pasted_arrives_exactly(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    caret_to_end(ann)

    ann.keyboard.type(EMOJI)
    ann.keyboard.press("Enter")
    ann.keyboard.type(CJK)
    ann.keyboard.press("Enter")
    ann.keyboard.type(COMBINING)
    ann.keyboard.press("Enter")
    ann.keyboard.insert_text(f"pasted {EMOJI} {CJK}\n{COMBINING} {PRECOMPOSED}\n")
    # A real paste event, as Ctrl+V delivers it, with a line break and a ZWJ sequence inside.
    ann.locator(EDITOR).evaluate(
        """(editor, text) => {
            const data = new DataTransfer();
            data.setData("text/plain", text);
            editor.dispatchEvent(new ClipboardEvent("paste", {
                clipboardData: data, bubbles: true, cancelable: true,
            }));
        }""",
        f"clip {CJK}\n👨\u200d👩\u200d👧 e\u0301",
    )
    expected = (
        f"{EMOJI}\n{CJK}\n{COMBINING}\n"
        f"pasted {EMOJI} {CJK}\n{COMBINING} {PRECOMPOSED}\n"
        f"clip {CJK}\n👨\u200d👩\u200d👧 e\u0301"
    )

    assert converge(server, doc_id, [ann, bob]) == expected
    assert text_of(bob).count("e\u0301") == 3 and "é" in text_of(bob)
    expect(bob.locator(EDITOR)).to_contain_text(CJK)
    expect(bob.locator(EDITOR)).to_contain_text("👨\u200d👩\u200d👧")


def test_offline_edits_are_kept_and_merged(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Log:")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    caret_to_end(ann)
    caret_to_start(bob)

    ann.context.set_offline(True)
    expect(ann.locator("#status")).to_have_attribute("data-state", "offline")
    offline_words = ["trains", "stopped", "underground", "today"]
    bob_words = ["meanwhile", "elsewhere", "sunshine"]
    type_together([(ann, typed(offline_words)), (bob, "".join(f"{w} " for w in bob_words))])

    expect(ann.locator("#status")).to_contain_text(re.compile(r"\d+ unsent", re.IGNORECASE))
    assert ann.evaluate("window.collab.unsent()") > 0
    assert ann.evaluate("window.collab.state()") == "offline"
    wait_synced(bob)
    _, on_server = server_text(server, doc_id)
    assert "underground" not in on_server, "an offline page's edit reached the server"

    ann.context.set_offline(False)
    text = converge(server, doc_id, [ann, bob])
    expect(ann.locator("#status")).to_have_attribute("data-state", "connected")
    words_once(text, offline_words + bob_words)
    assert text == "".join(f"{w} " for w in bob_words) + "Log:" + typed(offline_words)


def test_undo_takes_back_only_my_own_typing(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Notes:")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    caret_to_end(ann)
    ann.keyboard.type(" hello")
    wait_text(bob, "(text) => text === 'Notes: hello'")
    caret_to_end(bob)
    bob.keyboard.type(" world")
    assert converge(server, doc_id, [ann, bob]) == "Notes: hello world"

    ann.locator(EDITOR).focus()
    ann.keyboard.press("Control+z")

    assert converge(server, doc_id, [ann, bob]) == "Notes: world"


PIECES = ["a", "é", "e\u0301", "😀", "👩\u200d👩\u200d👧", "中文", " ", "Ω", "xyz"]
KEYS = ["Backspace", "Delete", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"]


def test_random_editing_by_three_converges(server: LiveServer, people: People) -> None:
    """Keys a person really presses (Backspace over an emoji, arrows across a ZWJ sequence,
    a selection typed over, an undo) in three pages at once; everyone ends equal."""
    doc_id = create_document(server, "one\ntwo 😀 three\nfour e\u0301 five\n")
    pages = [people.editor(doc_id, name) for name in ("Ann", "Bob", "Cleo")]
    for page in pages:
        caret_to_end(page)
    rng = random.Random(20250101)
    for _ in range(90):
        page = rng.choice(pages)
        roll = rng.random()
        if roll < 0.4:
            page.keyboard.type(rng.choice(PIECES))
        elif roll < 0.75:
            page.keyboard.press(rng.choice(KEYS))
        elif roll < 0.85:
            page.keyboard.press("Enter")
        elif roll < 0.95:
            page.keyboard.press("Shift+ArrowLeft")
            page.keyboard.press("Shift+ArrowLeft")
            page.keyboard.type(rng.choice(PIECES))
        else:
            page.keyboard.press("Control+z")

    text = converge(server, doc_id, pages)
    assert "\ufffd" not in text and not re.search(r"[\ud800-\udfff]", text), text


def test_typing_over_a_line_break(server: LiveServer, people: People) -> None:
    """Typing over a selection that joins two lines: Chrome's own editing would keep the
    joined line's look with a style attribute, which the CSP refuses (a violation report for
    every such keystroke); the editor must apply such input itself."""
    doc_id = create_document(server, "ab\ncd")
    ann = people.editor(doc_id, "Ann")
    caret_to_end(ann)
    for key in ["ArrowLeft", "ArrowLeft", "Shift+ArrowLeft", "Shift+ArrowLeft"]:
        ann.keyboard.press(key)
    ann.keyboard.type("x")
    assert converge(server, doc_id, [ann]) == "axcd"
    assert ann.evaluate("window.__cspViolations") == []
    assert people.console_errors == []
