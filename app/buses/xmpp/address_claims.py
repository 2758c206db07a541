"""The XMPP half of people linking their own address (app/core/xmpp_links.py): direct
messages to the app's account are handed to the core, and its answer goes back.

Only a person's own message counts: ``chat`` or ``normal`` type with a body, from another
account than the app's, and not from the app's own chat or pubsub services (a private
message in a chat room comes from the room's address, which is nobody's). Messages are few
and small; each is bounded before any work (``MAX_BODY_CHARS``), and the answers are rate
limited by the core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slixmpp import ClientXMPP, Message

from app.core.xmpp_links import Redeem

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 200  # "link K7Q2M9XDPA" with room for a client's decorations


class AddressClaims:
    def __init__(
        self,
        xmpp: ClientXMPP,
        services: Callable[[], set[str]],
        spawn: Callable[[Any], None],
        connected: Callable[[], bool],
    ) -> None:
        self.xmpp = xmpp
        self.services = services  # the domains of our chat and pubsub services
        self.spawn = spawn
        self.connected = connected
        self.redeem: Redeem | None = None
        xmpp.add_event_handler("message", self._on_message)

    def address(self) -> str | None:
        if not self.connected():
            return None
        return str(self.xmpp.boundjid.bare)

    def _on_message(self, message: Message) -> None:
        if self.redeem is None or message["type"] not in ("chat", "normal"):
            return
        sender = message["from"]
        if not sender.user or sender.bare == self.xmpp.boundjid.bare:
            return  # a server, a service, or another instance of ours
        if sender.domain in self.services():
            return  # an occupant of one of our rooms, or a pubsub node: nobody's address
        body = message["body"]
        if not body or len(body) > MAX_BODY_CHARS:
            return
        self.spawn(self._redeem(body, str(sender.bare), sender))

    async def _redeem(self, body: str, bare: str, sender: Any) -> None:
        assert self.redeem is not None
        try:
            answer = await self.redeem(body, bare)
        except Exception:  # the database, say: the person may send it again
            log.exception("could not take a link code from %s", bare)
            answer = "Something went wrong on our side; send the same message again in a minute."
        if answer is not None:
            self.xmpp.send_message(mto=sender, mbody=answer, mtype="chat")
