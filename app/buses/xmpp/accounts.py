"""XMPP accounts for bots and tools, in whichever mode the server runs."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path

from app.buses.xmpp.prosody import (
    ManagedProsody,
    ProsodyError,
    XmppAccount,
    private_dir,
    write_private,
)
from app.config import Settings
from sdk.xmpp.bot import DocumentBot


def bot_password(prosody: ManagedProsody, name: str) -> str:
    """The password of the bot ``name`` on the managed server, made once and kept private in
    the data directory, so that the bot keeps its identity and tools on this machine
    (``document_bot``) can log in as it."""
    password_file = private_dir(prosody.root / "bots") / f"{name}.password"
    if password_file.exists():
        return password_file.read_text().strip()
    password = secrets.token_urlsafe(18)
    write_private(password_file, password + "\n")
    return password


class ManagedRegistrar:
    """``app.core.bots.Registrar`` on the managed Prosody."""

    def __init__(self, prosody: ManagedProsody) -> None:
        self.prosody = prosody

    @property
    def domain(self) -> str:
        return self.prosody.domain

    async def register(self, name: str) -> tuple[str, str]:
        password = bot_password(self.prosody, name)
        account = await self.prosody.register(name, password)
        return account.jid, password

    async def unregister(self, name: str) -> None:
        await self.prosody.unregister(name)
        (self.prosody.root / "bots" / f"{name}.password").unlink(missing_ok=True)


def managed_connection(settings: Settings) -> XmppAccount:
    """The managed Prosody's address, as the running server wrote it."""
    path = Path(settings.data_dir) / "prosody" / "connection.json"
    if not path.exists():
        raise ProsodyError(
            f"{path} does not exist: start the server first ('make run' or 'collab serve'), "
            "or point COLLAB_DATA_DIR at its data directory"
        )
    data = json.loads(path.read_text())
    return XmppAccount(data["jid"], data["password"], data["host"], data["port"], data["pubsub"])


async def bot_account(settings: Settings, name: str) -> XmppAccount:
    """An account for a bot called ``name``.

    Managed mode registers ``<name>@<domain>`` on the app's own Prosody (with a password kept
    in the data directory, so the bot keeps its identity): with accounts on, make it with
    ``collab bots create`` first, which gives it its roles. External mode, or
    ``COLLAB_BOT_JID`` and ``COLLAB_BOT_PASSWORD`` set, takes the account from those: create
    it on your server first.
    """
    given = os.environ.get("COLLAB_BOT_JID"), os.environ.get("COLLAB_BOT_PASSWORD")
    if settings.xmpp_mode == "managed" and all(given):
        server = managed_connection(settings)
        return XmppAccount(str(given[0]), str(given[1]), server.host, server.port, server.pubsub)
    if settings.xmpp_mode == "external":
        jid, password = os.environ.get("COLLAB_BOT_JID"), os.environ.get("COLLAB_BOT_PASSWORD")
        if not jid or not password:
            raise ProsodyError(
                "with COLLAB_XMPP_MODE=external, set COLLAB_BOT_JID and COLLAB_BOT_PASSWORD "
                "to an account that exists on your XMPP server"
            )
        domain = jid.split("@", 1)[-1]
        pubsub = settings.xmpp_pubsub or f"pubsub.{domain}"
        return XmppAccount(jid, password, settings.xmpp_host, settings.xmpp_port, pubsub)
    if settings.xmpp_mode == "off":
        raise ProsodyError("XMPP is off (COLLAB_XMPP_MODE=off): bots need an XMPP server")
    server = managed_connection(settings)
    prosody = ManagedProsody(Path(settings.data_dir), domain=settings.xmpp_domain, port=server.port)
    password = bot_password(prosody, name)
    account = await prosody.register(name, password)
    return XmppAccount(account.jid, password, server.host, server.port, server.pubsub)


def bot_account_sync(settings: Settings, name: str) -> XmppAccount:
    return asyncio.run(bot_account(settings, name))


async def document_bot(settings: Settings, name: str, doc_id: str, resource: str) -> DocumentBot:
    """A bot called ``name`` on ``doc_id``, logged in as ``<name>@<domain>/<resource>``."""
    account = await bot_account(settings, name)
    return DocumentBot(
        f"{account.jid}/{resource}",
        account.password,
        doc_id,
        host=account.host,
        port=account.port,
        pubsub=account.pubsub,
        name=name,
        app=app_jid(settings),
        muc=settings.xmpp_muc or None,
    )


def app_jid(settings: Settings) -> str | None:
    """The app's own XMPP account, which a bot tells that it follows a document (None: the
    bot learns it from the app's items)."""
    if settings.xmpp_mode == "external":
        return settings.xmpp_jid or None
    path = Path(settings.data_dir) / "prosody" / "connection.json"
    if path.exists():
        return str(json.loads(path.read_text())["jid"])
    return None
