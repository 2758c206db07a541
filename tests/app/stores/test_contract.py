"""The ``DocumentStore`` contract (``app/core/store.py``), run against every adapter.

Each test runs on the memory store, on SQLite and on PostgreSQL (see ``conftest.py``). The
stores take a snapshot every ``SNAPSHOT_EVERY`` (3) revisions, so even short histories cross
several snapshots. Titles are lowercase ASCII wherever order matters, so that every database
collation sorts them as Python does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from app.core.errors import DocumentExists, DocumentNotFound, RevisionNotFound
from app.core.store import (
    AppendResult,
    DocumentInfo,
    DocumentStore,
    SortOrder,
    change_size,
)
from app.stores.sql.store import SqlStore
from sync.protocol import OpId
from sync.text import checksum
from tests.app.stores.support import (
    SNAPSHOT_EVERY,
    Backend,
    Clock,
    Doc,
    make_commits,
    snapshot_revs,
    sql_row_counts,
)

pytestmark = pytest.mark.anyio


async def ids(store: DocumentStore, **kwargs: object) -> tuple[list[str], int]:
    items, total = await store.list_documents(**kwargs)  # type: ignore[arg-type]
    return [i.id for i in items], total


async def assert_log(store: DocumentStore, doc: Doc) -> None:
    """The store holds exactly ``doc``: its info, every text, and its whole log."""
    info = await store.get(doc.id)
    assert (info.head_rev, info.length, info.checksum) == (
        doc.head,
        len(doc.text),
        checksum(doc.text),
    )
    assert await store.revisions_after(doc.id, 0, doc.head + 10) == doc.log
    for rev, text in enumerate(doc.texts):
        assert await store.text_at(doc.id, rev) == text, f"text at revision {rev}"


# -- creating, reading, renaming, deleting --------------------------------------------------


async def test_create_and_get(store: DocumentStore, clock: Clock) -> None:
    await store.ping()
    assert store.snapshot_every == SNAPSHOT_EVERY
    text = "Hello 𝄞 wörld 😀\nsecond line"
    info = await store.create("doc-1", "A title", text)
    assert info == DocumentInfo(
        "doc-1", "A title", clock.time, clock.time, 0, len(text), checksum(text)
    )
    assert info.length == 27  # code points: the astral characters count one each
    assert info.created_at.utcoffset() == timedelta(0)
    assert await store.get("doc-1") == info
    assert await store.text_at("doc-1", 0) == text
    loaded = await store.load("doc-1", history=10)
    assert (loaded.info, loaded.text, loaded.history, loaded.client_seqs) == (info, text, [], {})
    assert await snapshot_revs(store, "doc-1") == [0]


async def test_create_an_empty_document(store: DocumentStore) -> None:
    info = await store.create("empty", "", "")
    assert (info.title, info.length, info.checksum) == ("", 0, checksum(""))
    assert await store.text_at("empty", 0) == ""
    assert await store.history("empty", offset=0, limit=10) == ([], 0)


async def test_create_refuses_a_taken_id_and_keeps_the_document(store: DocumentStore) -> None:
    doc = await Doc.create(store, "d", "original", title="first")
    await doc.append(store, ["original, edited"])
    before = await store.get("d")
    with pytest.raises(DocumentExists, match="'d' already exists"):
        await store.create("d", "second", "other text")
    assert await store.get("d") == before
    await assert_log(store, doc)
    await store.ping()  # the store is still usable after the refusal


async def test_an_unknown_document(store: DocumentStore) -> None:
    await store.create("known", "k", "text")
    commit = make_commits("", 0, [("x", OpId("c", 1))])
    for call in (
        store.get("nope"),
        store.rename("nope", "x"),
        store.delete("nope"),
        store.load("nope", history=10),
        store.text_at("nope", 0),
        store.history("nope", offset=0, limit=10),
        store.revision("nope", 1),
        store.append("nope", commit),
    ):
        with pytest.raises(DocumentNotFound, match="document 'nope' not found"):
            await call
    assert await store.revisions_after("nope", 0, 10) == []
    # These two may answer for an unknown document or refuse it.
    for lookup in (store.last_seq("nope", "c"), store.find_operation("nope", OpId("c", 1))):
        with contextlib.suppress(DocumentNotFound):
            assert not await lookup
    ids_, total = await ids(store)
    assert (ids_, total) == (["known"], 1)


async def test_rename_moves_updated_at(store: DocumentStore, clock: Clock) -> None:
    doc = await Doc.create(store, "d", "text", title="old")
    created = clock.time
    await doc.append(store, ["text 2"])
    appended = await store.get("d")
    later = clock.tick(5)
    renamed = await store.rename("d", "new 😀 title")
    assert renamed == replace(appended, title="new 😀 title", updated_at=later)
    assert renamed.created_at == created
    assert await store.get("d") == renamed
    await assert_log(store, doc)  # the text and the log are untouched


async def test_delete_forgets_everything_of_the_document(store: DocumentStore) -> None:
    gone = await Doc.create(store, "gone", "a")
    kept = await Doc.create(store, "kept", "b")
    for i in range(2, 9):  # past two snapshots each
        await gone.append(store, [f"a{i}"], client="shared")
        await kept.append(store, [f"b{i}"], client="shared")
    assert await snapshot_revs(store, "gone") == [0, 3, 6]

    await store.delete("gone")

    for call in (store.get("gone"), store.text_at("gone", 0), store.load("gone", history=5)):
        with pytest.raises(DocumentNotFound):
            await call
    with pytest.raises(DocumentNotFound):
        await store.delete("gone")
    assert await store.revisions_after("gone", 0, 100) == []
    assert await snapshot_revs(store, "gone") == []
    if isinstance(store, SqlStore):
        assert await sql_row_counts(store, "gone") == (0, 0, 0)
    assert await ids(store) == (["kept"], 1)
    # The other document, with the same operation ids, is whole.
    await assert_log(store, kept)
    assert await snapshot_revs(store, "kept") == [0, 3, 6]
    assert await store.find_operation("kept", OpId("shared", 3)) == kept.log[2]

    # The id can be used again, for a document with nothing of the old one.
    again = await Doc.create(store, "gone", "fresh")
    assert await store.history("gone", offset=0, limit=100) == ([], 0)
    assert await store.find_operation("gone", OpId("shared", 1)) is None
    assert await store.last_seq("gone", "shared") == 0
    assert (await store.load("gone", history=100)).text == "fresh"
    await again.append(store, ["fresh 1", "fresh 2", "fresh 3", "fresh 4"], client="shared")
    await assert_log(store, again)
    assert await snapshot_revs(store, "gone") == [0, 3]


# -- listing --------------------------------------------------------------------------------


async def test_list_query_is_case_insensitive_plain_text(store: DocumentStore) -> None:
    titles = {
        "d1": "Weekly Report",
        "d2": "100% sure",
        "d3": "1000 sure",
        "d4": "snake_case",
        "d5": "snakeXcase",
        "d6": "back\\slash",
        "d7": "backslash",
        "report-8": "minutes",
        "d9": "REPORTING",
    }
    for doc_id, title in titles.items():
        await store.create(doc_id, title, "")
    # In the title or the id ("report-8"), whatever the case of either.
    for query in ("report", "RePoRt", "REPORT"):
        found, total = await ids(store, query=query)
        assert (sorted(found), total) == (["d1", "d9", "report-8"], 3)
    assert await ids(store, query="T-8") == (["report-8"], 1)
    assert await ids(store, query="%") == (["d2"], 1)
    assert await ids(store, query="0% s") == (["d2"], 1)
    assert await ids(store, query="_") == (["d4"], 1)
    assert await ids(store, query="e_c") == (["d4"], 1)
    assert await ids(store, query="\\") == (["d6"], 1)
    assert await ids(store, query="k\\s") == (["d6"], 1)
    assert await ids(store, query="no such thing") == ([], 0)
    for everything in (None, ""):
        assert (await ids(store, query=everything))[1] == len(titles)


async def test_list_query_folds_the_case_of_any_letter(store: DocumentStore) -> None:
    """Not ASCII only. (On PostgreSQL this needs a database whose LC_CTYPE knows the letters,
    e.g. C.UTF-8 or en_US.UTF-8; under plain "C" only ASCII letters fold.)"""
    await store.create("ete", "Été à Zürich", "")
    await store.create("ete-upper", "ÉTÉ", "")
    await store.create("ascii", "ete", "")
    for query in ("été", "ÉTÉ", "éTé"):
        found, total = await ids(store, query=query)
        assert (sorted(found), total) == (["ete", "ete-upper"], 2), query
    for query in ("zürich", "ZÜRICH", "À Z"):
        assert await ids(store, query=query) == (["ete"], 1), query


async def test_list_pages(store: DocumentStore) -> None:
    for i in range(7):
        await store.create(f"d{i}", f"t{6 - i}", "")
    assert await ids(store, sort=SortOrder.TITLE_ASC) == (
        ["d6", "d5", "d4", "d3", "d2", "d1", "d0"],
        7,
    )
    assert await ids(store, offset=2, limit=3, sort=SortOrder.TITLE_ASC) == (["d4", "d3", "d2"], 7)
    assert await ids(store, offset=5, limit=3, sort=SortOrder.TITLE_ASC) == (["d1", "d0"], 7)
    assert await ids(store, offset=7, limit=3) == ([], 7)
    assert await ids(store, offset=100, limit=3) == ([], 7)
    assert await ids(store, offset=0, limit=0) == ([], 7)
    # A query counts what matches, not what fits on the page.
    assert await ids(store, query="t", offset=1, limit=2, sort=SortOrder.TITLE_DESC) == (
        ["d1", "d2"],
        7,
    )
    # The default page is 50 documents.
    for i in range(7, 55):
        await store.create(f"d{i}", "x", "")
    items, total = await store.list_documents()
    assert (len(items), total) == (50, 55)


async def test_list_every_sort_order_breaks_ties_by_id(store: DocumentStore, clock: Clock) -> None:
    # Created at three moments, with equal titles and equal times to tie on.
    t0 = clock.time
    await store.create("b", "beta", "")
    await store.create("d", "alpha", "")
    t1 = clock.tick()
    await store.create("a", "beta", "")
    await store.create("e", "gamma", "")
    t2 = clock.tick()
    await store.create("c", "alpha", "")
    # Then "d" is renamed (updated at t3) and "b" edited (updated at t4).
    t3 = clock.tick()
    await store.rename("d", "alpha")
    t4 = clock.tick()
    doc_b = Doc("b", [""])
    await doc_b.append(store, ["edited"])
    infos = {i.id: i for i in (await store.list_documents())[0]}
    assert {k: (v.created_at, v.updated_at) for k, v in infos.items()} == {
        "a": (t1, t1),
        "b": (t0, t4),
        "c": (t2, t2),
        "d": (t0, t3),
        "e": (t1, t1),
    }
    expected = {
        SortOrder.UPDATED_DESC: ["b", "d", "c", "a", "e"],
        SortOrder.UPDATED_ASC: ["a", "e", "c", "d", "b"],
        SortOrder.CREATED_DESC: ["c", "a", "e", "b", "d"],
        SortOrder.CREATED_ASC: ["b", "d", "a", "e", "c"],
        SortOrder.TITLE_ASC: ["c", "d", "a", "b", "e"],
        SortOrder.TITLE_DESC: ["e", "a", "b", "c", "d"],
    }
    assert set(expected) == set(SortOrder)
    for order, order_ids in expected.items():
        assert await ids(store, sort=order) == (order_ids, 5), order
        # Pages of one agree with the whole list: the order is total.
        paged = [(await ids(store, sort=order, offset=i, limit=1))[0][0] for i in range(5)]
        assert paged == order_ids, order
    assert await ids(store) == (expected[SortOrder.UPDATED_DESC], 5)
    # Query, sort and page together.
    assert await ids(store, query="ALPHA", sort=SortOrder.CREATED_ASC) == (["d", "c"], 2)
    assert await ids(store, query="a", sort=SortOrder.TITLE_DESC, offset=1, limit=2) == (
        ["a", "b"],
        5,
    )


# -- reading text and history ---------------------------------------------------------------


async def history_doc(store: DocumentStore, head: int = 10) -> Doc:
    """A document with ``head`` revisions by three clients, in batches of 1 to 3."""
    doc = await Doc.create(store, "h", "start")
    clients = ["alice", "bob", "carol"]
    batch = 0
    while doc.head < head:
        size = min(head - doc.head, 1 + batch % 3)
        texts = [f"start {doc.head + i + 1}" + "!" * ((doc.head + i) % 4) for i in range(size)]
        await doc.append(store, texts, client=clients[batch % 3])
        batch += 1
    return doc


async def test_text_at_every_revision(store: DocumentStore) -> None:
    doc = await history_doc(store, head=10)
    await assert_log(store, doc)
    for rev in (-1, 11, 1000):
        with pytest.raises(RevisionNotFound, match=f"revisions 0 to 10, not {rev}"):
            await store.text_at("h", rev)


async def test_load(store: DocumentStore) -> None:
    doc = await history_doc(store, head=10)
    assert [r.op_id.client[0] for r in doc.log] == list("abbcccabbc")
    for history in (0, 1, 4, 10, 11, 500):
        loaded = await store.load("h", history=history)
        assert loaded.info == await store.get("h")
        assert loaded.text == doc.text
        assert loaded.history == doc.log[len(doc.log) - min(history, 10) :]
        # Every client with a revision in that history, with its newest seq and revision.
        expected = {}
        for revision in loaded.history:
            expected[revision.op_id.client] = (revision.op_id.seq, revision.rev)
        assert loaded.client_seqs == expected, history
    assert (await store.load("h", history=100)).client_seqs == {
        "alice": (2, 7),
        "bob": (4, 9),
        "carol": (4, 10),
    }
    assert (await store.load("h", history=2)).client_seqs == {"bob": (4, 9), "carol": (4, 10)}


async def test_revisions_after(store: DocumentStore) -> None:
    doc = await history_doc(store, head=10)
    assert await store.revisions_after("h", 0, 100) == doc.log
    assert await store.revisions_after("h", 0, 3) == doc.log[:3]
    assert await store.revisions_after("h", 4, 2) == doc.log[4:6]
    assert await store.revisions_after("h", 7, 100) == doc.log[7:]
    assert await store.revisions_after("h", 9, 1) == [doc.log[9]]
    assert await store.revisions_after("h", 10, 100) == []
    assert await store.revisions_after("h", 50, 100) == []
    assert await store.revisions_after("h", 3, 0) == []


async def test_history_pages_both_ways(store: DocumentStore, clock: Clock) -> None:
    doc = await Doc.create(store, "h", "abc")
    stamps = []
    await doc.append(store, ["aXYc"])  # +2 -1
    stamps.append(clock.time)
    clock.tick()
    await doc.append(store, ["aXYc😀😀😀", "c", "c d"])  # +3; -6; +2
    stamps += [clock.time] * 3
    clock.tick()
    await doc.append(store, ["", "new"])  # -3; +3
    stamps += [clock.time] * 2
    sizes = [(2, 1), (3, 0), (0, 6), (2, 0), (0, 3), (3, 0)]
    log = [
        (r.revision, r.created_at, r.inserted, r.deleted)
        for r in (await store.history("h", offset=0, limit=100, newest_first=False))[0]
    ]
    assert log == [
        (revision, stamp, *size)
        for revision, stamp, size in zip(doc.log, stamps, sizes, strict=True)
    ]
    for newest_first in (True, False):
        everything = list(range(6, 0, -1)) if newest_first else list(range(1, 7))
        for offset, limit in ((0, 2), (2, 2), (4, 2), (5, 10), (6, 1), (9, 3), (0, 0)):
            page, total = await store.history(
                "h", offset=offset, limit=limit, newest_first=newest_first
            )
            assert total == 6
            assert [s.revision.rev for s in page] == everything[offset : offset + limit]
    # Newest first is the default.
    page, _ = await store.history("h", offset=0, limit=1)
    assert page[0].revision == doc.log[-1]


async def test_a_single_revision(store: DocumentStore) -> None:
    doc = await history_doc(store, head=5)
    for rev in range(1, 6):
        stored = await store.revision("h", rev)
        assert stored.revision == doc.log[rev - 1]
        assert (stored.inserted, stored.deleted) == change_size(
            make_commits(doc.texts[rev - 1], rev - 1, [(doc.texts[rev], OpId("x", 1))])[0].op
        )
    for rev in (0, 6, 100):
        with pytest.raises(RevisionNotFound, match=f"no revision {rev}"):
            await store.revision("h", rev)


async def test_last_seq_and_find_operation(store: DocumentStore) -> None:
    one = await Doc.create(store, "one", "")
    other = await Doc.create(store, "other", "")
    await one.append(store, ["a", "ab"], client="alice")  # alice 1, 2
    await one.append(store, ["abc"], client="bob")  # bob 1
    one.seqs["alice"] = 9  # alice skips some seqs (edits that never reached this document)
    await one.append(store, ["abcd", "abcde"], client="alice")  # alice 10, 11
    await other.append(store, ["z"], client="alice")  # the same op id alice:1, elsewhere

    assert await store.last_seq("one", "alice") == 11
    assert await store.last_seq("one", "bob") == 1
    assert await store.last_seq("one", "carol") == 0
    assert await store.last_seq("other", "alice") == 1
    assert await store.last_seq("other", "bob") == 0

    assert await store.find_operation("one", OpId("alice", 1)) == one.log[0]
    assert await store.find_operation("one", OpId("alice", 11)) == one.log[4]
    assert await store.find_operation("one", OpId("bob", 1)) == one.log[2]
    assert await store.find_operation("other", OpId("alice", 1)) == other.log[0]
    for missing in (OpId("alice", 5), OpId("alice", 12), OpId("carol", 1), OpId("bob", 2)):
        assert await store.find_operation("one", missing) is None
    assert await store.find_operation("other", OpId("bob", 1)) is None
    # The highest seq, not the newest: a late, lower seq does not lower it.
    late = make_commits(one.text, one.head, [("abcdef", OpId("alice", 4))])
    assert await store.append("one", late) is AppendResult.APPENDED
    assert await store.last_seq("one", "alice") == 11
    assert await store.find_operation("one", OpId("alice", 4)) == late[0].revision


# -- appending ------------------------------------------------------------------------------


async def test_append_one_revision(store: DocumentStore, clock: Clock) -> None:
    doc = await Doc.create(store, "d", "héllo", title="t")
    created = await store.get("d")
    later = clock.tick(3)
    batch = await doc.append(store, ["héllo 😀"], client="c")
    assert batch[0].revision.rev == 1
    assert await store.get("d") == replace(
        created, updated_at=later, head_rev=1, length=7, checksum=checksum("héllo 😀")
    )
    assert await store.revision("d", 1) == (await store.history("d", offset=0, limit=1))[0][0]
    stored = await store.revision("d", 1)
    assert (stored.revision, stored.created_at, stored.inserted, stored.deleted) == (
        batch[0].revision,
        later,
        2,
        0,
    )
    assert await store.last_seq("d", "c") == 1
    await assert_log(store, doc)


async def test_append_a_batch(store: DocumentStore, clock: Clock) -> None:
    doc = await Doc.create(store, "d", "")
    later = clock.tick()
    texts = ["a", "ab", "abc", "abcd", "abcde"]
    batch = doc.commits(texts, client="c")
    assert [c.revision.rev for c in batch] == [1, 2, 3, 4, 5]
    assert await store.append("d", batch) is AppendResult.APPENDED
    doc.accept(batch)
    info = await store.get("d")
    assert (info.head_rev, info.length, info.checksum, info.updated_at) == (
        5,
        5,
        checksum("abcde"),
        later,
    )
    page, total = await store.history("d", offset=0, limit=10, newest_first=False)
    assert total == 5
    assert [s.created_at for s in page] == [later] * 5  # one batch, one moment
    assert await store.last_seq("d", "c") == 5
    assert await snapshot_revs(store, "d") == [0, 3]
    await assert_log(store, doc)
    # The next batch follows on.
    await doc.append(store, ["abcdef", "abcdefg"], client="d")
    await assert_log(store, doc)
    assert await snapshot_revs(store, "d") == [0, 3, 6]


async def test_an_empty_batch_changes_nothing(store: DocumentStore) -> None:
    doc = await history_doc(store, head=2)
    before = await store.get("h")
    assert await store.append("h", []) is AppendResult.APPENDED
    assert await store.get("h") == before
    await assert_log(store, doc)


async def assert_unchanged(store: DocumentStore, doc: Doc, info: DocumentInfo) -> None:
    """Nothing of a refused batch was written: ``doc`` is as it was, ``info`` too."""
    assert await store.get(doc.id) == info
    await assert_log(store, doc)
    page, total = await store.history(doc.id, offset=0, limit=100)
    assert ([s.revision for s in page], total) == (doc.log[::-1], doc.head)
    expected_snapshots = [r for r in range(doc.head + 1) if r % SNAPSHOT_EVERY == 0]
    assert await snapshot_revs(store, doc.id) == expected_snapshots
    assert (await store.load(doc.id, history=100)).history == doc.log


async def test_append_is_conditional_on_the_head(store: DocumentStore, clock: Clock) -> None:
    doc = await Doc.create(store, "d", "base")
    await doc.append(store, ["base 1", "base 2"], client="a")
    info = await store.get("d")
    clock.tick()
    # Made on revision 1 (as by a process that missed revision 2): numbered 2 and 3.
    stale = make_commits(doc.texts[1], 1, [("stale 2", OpId("b", 1)), ("stale 3", OpId("b", 2))])
    assert await store.append("d", stale) is AppendResult.HEAD_MOVED
    # Made on a head the store does not have yet: numbered 4 with 3 missing.
    ahead = make_commits("base 3", 3, [("base 4", OpId("b", 1))])
    assert await store.append("d", ahead) is AppendResult.HEAD_MOVED
    # A batch starting at 1 overlaps the whole log.
    again = make_commits("base", 0, [("other", OpId("b", 1))])
    assert await store.append("d", again) is AppendResult.HEAD_MOVED
    await assert_unchanged(store, doc, info)
    assert await store.last_seq("d", "b") == 0
    assert await store.find_operation("d", OpId("b", 1)) is None
    # The one that follows the head lands.
    await doc.append(store, ["base 3"], client="b")
    await assert_log(store, doc)


async def test_two_appends_of_one_revision_at_once(store: DocumentStore) -> None:
    """However they interleave, exactly one of two batches for the same revisions lands."""
    doc = await Doc.create(store, "d", "base")
    for round_ in range(5):
        mine = make_commits(doc.text, doc.head, [(doc.text + f" a{round_}", OpId("a", round_ + 1))])
        theirs = make_commits(
            doc.text,
            doc.head,
            [
                (doc.text + f" b{round_}", OpId("b", round_ + 1)),
                (doc.text + "!", OpId("b", 99 + round_)),
            ],
        )
        results = await asyncio.gather(store.append("d", mine), store.append("d", theirs))
        assert sorted(r.value for r in results) == ["appended", "head-moved"], results
        won = mine if results[0] is AppendResult.APPENDED else theirs
        doc.accept(won)
        await assert_log(store, doc)


async def test_a_batch_with_an_operation_already_in_the_log(
    store: DocumentStore, clock: Clock
) -> None:
    doc = await Doc.create(store, "d", "")
    await doc.append(store, ["x", "xy"], client="a")  # a:1, a:2; revision 3 takes a snapshot
    info = await store.get("d")
    clock.tick()
    # Revision 3 is new; revision 4 carries a:1 again (a retry sequenced twice).
    batch = make_commits("xy", 2, [("xyz", OpId("b", 1)), ("xyz!", OpId("b", 2))])
    batch[1] = replace(batch[1], revision=replace(batch[1].revision, op_id=OpId("a", 1)))
    assert await store.append("d", batch) is AppendResult.DUPLICATE
    await assert_unchanged(store, doc, info)  # revision 3 and its snapshot were not written
    assert await store.find_operation("d", OpId("b", 1)) is None
    assert await store.last_seq("d", "b") == 0
    assert await store.find_operation("d", OpId("a", 1)) == doc.log[0]
    # The same alone, with the operation already there first in its batch.
    alone = make_commits("xy", 2, [("xyz", OpId("a", 2))])
    assert await store.append("d", alone) is AppendResult.DUPLICATE
    await assert_unchanged(store, doc, info)
    # Without the duplicate the batch lands.
    await doc.append(store, ["xyz", "xyz!"], client="b")
    await assert_log(store, doc)
    assert await snapshot_revs(store, "d") == [0, 3]


async def test_a_batch_holding_one_operation_twice(store: DocumentStore) -> None:
    doc = await Doc.create(store, "d", "")
    await doc.append(store, ["x"], client="a")
    info = await store.get("d")
    batch = make_commits(
        "x", 1, [("xy", OpId("b", 1)), ("xyz", OpId("b", 2)), ("xyz!", OpId("b", 3))]
    )
    batch[2] = replace(batch[2], revision=replace(batch[2].revision, op_id=OpId("b", 1)))
    assert await store.append("d", batch) is AppendResult.DUPLICATE
    await assert_unchanged(store, doc, info)
    assert await store.find_operation("d", OpId("b", 1)) is None


async def test_an_operation_id_is_unique_per_document_only(store: DocumentStore) -> None:
    one = await Doc.create(store, "one", "")
    two = await Doc.create(store, "two", "")
    await one.append(store, ["1", "11"], client="c")
    await two.append(store, ["2", "22"], client="c")
    assert (await store.find_operation("one", OpId("c", 2))) == one.log[1]
    assert (await store.find_operation("two", OpId("c", 2))) == two.log[1]
    await assert_log(store, one)
    await assert_log(store, two)


@pytest.mark.parametrize("snapshot_every", [1, 3, 7])
async def test_snapshots_inside_batches(
    backend: Backend, snapshot_every: int, replays: list[int]
) -> None:
    store = await backend.open(snapshot_every=snapshot_every)
    try:
        doc = await Doc.create(store, "d", "0")
        sizes = [1, 2, 4, 5, 3, 7, 1, 1, 6, 2, 8]  # 40 revisions
        for i, size in enumerate(sizes):
            texts = [f"{doc.text}|{doc.head + k + 1}" for k in range(size)]
            await doc.append(store, texts, client=f"c{i % 2}")
        assert doc.head == 40
        expected = [r for r in range(41) if r % snapshot_every == 0]
        assert await snapshot_revs(store, "d") == expected
        replays.clear()
        await assert_log(store, doc)
        loaded = await store.load("d", history=5)
        assert loaded.text == doc.text
        assert loaded.history == doc.log[-5:]
        # Each text was replayed from the newest snapshot at or before it.
        # Each text (and the loaded head) was replayed from the newest snapshot at or
        # before it: fewer than snapshot_every revisions each time.
        assert replays == [rev % snapshot_every for rev in range(41)] + [40 % snapshot_every]
    finally:
        await store.close()


async def test_append_to_a_deleted_document(store: DocumentStore) -> None:
    doc = await Doc.create(store, "d", "")
    await doc.append(store, ["x"])
    batch = doc.commits(["xy", "xyz", "xyz!"])
    await store.delete("d")
    with pytest.raises(DocumentNotFound, match="document 'd' not found"):
        await store.append("d", batch)
    assert await store.revisions_after("d", 0, 10) == []
    assert await snapshot_revs(store, "d") == []
    if isinstance(store, SqlStore):
        assert await sql_row_counts(store, "d") == (0, 0, 0)


async def test_unicode_round_trips(store: DocumentStore) -> None:
    title = "Ünïcödé 𝄞 😀 ✓ 中文"
    doc = await Doc.create(store, "u", "𝄞", title=title)
    texts = [
        "𝄞😀",
        "a𝄞b😀c",
        "a𝄞b😀c\n\t中文 🇫🇷 👩‍👩‍👧",
        "a𝄞😀c\n\t中文 🇫🇷 👩‍👩‍👧 \U0010fffd",
        "😀",
        "",
        "\U0001f600" * 50,
    ]
    batches = await doc.append(store, texts[:3]) + await doc.append(store, texts[3:])
    await assert_log(store, doc)
    info = await store.get("u")
    assert (info.title, info.length) == (title, 50)
    assert (await store.list_documents())[0][0].title == title
    assert await ids(store, query="😀 ✓") == (["u"], 1)
    assert (await store.load("u", history=3)).text == "😀" * 50
    page, _ = await store.history("u", offset=0, limit=10, newest_first=False)
    assert [(s.inserted, s.deleted) for s in page] == [change_size(c.op) for c in batches]
    assert page[-1].inserted == 50


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_edits_in_random_batches(store: DocumentStore, seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "ab c\n%_\\é中😀𝄞"

    def edit(text: str) -> str:
        start = rng.randint(0, len(text))
        end = min(len(text), start + rng.choice([0, 0, 1, 2, 5]))
        inserted = "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 1, 3, 8])))
        if start == end and not inserted:
            inserted = rng.choice(alphabet)
        return text[:start] + inserted + text[end:]

    doc = await Doc.create(store, "r", "".join(rng.choice(alphabet) for _ in range(20)))
    clients = ["a", "b", "c"]
    while doc.head < 120:
        texts = [doc.text]
        for _ in range(rng.randint(1, 2 * SNAPSHOT_EVERY + 2)):
            texts.append(edit(texts[-1]))
        await doc.append(store, texts[1:], client=rng.choice(clients))
        if rng.random() < 0.2:
            rev = rng.randint(0, doc.head)
            assert await store.text_at("r", rev) == doc.texts[rev]
    await assert_log(store, doc)
    for _ in range(10):
        history = rng.randint(0, doc.head + 5)
        loaded = await store.load("r", history=history)
        assert loaded.text == doc.text
        assert loaded.history == doc.log[max(0, doc.head - history) :]
        after, limit = rng.randint(0, doc.head), rng.randint(0, 30)
        assert await store.revisions_after("r", after, limit) == doc.log[after : after + limit]
    for client in clients:
        assert await store.last_seq("r", client) == doc.seqs.get(client, 0)
