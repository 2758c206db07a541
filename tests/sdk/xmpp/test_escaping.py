"""The fast escape gives exactly slixmpp's output, and slixmpp uses it."""

from __future__ import annotations

import importlib

from hypothesis import given
from hypothesis import strategies as st
from slixmpp.xmlstream import ET

import sdk.xmpp  # noqa: F401  (installs the fast escape)
from sdk.xmpp import escaping

tostring = importlib.import_module("slixmpp.xmlstream.tostring")


@given(st.text(alphabet=st.sampled_from("&<>'\"a é😀;amp")))
def test_escape_equals_slixmpps(text: str) -> None:
    assert escaping.escape(text) == escaping._original(text, False)


def test_cdata_mode_is_slixmpps() -> None:
    assert escaping.escape("a<b", True) == escaping._original("a<b", True)


def test_slixmpp_serializes_with_it() -> None:
    assert tostring.escape is escaping.escape
    element = ET.Element("{jabber:client}body", {"a": "x\"&'<"})
    element.text = "if a < b && c > 'd' \"e\""
    assert tostring.tostring(element) == (
        '<body xmlns="jabber:client" a="x&quot;&amp;&apos;&lt;">'
        "if a &lt; b &amp;&amp; c &gt; &apos;d&apos; &quot;e&quot;</body>"
    )
