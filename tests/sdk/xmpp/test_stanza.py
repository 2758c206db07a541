from __future__ import annotations

import pytest
from slixmpp.xmlstream import ET, tostring

from sdk.xmpp import stanza as st
from sync.errors import InvalidText, ProtocolViolation
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
