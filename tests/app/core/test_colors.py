"""People's colors on a document: the rule (app/core/colors.py) and rooms that follow it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core import colors
from app.core.bus import PresenceEvent
from app.core.members import Member, Person, TokenBucket
from app.core.rooms import Room
from tests.app.core.test_rooms import FakeChannel, Store, registry_for
from tests.app.live import eventually

pytestmark = [pytest.mark.timeout(60)]


# -- the rule -------------------------------------------------------------------------------


def test_a_free_wish_is_kept_and_normalised() -> None:
    assert colors.assign("#1A2b3C", ["#d7263d"], "d", "Ann") == "#1a2b3c"


def test_a_taken_wish_or_none_gets_the_first_free_color_from_the_slot() -> None:
    start = colors.slot("d", "Ann")
    first = colors.PALETTE[start]
    second = colors.PALETTE[(start + 1) % len(colors.PALETTE)]
    assert colors.assign(None, [], "d", "Ann") == first
    assert colors.assign("", [], "d", "Ann") == first
    assert colors.assign("#ABCDEF", ["#abcdef"], "d", "Ann") == first  # case does not matter
    assert colors.assign(None, [first.upper()], "d", "Ann") == second
    assert colors.assign("not a color", [first], "d", "Ann") == second


def test_every_palette_color_goes_before_any_is_given_twice() -> None:
    taken: list[str] = []
    for i in range(len(colors.PALETTE)):
        taken.append(colors.assign(None, taken, "doc", f"person {i}"))
    assert sorted(taken) == sorted(colors.PALETTE)


def test_an_exhausted_palette_gives_the_least_used_color_deterministically() -> None:
    taken = [*colors.PALETTE, *colors.PALETTE[:5]]
    got = colors.assign(None, taken, "doc", "Zoe")
    assert got in colors.PALETTE[5:]  # used once, not twice
    assert colors.assign(None, list(reversed(taken)), "doc", "Zoe") == got  # order-free
    assert colors.assign("#d7263d", taken, "doc", "Zoe") == got  # a taken wish, same answer
    assert not colors.has_free(colors.PALETTE)
    assert colors.has_free(colors.PALETTE[1:])


def test_of_two_people_given_one_color_exactly_one_yields() -> None:
    assert colors.yields("b2", "a1") != colors.yields("a1", "b2")


# -- rooms ----------------------------------------------------------------------------------


def member(session: str, name: str, color: str = "", author: str = "") -> Member:
    person = Person(session=session, client=f"c-{session}", name=name, color=color)
    person.author = author
    joined = Member(person, FakeChannel(), 1000, TokenBucket(1000, 1000))
    joined.start()
    return joined


async def join(room: Room, joiner: Member) -> dict[str, Any]:
    await room.join(joiner, 0, full=True, welcome={"type": "joined"})
    channel = joiner.channel
    assert isinstance(channel, FakeChannel)
    await eventually(lambda: bool(channel.of_type("joined")))
    return channel.of_type("joined")[0]


def sent(joiner: Member) -> FakeChannel:
    assert isinstance(joiner.channel, FakeChannel)
    return joiner.channel


@pytest.mark.anyio
async def test_people_present_get_distinct_colors_and_keep_a_free_wish(
    store: Store, data_dir: Path
) -> None:
    await store.create("d1", "D1", "text")
    registry = registry_for(store, data_dir, idle_unload_seconds=0)
    room = await registry.acquire("d1")
    ann, bob, cy = (
        member("s1", "Ann", "#123456"),
        member("s2", "Bob", "#123456"),
        member("s3", "Cy"),
    )
    assert (await join(room, ann))["person"]["color"] == "#123456"
    welcome = await join(room, bob)
    assert welcome["person"]["color"] in colors.PALETTE  # Ann has the one Bob wanted
    assert welcome["person"]["color"] == bob.person.color
    await join(room, cy)
    assert len({ann.person.color, bob.person.color, cy.person.color}) == 3

    # A second tab of Ann's is the same person: it may have her color.
    ann_again = member("s4", "Ann", "#123456")
    assert (await join(room, ann_again))["person"]["color"] == "#123456"

    # Asking for a color: granted if free, else refused with the person told theirs.
    room.recolor(cy, "#00FF00")
    assert cy.person.color == "#00ff00"
    room.recolor(cy, bob.person.color)
    assert cy.person.color == "#00ff00"
    await eventually(lambda: bool(sent(cy).of_type("presence")))
    told = sent(cy).of_type("presence")[-1]
    assert told["person"]["session"] == "s3" and told["person"]["color"] == "#00ff00"
    for joiner in (ann, bob, cy, ann_again):
        room.remove(joiner)
        await joiner.stop()
    await registry.release(room)


@pytest.mark.anyio
async def test_a_remote_persons_color_counts_and_a_clash_is_settled_by_session(
    store: Store, data_dir: Path
) -> None:
    await store.create("d1", "D1", "text")
    registry = registry_for(store, data_dir, idle_unload_seconds=0)
    room = await registry.acquire("d1")
    remote = {"session": "m5", "name": "Remy", "color": "#abcdef", "cursor": None, "rev": 0}
    room.presence_heard(PresenceEvent("join", remote, "other@host/app-2"))
    ann = member("a1", "Ann", "#ABCDEF")  # Remy has it already
    assert (await join(room, ann))["person"]["color"] != "#abcdef"

    # Joined at once on two instances with one color: the greater session changes, here.
    zed = member("z9", "Zed", "#0000ff")
    await join(room, zed)
    clash = {"session": "b2", "name": "Bea", "color": "#0000FF", "cursor": None, "rev": 0}
    room.presence_heard(PresenceEvent("join", clash, "other@host/app-2"))
    assert zed.person.color not in {"#0000ff", "#abcdef", ann.person.color}
    await eventually(
        lambda: any(
            m["person"]["session"] == "z9" and m["person"]["color"] == zed.person.color
            for m in sent(ann).of_type("presence") + sent(zed).of_type("presence")
        )
    )
    # The other way round, the remote person changes (on their instance): nothing here.
    before = ann.person.color
    late = {"session": "zz", "name": "Late", "color": before, "cursor": None, "rev": 0}
    room.presence_heard(PresenceEvent("join", late, "other@host/app-2"))
    assert ann.person.color == before
    # A person's other session (same author) is no clash.
    same = {"session": "a0", "name": "Shown", "author": "Zed", "color": zed.person.color}
    kept = zed.person.color
    room.presence_heard(PresenceEvent("update", {**same, "cursor": None, "rev": 0}, "x@y/z"))
    assert zed.person.color == kept
    for joiner in (ann, zed):
        room.remove(joiner)
        await joiner.stop()
    await registry.release(room)
