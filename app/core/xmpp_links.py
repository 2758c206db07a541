"""People link their own XMPP address to their account by proving it is theirs.

An administrator may set anyone's address (``PATCH /api/users/{name}``); a person may claim
their own: the page asks for a code (``XmppLinks.claim``), and the person sends
``link CODE`` to the app's XMPP account from the address they want linked. The XMPP server
authenticated whoever sent it, so the message's sender is the address proven
(``XmppLinks.redeem``, called by the bus that heard it). From then on the address follows
the account's roles: document nodes and chat rooms admit it (docs/security.md, "XMPP").

Sending *from* the address, not receiving a code *at* it, is the proof: it needs the
address's password, where a code sent to an address could be read by whoever the server
delivers it to (an archive, another device) and then be typed anywhere.

Bounds: a code is 10 characters from 32 (50 bits), valid ``CLAIM_SECONDS``; an account asks
for at most ``CLAIMS_PER_WINDOW`` codes per ``WINDOW_SECONDS``; an address sending wrong codes
is answered ``FAILURES_PER_WINDOW`` times per window, then ignored (and logged), so guessing
is hopeless and nobody makes the app an echo.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from app.core.access import Access
from app.core.accounts import Account, AccountExists, AccountStore, AddressClaim, digest
from app.core.errors import Busy, Refusal, Refused
from app.core.windows import SlidingWindow

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed by hand
CODE_LENGTH = 10
CLAIM_SECONDS = 600.0
WINDOW_SECONDS = 600.0
CLAIMS_PER_WINDOW = 5
FAILURES_PER_WINDOW = 5
# "link K7Q2M9XDPA", as typed or pasted: any case, spaces around, an optional dash in the code.
_MESSAGE = re.compile(r"\s*link\s+([A-Za-z0-9-]{10,11})\s*", re.IGNORECASE)


class XmppUnavailable(Busy):
    code = "xmpp-unavailable"


# (text of a message, its sender's bare JID) -> the answer, or None for none
Redeem = Callable[[str, str], Awaitable[str | None]]


@runtime_checkable
class AddressChannel(Protocol):
    """Where people send their code: a bus that hears them (the XMPP bridge)."""

    def claim_address(self) -> str | None:
        """The bare JID to send ``link CODE`` to; None while it cannot hear (disconnected)."""

    def attach_address_claims(self, redeem: Redeem) -> None:
        """Hand every direct message heard from another address to ``redeem``, and send
        its answer back."""


@dataclass(frozen=True, slots=True)
class Claimed:
    code: str
    send_to: str
    message: str
    expires_at: datetime


def link_message(code: str) -> str:
    return f"link {code}"


def code_in(text: str) -> str | None:
    """The code in a ``link CODE`` message, normalized; None if the text is not one."""
    match = _MESSAGE.fullmatch(text)
    if match is None:
        return None
    code = match.group(1).replace("-", "").upper()
    return code if len(code) == CODE_LENGTH else None


class XmppLinks:
    def __init__(
        self,
        accounts: AccountStore,
        access: Access,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.accounts = accounts
        self.access = access
        self.now = now
        self.channel: AddressChannel | None = None
        self._claims: SlidingWindow[str] = SlidingWindow(
            CLAIMS_PER_WINDOW, WINDOW_SECONDS, clock=clock
        )
        self._failures: SlidingWindow[str] = SlidingWindow(
            FAILURES_PER_WINDOW, WINDOW_SECONDS, clock=clock
        )

    async def claim(self, account: Account) -> Claimed:
        """A new code for ``account`` (replacing its last one), and where to send it."""
        if account.bot_owner:
            raise Refused("a bot's XMPP address is its own account's; it cannot claim another")
        send_to = self.channel.claim_address() if self.channel is not None else None
        if send_to is None:
            raise XmppUnavailable(
                "the server is not connected to XMPP now, so it could not hear your code; "
                "try again later"
            )
        if not self._claims.allows(account.name):
            raise Refused(
                f"at most {CLAIMS_PER_WINDOW} codes in {WINDOW_SECONDS / 60:g} minutes; "
                "use the last one, or wait",
                Refusal.RATE_LIMITED,
            )
        self._claims.count(account.name)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        created = self.now()
        expires = created + timedelta(seconds=CLAIM_SECONDS)
        await self.accounts.add_address_claim(
            AddressClaim(digest(code), account.name, created, expires)
        )
        return Claimed(code, send_to, link_message(code), expires)

    async def redeem(self, text: str, jid: str) -> str | None:
        """What to answer ``jid`` (a bare JID the XMPP server authenticated) for the message
        ``text``: None to stay silent (not a ``link`` message, or one already linked)."""
        code = code_in(text)
        if code is None:
            return None
        jid = jid.lower()
        if not self._failures.allows(jid):
            log.warning("ignored a link code from %s: too many wrong ones lately", jid)
            return None
        try:
            name = await self.accounts.redeem_address_claim(digest(code), jid, self.now())
        except AccountExists:
            self._failures.count(jid)
            return (
                f"{jid} is already another account's XMPP address. An administrator can "
                "move it; your code stays valid until it expires."
            )
        if name is None:
            holder = await self.accounts.account_by_jid(jid)
            if holder is not None:
                # Linked, by this message heard on another instance or an earlier one: the
                # instance that linked it answered.
                return None
            self._failures.count(jid)
            return (
                "That code is unknown or has expired. Ask the account page for a new one "
                "and send it within 10 minutes."
            )
        log.info("account %s linked its XMPP address %s", name, jid)
        await self.access.account_changed(name)  # the nodes and rooms admit the address
        return f"Linked: {jid} is now the XMPP address of the account '{name}'."

    async def unlink(self, account: Account) -> Account:
        """The account has no XMPP address any more (bots keep theirs: it is their login)."""
        if account.bot_owner:
            raise Refused("a bot's XMPP address is its login; remove the bot instead")
        updated = await self.accounts.update_account(account.name, xmpp_jid="")
        if account.xmpp_jid:
            await self.access.account_changed(account.name)
        return updated
