"""A bot that keeps live statistics of a document: words, lines, characters, active authors.

Run it next to a server started with `make run`. The bot is an account of its own, which
a document's owner gives a role (signed in with `collab login`):

    .venv/bin/python -m app.cli bots create stats-bot --doc DOC_ID
    .venv/bin/python -m examples.stats_bot DOC_ID

It follows the document over XMPP alone (no HTTP) and prints a line whenever the numbers
change. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections import deque

from app.buses.xmpp.accounts import document_bot
from app.config import get_settings
from sync.protocol import Revision

ACTIVE_SECONDS = 300.0


class Statistics:
    """Counts over the text, and who edited in the last few minutes."""

    def __init__(self) -> None:
        self.recent: deque[tuple[float, str]] = deque()

    def saw(self, revision: Revision) -> None:
        self.recent.append((time.monotonic(), revision.author))

    def active_authors(self) -> list[str]:
        horizon = time.monotonic() - ACTIVE_SECONDS
        while self.recent and self.recent[0][0] < horizon:
            self.recent.popleft()
        return sorted({author for _, author in self.recent})

    def line(self, text: str, rev: int) -> str:
        words = len(text.split())
        lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        authors = ", ".join(self.active_authors()) or "nobody"
        return (
            f"r{rev}: {words} words, {lines} lines, {len(text)} characters; "
            f"active in the last {ACTIVE_SECONDS / 60:.0f} min: {authors}"
        )


async def run(doc_id: str, name: str) -> None:
    stats = Statistics()
    async with await document_bot(get_settings(), name, doc_id, "stats") as bot:
        await bot.wait_synced()
        print(stats.line(bot.text, bot.rev), flush=True)
        changed = asyncio.Event()

        def on_revision(revision: Revision, _mine: bool) -> None:
            stats.saw(revision)
            changed.set()

        def on_online(rev: int) -> None:
            if bot.connection.sessions > 1:  # not the first session: back after an outage
                print(f"back: in sync again at r{rev}", flush=True)
                changed.set()

        bot.on_revision(on_revision)
        bot.on_online(on_online)
        last = ""
        while not bot.deleted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 5)
            changed.clear()
            line = stats.line(bot.text, bot.rev)
            if line != last:
                print(line, flush=True)
                last = line
        print(f"document '{doc_id}' was deleted", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("doc_id", help="the document to follow")
    parser.add_argument("--name", default="stats-bot", help="the bot's account and name")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.doc_id, args.name))


if __name__ == "__main__":
    main()
