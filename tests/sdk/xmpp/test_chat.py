"""Chat rooms' names and what is said in them: one room per document id (ids differ by case
where room names do not), and nothing said can break the XML stream."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from slixmpp import Message

from sdk.xmpp.chat import MAX_LINE_CHARS, ChatStanza, doc_of_room, room_jid, room_name, xml_safe
from sdk.xmpp.stanza import escape_text
from sync.text import find_invalid

DOC_IDS = st.from_regex(re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"), fullmatch=True)


def test_room_names_are_lower_case_and_keep_ids_apart() -> None:
    assert room_name("q3-plan") == "doc-q3-plan"
    assert room_name("Q3_plan") == "doc-_q3__plan"
    assert room_jid("q3-plan", "conference.example.org") == "doc-q3-plan@conference.example.org"
    assert room_name("Doc") != room_name("doc")
    assert doc_of_room("doc-_q3__plan") == "Q3_plan"
    assert doc_of_room("doc-a_b") == "aB"
    for other in ("q3-plan", "doc-", "doc-Q3", "doc-_", "doc-a_", "doc-__x", "doc--x", "room"):
        assert doc_of_room(other) is None, other


@given(DOC_IDS)
def test_every_document_id_has_its_own_room_and_back(doc_id: str) -> None:
    name = room_name(doc_id)
    assert name == name.lower() and len(name) <= 4 + 2 * 64
    assert doc_of_room(name) == doc_id


@given(st.text(max_size=3000))
def test_anything_said_is_made_safe_for_xml(text: str) -> None:
    safe = xml_safe(text)
    assert find_invalid(safe) is None
    assert len(safe) <= MAX_LINE_CHARS
    if find_invalid(text) is None and len(text) <= MAX_LINE_CHARS:
        assert safe == text


def test_a_relayed_line_names_its_writer_in_our_namespace() -> None:
    message = Message()
    message["type"] = "groupchat"
    message["body"] = "Ann: <hi> & ]]>"
    payload = ChatStanza()
    payload["id"] = "c-1"
    payload["color"] = "#e6194b"
    payload.xml.text = escape_text("Ann\t<&>")  # as ChatRooms.say writes it
    message.append(payload)
    xml = str(message)
    assert (
        '<chat xmlns="urn:xmpp-collab:0" id="c-1" color="#e6194b">Ann%09%3C&amp;%3E</chat>' in xml
    )
    assert "Ann: &lt;hi&gt; &amp; ]]&gt;" in xml
