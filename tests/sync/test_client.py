from __future__ import annotations

import pytest

from sync import fold as fold_module
from sync import ops
from sync.client import ClientState, SyncClient
from sync.errors import InvalidText, StaleRevision
from sync.protocol import ClientMessage, Edit, EditError, OpId, Resync, Revision, Synced
from sync.server import Placement, Sequencer
from tests.sync.helpers import edit_on

BASE = "hello world"


def connected(client_id: str, server: Sequencer) -> SyncClient:
    client = SyncClient(client_id, text=server.text, rev=server.rev)
    [resync] = client.connect()
    assert isinstance(resync, Resync)
    for revision in server.catch_up(resync.since):  # type: ignore[union-attr]
        client.receive(revision)
    assert client.receive(Synced(server.rev)) == []
    assert client.state is ClientState.READY
    return client


def submit(server: Sequencer, message: ClientMessage, author: str = "x") -> Revision:
    assert isinstance(message, Edit)
    return server.submit(message, author).revision


def pump(client: SyncClient, server: Sequencer, messages: list[ClientMessage]) -> None:
    """Deliver ``messages`` to the server and its answers back, until nothing is left."""
    queue = list(messages)
    while queue:
        message = queue.pop(0)
        assert isinstance(message, Edit)
        queue.extend(client.receive(server.submit(message, "x").revision))


def test_local_edit_is_sent_and_acknowledged() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(5, 0, ",")
    [edit] = client.flush()
    assert isinstance(edit, Edit)
    assert (edit.base, edit.op_id) == (0, OpId("c", 1))
    assert client.has_unconfirmed
    revision = submit(server, edit)
    assert client.receive(revision) == []
    assert not client.has_unconfirmed
    assert client.text == client.shadow == server.text == "hello, world"
    assert client.rev == 1


def test_only_one_edit_in_flight_the_rest_buffered() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(0, 0, "a")
    [first] = client.flush()
    client.replace(1, 0, "b")
    client.replace(2, 0, "c")
    assert client.flush() == []
    assert client.unconfirmed_count == 2
    [second] = client.receive(submit(server, first))
    assert isinstance(second, Edit) and second.op_id.seq == 2 and second.base == 1
    client.receive(submit(server, second))
    assert client.text == server.text == "abc" + BASE


def test_remote_revision_is_rebased_under_pending_edits() -> None:
    server = Sequencer(BASE)
    alice, bob = connected("alice", server), connected("bob", server)
    alice.replace(0, 0, "A")
    [alice_edit] = alice.flush()
    alice.replace(1, 0, "a")  # buffered
    bob.replace(11, 0, "!")
    [bob_edit] = bob.flush()
    bob_revision = submit(server, bob_edit)
    alice.receive(bob_revision)
    assert alice.text == "Aahello world!"
    alice_revision = submit(server, alice_edit)
    for message in alice.receive(alice_revision):
        alice.receive(submit(server, message))
    bob.receive(bob_revision)
    for revision in server.catch_up(1):  # type: ignore[union-attr]
        bob.receive(revision)
    assert alice.text == bob.text == server.text == "Aahello world!"


def test_same_spot_inserts_agree_with_the_server_order() -> None:
    server = Sequencer(BASE)
    alice, bob = connected("alice", server), connected("bob", server)
    alice.replace(5, 0, "A")
    bob.replace(5, 0, "B")
    [a], [b] = alice.flush(), bob.flush()
    ra, rb = submit(server, b), submit(server, a)  # bob's arrives first
    for client in (alice, bob):
        client.receive(ra)
        client.receive(rb)
    assert alice.text == bob.text == server.text == "helloBA world"


def test_duplicates_are_ignored_and_gaps_trigger_a_catch_up() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    other = connected("o", server)
    other.replace(0, 0, "1")
    r1 = submit(server, other.flush()[0])
    other.receive(r1)
    other.replace(0, 0, "2")
    r2 = submit(server, other.flush()[0])
    assert client.receive(r2) == [Resync("c", 0)]
    assert client.state is ClientState.SYNCING
    client.receive(r1)
    client.receive(r2)
    client.receive(r1)  # a duplicate
    client.receive(Synced(2))
    assert client.state is ClientState.READY
    assert client.text == server.text == "21" + BASE


def test_reconnect_resends_the_unacknowledged_edit_with_the_same_id() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(0, 0, "x")
    [edit] = client.flush()
    client.disconnect()
    client.replace(1, 0, "y")  # typing offline
    assert client.receive(Synced(0)) == []  # stragglers of the old connection are ignored
    [resync] = client.connect()
    assert resync == Resync("c", 0)
    [again] = client.receive(Synced(0))
    assert isinstance(again, Edit) and again.op_id == edit.op_id and again.patch == edit.patch
    [second] = client.receive(submit(server, again))
    client.receive(submit(server, second))
    assert client.text == server.text == "xy" + BASE


def test_reconnect_after_a_lost_acknowledgement_does_not_apply_twice() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(0, 0, "x")
    [edit] = client.flush()
    submit(server, edit)  # applied, but the acknowledgement is lost
    client.disconnect()
    client.connect()
    for revision in server.catch_up(0):  # type: ignore[union-attr]
        assert client.receive(revision) == []
    assert client.receive(Synced(1)) == []
    assert not client.has_unconfirmed
    assert client.text == server.text == "x" + BASE
    # Even if it were sent again, the server would acknowledge it once.
    assert server.submit(edit, "c").placement is Placement.DUPLICATE


def test_snapshot_merges_unconfirmed_edits() -> None:
    server = Sequencer("line one\nline two\nline three\n", history_limit=1)
    client = connected("c", server)
    client.replace(0, 0, "> ")
    [edit] = client.flush()
    client.disconnect()
    client.replace(len(client.text), 0, "line four\n")
    text = server.text
    for seq in (1, 2):
        server.submit(edit_on(text, server.rev, "o", seq, len(text), 0, f"other {seq}\n"), "o")
        text = server.text
    client.connect()
    snapshot = server.catch_up(0, "c")
    replies = client.receive(snapshot)  # type: ignore[arg-type]
    # Both appended at the end: the text the server already has comes first.
    assert client.text == "> line one\nline two\nline three\nother 1\nother 2\nline four\n"
    assert client.rev == 2
    # The unconfirmed edit keeps its id: if the first copy still arrives, it lands once.
    assert isinstance(replies[0], Edit) and replies[0].op_id == edit.op_id
    pump(client, server, replies)
    assert client.text == server.text
    assert not client.has_unconfirmed


def test_late_first_copy_after_a_snapshot_lands_once() -> None:
    server = Sequencer("base\n")
    client = connected("c", server)
    client.replace(0, 0, "mine ")
    [first] = client.flush()
    client.replace(0, 0, "later ")  # typed while the first is in flight
    client.disconnect()
    server.submit(edit_on(server.text, 0, "o", 1, 5, 0, "other\n"), "o")
    server.submit(edit_on(server.text, 1, "o", 2, 0, 0, "top\n"), "o")
    client.connect()
    [again] = client.receive(server.catch_up(0, "c", full=True))  # type: ignore[arg-type]
    # The first copy, delayed in the network, reaches the server before the second.
    late = server.submit(first, "c")  # type: ignore[arg-type]
    duplicate = server.submit(again, "c")  # type: ignore[arg-type]
    assert duplicate.revision == late.revision
    pump(client, server, client.receive(late.revision))
    assert client.text == server.text
    assert server.text.count("mine ") == 1 and server.text.count("later ") == 1
    assert not client.has_unconfirmed


def test_unasked_or_old_snapshots_are_ignored() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(0, 0, "x")
    [edit] = client.flush()
    snapshot = server.snapshot("c")
    assert client.receive(snapshot) == []  # ready: nobody asked
    assert client.text == "x" + BASE and client.unconfirmed_count == 1
    client.receive(submit(server, edit))
    client.disconnect()
    client.connect()
    assert client.receive(snapshot) == []  # older than what the client holds
    assert client.state is ClientState.SYNCING


def test_snapshot_that_contains_the_in_flight_edit_does_not_duplicate_it() -> None:
    server = Sequencer(BASE, history_limit=1)
    client = connected("c", server)
    client.replace(0, 0, "x")
    submit(server, client.flush()[0])
    server.submit(edit_on(server.text, 1, "o", 1, 0, 0, "o"), "o")
    client.disconnect()
    client.connect()
    assert client.receive(server.catch_up(0, "c")) == []  # type: ignore[arg-type]
    assert client.text == server.text == "ox" + BASE
    assert not client.has_unconfirmed


def test_refused_edit_is_taken_out_and_later_typing_kept() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(0, 0, "BIG")
    [edit] = client.flush()
    client.replace(len(client.text), 0, "!")
    assert isinstance(edit, Edit)
    [resent] = client.receive(EditError(edit.op_id, "document-too-large", "too big"))
    assert client.text == BASE + "!"
    assert [e.code for e in client.rejected] == ["document-too-large"]
    client.receive(submit(server, resent))
    assert client.text == server.text == BASE + "!"


def test_stale_edit_error_leads_to_a_catch_up_not_a_loss() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(0, 0, "x")
    [edit] = client.flush()
    assert isinstance(edit, Edit)
    assert client.receive(EditError(edit.op_id, "stale-revision", "resync")) == [Resync("c", 0)]
    assert client.rejected == []
    assert client.text == "x" + BASE


def test_error_about_another_edit_is_ignored() -> None:
    client = connected("c", Sequencer(BASE))
    assert client.receive(EditError(OpId("c", 9), "patch-rejected", "no")) == []
    assert client.rejected == []


def test_corrupt_revision_asks_for_a_snapshot() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    revision = server.submit(edit_on(BASE, 0, "o", 1, 0, 0, "x"), "o").revision
    bad = Revision(1, 0, "o", revision.op_id, revision.patch, "12:00000000")
    assert client.receive(bad) == [Resync("c", 0, full=True)]
    assert client.rev == 0
    assert client.resend() == [Resync("c", 0, full=True)]  # a retry asks for the same
    assert client.receive(Synced(0)) == []  # an older answer does not end the wait
    assert client.state is ClientState.SYNCING
    client.receive(server.catch_up(0, "c", full=True))  # type: ignore[arg-type]
    assert client.state is ClientState.READY and client.text == server.text


LONG = "Pack my box with five dozen liquor jugs. " + "Jackdaws love my big sphinx of quartz. " * 3


def test_a_corrupted_shadow_is_caught_on_the_next_revision() -> None:
    """A shadow corrupted behind the engine's back, near the next change (inside its
    windows, outside its patch's context) or by a change of length anywhere: the next
    revision fails its checksum, and the client repairs its copy from a snapshot."""
    at = LONG.index("liquor")
    for corrupt in (
        LONG[: at - 10] + "E" + LONG[at - 9 :],
        LONG[:-1],
        LONG[:5] + LONG[6:],
    ):
        server = Sequencer(LONG)
        client = connected("c", server)
        client.receive(submit(server, edit_on(LONG, 0, "o", 1, 0, 0, "x")))  # known checksum
        text = server.text
        client.shadow = client.text = corrupt = "x" + corrupt
        revision = submit(server, edit_on(text, 1, "o", 2, at + 1, 6, "wine"))
        assert client.receive(revision) == [Resync("c", 1, full=True)], corrupt
        if len(corrupt) == len(text):  # (else the corruption broke the client's own books)
            client.receive(server.catch_up(1, "c", full=True))  # type: ignore[arg-type]
            assert client.shadow == client.text == server.text


def test_a_copy_that_folded_a_revision_the_server_took_back_is_caught() -> None:
    """The server broadcast a revision, then rolled it back (its write failed) and gave the
    number to another edit. The client ignores the second revision of that number, and the
    next one, far from both, fits its copy: its checksum, kept from its own text, does not."""
    server = Sequencer(LONG)
    client = connected("c", server)
    server.checkpoint()
    client.receive(submit(server, edit_on(LONG, 0, "a", 1, 0, 0, "A")))
    server.rollback()
    assert client.receive(submit(server, edit_on(LONG, 0, "b", 1, 0, 0, "B"))) == []
    far = edit_on(server.text, 1, "d", 1, len(server.text), 0, "!")
    assert client.receive(submit(server, far)) == [Resync("c", 1, full=True)]
    client.receive(server.catch_up(1, "c", full=True))  # type: ignore[arg-type]
    assert client.text == server.text == "B" + LONG + "!"


def test_folding_a_revision_does_not_checksum_the_whole_shadow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Sequencer(LONG)
    reader = connected("r", server)
    writer = connected("w", server)
    writer.replace(0, 0, "x")
    pump(writer, server, writer.flush())  # the reader's first fold checks in full
    reader.receive(server.revision(1))  # type: ignore[arg-type]

    def whole_text(_: str) -> str:
        raise AssertionError("a checksum over the whole text")

    monkeypatch.setattr(fold_module, "checksum", whole_text)
    for position in (0, 50, len(writer.text)):
        writer.replace(position, 0, "y")
        pump(writer, server, writer.flush())
        reader.receive(server.revision(server.rev))  # type: ignore[arg-type]
    assert reader.text == writer.text == server.text


def test_fuzzy_acknowledgement_corrects_the_local_text() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    client.replace(0, 5, "HELLO")
    [edit] = client.flush()
    client.replace(len(client.text), 0, "?")
    assert isinstance(edit, Edit)
    # Pretend the server placed the edit differently (as a fuzzy placement may).
    other = Sequencer(BASE)
    different = other.submit(edit_on(BASE, 0, "c", 1, 6, 5, "WORLD"), "c").revision
    [follow_up] = client.receive(different)
    assert client.shadow == "hello WORLD"
    # The user's text stays; what still differs from the server's is sent next.
    assert client.text == "HELLO world?"
    client.receive(other.submit(follow_up, "c").revision)  # type: ignore[arg-type]
    assert client.text == other.text == "HELLO world?"


def test_local_edits_are_validated() -> None:
    client = SyncClient("c", text=BASE)
    with pytest.raises(InvalidText):
        client.replace(0, 0, "\x00")
    with pytest.raises(InvalidText):
        client.set_text("\ud800")
    with pytest.raises(ValueError, match="outside the text"):
        client.replace(20, 1, "")
    assert client.text == BASE


def test_set_text_finds_the_change() -> None:
    client = SyncClient("c", text=BASE)
    op = client.set_text("hello brave world")
    assert op == ops.replace(11, 6, "", "brave ")


def test_resend_after_timeouts() -> None:
    server = Sequencer(BASE)
    client = connected("c", server)
    assert client.resend() == []
    client.replace(0, 0, "x")
    [edit] = client.flush()
    assert client.resend() == [edit]
    client.disconnect()
    assert client.resend() == []
    client.connect()
    assert client.resend() == [Resync("c", 0)]


def test_snapshot_merge_does_not_resurrect_replaced_text() -> None:
    server = Sequencer("one two three", history_limit=1)
    ann, bob = connected("ann", server), connected("bob", server)
    ann.replace(0, 3, "ONE")
    [stale] = ann.flush()
    for letter in "XY":
        bob.replace(len(bob.text), 0, letter)
        bob.receive(submit(server, bob.flush()[0]))
    with pytest.raises(StaleRevision) as info:
        server.submit(stale, "ann")  # type: ignore[arg-type]
    [request] = ann.receive(EditError(stale.op_id, info.value.code, str(info.value)))
    assert isinstance(request, Resync)
    [resent] = ann.receive(server.catch_up(request.since, "ann", full=request.full))  # type: ignore[arg-type]
    assert ann.unconfirmed_count == 1  # one edit was typed; nothing else to send
    revision = submit(server, resent)
    assert ann.receive(revision) == []
    bob.receive(revision)
    bob.replace(0, 3, "1")  # Bob replaces Ann's word afterwards
    bob.receive(submit(server, bob.flush()[0]))
    assert server.text == "1 two threeXY"
