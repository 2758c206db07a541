from __future__ import annotations

from dataclasses import replace

import pytest
from slixmpp.xmlstream import ET, tostring

from sdk.xmpp import stanza as st
from sync.errors import InvalidText, ProtocolViolation, SyncError
from sync.intent import Intent
from sync.protocol import Edit, OpId, Revision

REVISION = Revision(
    42, 40, 'Ann <&> "quoted"', OpId("k3f9", 12), "@@ -1,5 +1,6 @@\n hello\n+,\n", "6:9a86c960"
)


def reparse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def test_revision_xml() -> None:
    xml = tostring(st.revision_stanza(REVISION, "q3-plan").xml)
    assert xml == (
        '<revision xmlns="urn:xmpp-collab:0" doc="q3-plan" rev="42" base="40" '
        'author="Ann &lt;&amp;&gt; &quot;quoted&quot;" client="k3f9" seq="12" '
        'checksum="6:9a86c960">@@ -1,5 +1,6 @@\n hello\n+,\n</revision>'
    )


def test_revision_round_trips_through_xml_text() -> None:
    xml = tostring(st.revision_stanza(REVISION, "q3-plan").xml)
    parsed = st.RevisionStanza(xml=reparse(xml))
    assert st.revision_from_stanza(parsed) == REVISION


def test_batch_xml_and_round_trip() -> None:
    second = Revision(43, 42, "Bob", OpId("b", 1), "@@ -0,0 +1 @@\n+%26%3C%5D%5D%3E\n", "7:0")
    batch = st.batch_stanza("d", [REVISION, second])
    xml = tostring(batch.xml)
    assert xml.startswith('<revisions xmlns="urn:xmpp-collab:0" doc="d" first="42" last="43">')
    assert xml.count("<revision ") == 2
    parsed = st.RevisionBatchStanza(xml=reparse(xml))
    assert list(st.revisions_in(parsed)) == [REVISION, second]


def test_edit_xml_and_round_trip() -> None:
    edit = Edit(40, OpId("bot-1", 3), "@@ -1 +1 @@\n-a\n+b\n")
    xml = tostring(st.edit_stanza("d", edit, "Stats bot").xml)
    assert xml == (
        '<edit xmlns="urn:xmpp-collab:0" doc="d" base="40" client="bot-1" seq="3" '
        'author="Stats bot">@@ -1 +1 @@\n-a\n+b\n</edit>'
    )
    assert st.edit_from_stanza(st.EditStanza(xml=reparse(xml))) == (edit, "Stats bot")


def test_intent_travels_as_an_attribute_and_its_absence_is_understood() -> None:
    forward = replace(REVISION, intent=Intent.FORWARD)
    xml = tostring(st.revision_stanza(forward, "q3-plan").xml)
    assert 'intent="forward"' in xml
    assert st.revision_from_stanza(st.RevisionStanza(xml=reparse(xml))) == forward
    assert "intent" not in tostring(st.revision_stanza(REVISION).xml)  # none: left out
    backward = Edit(40, OpId("bot-1", 3), "@@ -1 +1 @@\n-a\n+b\n", Intent.BACKWARD)
    xml = tostring(st.edit_stanza("d", backward, "Stats bot").xml)
    assert 'intent="backward"' in xml
    assert st.edit_from_stanza(st.EditStanza(xml=reparse(xml))) == (backward, "Stats bot")
    # An edit without it is an older bot's: LEGACY, placed as that bot expects.
    old = Edit(40, OpId("bot-1", 3), "@@ -1 +1 @@\n-a\n+b\n")
    parsed, _ = st.edit_from_stanza(
        st.EditStanza(xml=reparse(tostring(st.edit_stanza("d", old, "b").xml)))
    )
    assert parsed.intent is Intent.LEGACY
    bad = xml.replace('intent="backward"', 'intent="sideways"')
    with pytest.raises(ProtocolViolation, match="<edit> 'intent' must be"):
        st.edit_from_stanza(st.EditStanza(xml=reparse(bad)))


def test_snapshot_text_is_escaped_so_cr_survives_xml() -> None:
    text = "a\r\nb & <c> ]]> 😀\u00e9"
    escaped = st.escape_text(text)
    assert escaped.isascii() and "\r" not in escaped
    assert st.unescape_text(escaped) == text


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            {"rev": "x", "base": "1", "author": "a", "client": "c", "seq": "1", "checksum": "1:0"},
            "'rev'",
        ),
        (
            {
                "rev": "1",
                "base": "1",
                "author": "a",
                "client": "c:d",
                "seq": "1",
                "checksum": "1:0",
            },
            "client id",
        ),
        ({"rev": "1", "base": "1", "client": "c", "seq": "1", "checksum": "1:0"}, "lacks 'author'"),
        (
            {
                "rev": "\u0661",
                "base": "1",
                "author": "a",
                "client": "c",
                "seq": "1",
                "checksum": "1:0",
            },
            "'rev'",
        ),
        (
            {
                "rev": "\u00b2",
                "base": "1",
                "author": "a",
                "client": "c",
                "seq": "1",
                "checksum": "1:0",
            },
            "'rev'",
        ),
    ],
)
def test_bad_revision_attributes_are_named(attributes: dict[str, str], message: str) -> None:
    element = ET.Element(f"{{{st.NS}}}revision", attributes)
    with pytest.raises(ProtocolViolation, match=message):
        st.revision_from_stanza(st.RevisionStanza(xml=element))


def test_forbidden_author_is_refused() -> None:
    element = ET.Element(
        f"{{{st.NS}}}edit", {"base": "0", "client": "c", "seq": "1", "author": "\ufffe"}
    )
    with pytest.raises(InvalidText):
        st.edit_from_stanza(st.EditStanza(xml=element))


def test_bad_escapes_in_snapshot_text_are_refused() -> None:
    with pytest.raises(ProtocolViolation, match="not UTF-8"):
        st.unescape_text("%FF")
    with pytest.raises(InvalidText):
        st.unescape_text("%01")


PERSON = {
    "session": "9f2c4e1a7b3d",
    "name": "Ann <&> é\t",
    "color": "#e6194b",
    "cursor": 12,
    "anchor": 7,
    "rev": 42,
}
ORIGIN = "collab@localhost/app-1"


def test_presence_xml_and_round_trip() -> None:
    xml = tostring(st.presence_stanza("q3-plan", "update", PERSON, ORIGIN).xml)
    assert xml == (
        '<presence xmlns="urn:xmpp-collab:0" doc="q3-plan" event="update" '
        'origin="collab@localhost/app-1" session="9f2c4e1a7b3d" color="#e6194b" cursor="12" '
        'anchor="7" rev="42">Ann %3C&amp;%3E %C3%A9%09</presence>'
    )
    parsed = st.PresenceStanza(xml=reparse(xml))
    assert st.presence_from_stanza(parsed) == ("update", PERSON, ORIGIN)


def test_presence_without_a_cursor_round_trips() -> None:
    person = {**PERSON, "cursor": None, "anchor": None, "rev": 0, "name": "x\r\ny"}
    xml = tostring(st.presence_stanza("d", "join", person, ORIGIN).xml)
    assert "cursor=" not in xml and "anchor=" not in xml
    assert st.presence_from_stanza(st.PresenceStanza(xml=reparse(xml))) == ("join", person, ORIGIN)


def test_presence_names_its_author_where_it_is_not_the_name() -> None:
    person = {**PERSON, "name": "Ann Lee", "author": "ann é"}
    xml = tostring(st.presence_stanza("d", "join", person, ORIGIN).xml)
    assert 'author="ann %C3%A9"' in xml
    assert st.presence_from_stanza(st.PresenceStanza(xml=reparse(xml))) == ("join", person, ORIGIN)
    with pytest.raises(ProtocolViolation, match="'author'"):
        st.presence_from_stanza(presence_element(author="x" * 65))


def test_renamed_xml_and_round_trip() -> None:
    title = "Q3 plan: café & <draft>\r\n"
    xml = tostring(st.renamed_stanza("q3-plan", title, ORIGIN).xml)
    assert xml == (
        '<renamed xmlns="urn:xmpp-collab:0" doc="q3-plan" origin="collab@localhost/app-1">'
        "Q3 plan: caf%C3%A9 &amp; %3Cdraft%3E%0D\n</renamed>"
    )
    assert st.renamed_from_stanza(st.RenamedStanza(xml=reparse(xml))) == (title, ORIGIN)


def presence_element(body: str = "Ann", **changes: str | None) -> st.PresenceStanza:
    attributes = {
        "event": "join",
        "origin": ORIGIN,
        "session": "s1",
        "color": "#000000",
        "cursor": "1",
        "rev": "0",
    }
    attributes.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        del attributes[key]
    element = ET.Element(f"{{{st.NS}}}presence", attributes)
    element.text = body
    return st.PresenceStanza(xml=element)


@pytest.mark.parametrize(
    ("stanza", "message"),
    [
        (presence_element(event="arrive"), "'event'"),
        (presence_element(event=None), "lacks 'event'"),
        (presence_element(session="a b"), "'session'"),
        (presence_element(session="s" * 65), "'session'"),
        (presence_element(color="red"), "'color'"),
        (presence_element(color="#12345g"), "'color'"),
        (presence_element(cursor="-1"), "'cursor'"),
        (presence_element(cursor="9" * 5000), "'cursor'"),
        (presence_element(anchor=str(2**53)), "'anchor' is over"),
        (presence_element(rev="1.5"), "'rev'"),
        (presence_element(origin=None), "lacks 'origin'"),
        (presence_element(origin=""), "'origin'"),
        (presence_element(body=""), "name must be 1 to 64"),
        (presence_element(body="n" * 65), "name must be 1 to 64"),
        (presence_element(body="%FF"), "not UTF-8"),
        (presence_element(body="%01"), "name has U\\+0001"),
    ],
)
def test_bad_presence_is_refused_with_a_reason(stanza: st.PresenceStanza, message: str) -> None:
    with pytest.raises(SyncError, match=message):
        st.presence_from_stanza(stanza)


@pytest.mark.parametrize(
    ("title", "origin", "message"),
    [
        ("", ORIGIN, "title must be 1 to 200"),
        ("t" * 201, ORIGIN, "title must be 1 to 200"),
        ("%EF%BF%BE", ORIGIN, "title has U\\+FFFE"),
        ("fine", None, "lacks 'origin'"),
        ("fine", "o" * 1024, "'origin'"),
    ],
)
def test_bad_rename_is_refused_with_a_reason(title: str, origin: str | None, message: str) -> None:
    element = ET.Element(f"{{{st.NS}}}renamed", {} if origin is None else {"origin": origin})
    element.text = title
    with pytest.raises(SyncError, match=message):
        st.renamed_from_stanza(st.RenamedStanza(xml=element))


def test_huge_numbers_in_revisions_are_refused_not_crashed_on() -> None:
    attributes = {"rev": "9" * 5000, "base": "1", "author": "a", "client": "c", "seq": "1"}
    element = ET.Element(f"{{{st.NS}}}revision", {**attributes, "checksum": "1:0"})
    with pytest.raises(ProtocolViolation, match="'rev'"):
        st.revision_from_stanza(st.RevisionStanza(xml=element))


def test_origin_of_says_who_published() -> None:
    stanza = st.revision_stanza(REVISION, "d")
    assert st.origin_of(stanza) == ""
    stanza["origin"] = ORIGIN
    assert st.origin_of(stanza) == ORIGIN
