"""A plain XMPP client in a document's chat room, for tests: slixmpp and its XEP-0045 plugin,
nothing of the project's, as Gajim or a hand-written bot would be. ``OccupantThread`` runs one
on a loop of its own, for the browser tests' synchronous Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from slixmpp import ClientXMPP, Message, Presence
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from app.buses.xmpp.prosody import XmppAccount

T = TypeVar("T")
TIMEOUT = 30.0


class Occupant:
    """An XMPP client in a chat room: slixmpp and its MUC plugin, nothing of ours."""

    def __init__(self, account: XmppAccount) -> None:
        self.account = account
        self.xmpp = ClientXMPP(f"{account.jid}/gajim", account.password)
        self.xmpp.enable_starttls = False
        self.xmpp.enable_direct_tls = False
        self.xmpp.enable_plaintext = True
        self.xmpp.plugin["feature_mechanisms"].unencrypted_plain = True
        self.xmpp.register_plugin("xep_0030")
        self.xmpp.register_plugin("xep_0045")
        self.heard: list[tuple[str, str, bool]] = []  # nick, body, from the room's history
        self.xmpp.add_event_handler("groupchat_message", self._on_message)
        self.sent_out: list[list[int]] = []  # status codes of each time a room let us go
        self.xmpp.add_event_handler("groupchat_presence", self._on_presence)
        self._refusals: dict[str, asyncio.Future[str]] = {}
        self.xmpp.register_handler(
            Callback("refusal", StanzaPath("presence@type=error"), self._on_refusal)
        )

    def _on_presence(self, presence: Presence) -> None:
        codes = list(presence["muc"]["status_codes"])
        if presence["type"] == "unavailable" and 110 in codes:  # 110: about us
            self.sent_out.append(codes)

    def _on_message(self, message: Message) -> None:
        delayed = message.get_plugin("delay", check=True) is not None
        self.heard.append((message["from"].resource, message["body"], delayed))

    async def connect(self) -> None:
        started = asyncio.get_running_loop().create_future()
        self.xmpp.add_event_handler("session_start", lambda _: started.set_result(True))
        self.xmpp.connect(self.account.host, self.account.port)
        await asyncio.wait_for(started, TIMEOUT)
        self.xmpp.send_presence()

    async def join(self, room: str, nick: str) -> str:
        """Join ``room``; "" once in, or the condition the room refused us with."""
        refusal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._refusals[room] = refusal
        muc = self.xmpp.plugin["xep_0045"]
        joining = asyncio.ensure_future(muc.join_muc_wait(room, nick, maxstanzas=50, timeout=10))
        try:
            done, _ = await asyncio.wait({joining, refusal}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            del self._refusals[room]
        if refusal in done:
            joining.cancel()
            return refusal.result()
        refusal.cancel()
        joining.result()
        return ""

    def _on_refusal(self, presence: Presence) -> None:
        # Prosody does not echo the join's <x/> in its error, so the plugin's own event may
        # not come, and the general "presence_error" does not once this occupant JID was in
        # the room (the plugin has the roster ignore it): a handler on the stanza itself.
        refusal = self._refusals.get(str(presence["from"].bare))
        if refusal is not None and not refusal.done():
            refusal.set_result(str(presence["error"]["condition"]))

    def say(self, room: str, text: str) -> None:
        self.xmpp.send_message(mto=room, mbody=text, mtype="groupchat")

    def leave(self, room: str, nick: str) -> None:
        self.xmpp.plugin["xep_0045"].leave_muc(room, nick)

    async def close(self) -> None:
        await asyncio.wait_for(self.xmpp.disconnect(), 5)
        # slixmpp's outgoing filter task would otherwise be cancelled by its __del__, on a
        # loop that may be closed by then.
        filters = self.xmpp._run_out_filters
        if filters is not None:
            filters.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await filters
            self.xmpp._run_out_filters = None


class OccupantThread:
    """An :class:`Occupant` on an event loop in a thread of its own."""

    def __init__(self, account: XmppAccount) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.occupant: Occupant = self.run(self._make(account))

    async def _make(self, account: XmppAccount) -> Occupant:
        occupant = Occupant(account)
        await occupant.connect()
        return occupant

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(TIMEOUT)

    def join(self, room: str, nick: str) -> str:
        return self.run(self.occupant.join(room, nick))

    def say(self, room: str, text: str) -> None:
        self.loop.call_soon_threadsafe(self.occupant.say, room, text)

    def bodies(self) -> list[str]:
        return [body for _, body, _ in list(self.occupant.heard)]

    def close(self) -> None:
        self.run(self.occupant.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
