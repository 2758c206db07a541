"""Tells people who join while the bus is cut off (``RoomRegistry.reachable``) that it is:
the page shows a banner until a ``status`` message says ``ok`` again. Those already there
were told when it happened (``RoomRegistry.reachability_changed``)."""

from __future__ import annotations

from app.core.bus import PresenceEvent
from app.core.extensions import Extension
from app.core.registry import RoomRegistry


class ReachabilityNotice(Extension):
    priority = 950  # reports only

    def __init__(self, rooms: RoomRegistry) -> None:
        self.rooms = rooms

    async def on_presence(self, doc_id: str, event: PresenceEvent) -> None:
        if event.event != "join" or self.rooms.reachable:
            return
        room = self.rooms.rooms.get(doc_id)
        member = room.members.get(str(event.person.get("session"))) if room else None
        if member is not None:  # the one who joined; the others were told already
            member.push(self.rooms.reachability_message())
