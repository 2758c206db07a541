"""One bridge on its own, in front of a ``FakeHost``, and bots for it: for the XMPP tests that
need the app's side of pubsub but not a whole app."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

from app.buses.xmpp.bridge import XmppBridge
from app.buses.xmpp.prosody import XmppAccount
from app.config import Settings
from app.metrics import Metrics
from sdk.xmpp.bot import DocumentBot
from tests.app.buses.support import FakeHost


@contextlib.asynccontextmanager
async def lone_bridge(
    service: XmppAccount, settings: Settings | None = None
) -> AsyncIterator[tuple[XmppBridge, FakeHost]]:
    """A started bridge on the app's ``service`` account, and the host it delivers to."""
    bridge = XmppBridge(
        service,
        resource=f"alone-{secrets.token_hex(3)}",
        settings=settings or Settings(_env_file=None),
        metrics=Metrics(),
    )
    host = FakeHost()
    await bridge.start(host)
    try:
        yield bridge, host
    finally:
        await bridge.stop()


def bot_on(account: XmppAccount, doc: str, *, resend_after: float = 5.0) -> DocumentBot:
    """A bot logged in as ``account``, named after its user name."""
    name = account.jid.split("@", 1)[0]
    return DocumentBot(
        f"{account.jid}/t",
        account.password,
        doc,
        host=account.host,
        port=account.port,
        pubsub=account.pubsub,
        name=name,
        resend_after=resend_after,
    )
