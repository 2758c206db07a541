"""The payloads of forwarded edits and their answers, as they travel between instances."""

from __future__ import annotations

from slixmpp import Iq

from app.buses.xmpp import forwarding
from sync.protocol import Edit, OpId, Revision


def revision(rev: int, patch: str = "@@ -1,0 +1,1 @@\n+x\n") -> Revision:
    return Revision(
        rev=rev, base=rev - 1, author="Ann <&>", op_id=OpId("c-1", 3), patch=patch, checksum="c"
    )


def through_the_wire(answer: forwarding.ForwardedStanza) -> forwarding.ForwardedStanza:
    """The answer as the forwarder parses it: serialized in an IQ and read back."""
    iq = Iq()
    iq.append(answer)
    parsed = Iq(xml=iq.xml)
    result: forwarding.ForwardedStanza = parsed["collab_forwarded"]
    return result


def test_an_answer_carries_its_revision_back_exactly() -> None:
    carried = revision(42)
    answer = through_the_wire(forwarding.applied(42, "exact", carried))
    assert forwarding.outcome_of(answer) == (42, "exact")
    assert forwarding.revision_of(answer, 42) == carried


def test_a_revision_is_believed_only_for_the_number_answered() -> None:
    answer = through_the_wire(forwarding.applied(42, "fuzzy", revision(41)))
    assert forwarding.outcome_of(answer) == (42, "fuzzy")
    assert forwarding.revision_of(answer, 42) is None


def test_answers_without_a_revision_or_with_a_large_one_carry_none() -> None:
    assert forwarding.revision_of(through_the_wire(forwarding.applied(7, "duplicate")), 7) is None
    large = revision(7, "@@ -1,0 +1,1 @@\n+" + "x" * (forwarding.MAX_CARRIED_PATCH + 1) + "\n")
    answer = through_the_wire(forwarding.applied(7, "exact", large))
    assert forwarding.outcome_of(answer) == (7, "exact")
    assert forwarding.revision_of(answer, 7) is None


def test_a_malformed_carried_revision_is_ignored_not_fatal() -> None:
    answer = forwarding.applied(9, "exact", revision(9))
    inner = answer.xml.find(f"{{{forwarding.st.NS}}}revision")
    assert inner is not None
    inner.set("client", "")  # no client id: not a revision the forwarder may fold
    assert forwarding.revision_of(through_the_wire(answer), 9) is None


def test_a_forwarded_edit_reads_back_exactly() -> None:
    edit = Edit(41, OpId("c-7f3a", 12), "@@ -1,0 +1,1 @@\n+x\n")
    payload = forwarding.forward_payload("notes", edit, "ann")
    iq = Iq()
    iq.append(payload)
    assert forwarding.edit_of(Iq(xml=iq.xml)["collab_forward"]) == ("notes", edit, "ann")
