"""A bot that writes: it answers commands typed in the document, and can keep a clock.

Run it next to a server started with `make run`. The bot is an account of its own, which
a document's owner gives a role (signed in with `collab login`):

    .venv/bin/python -m app.cli bots create clock-bot --doc DOC_ID
    .venv/bin/python -m examples.clock_bot DOC_ID [--every 30]

Then type a line such as `/time`, `/roll` or `/help` in the document: the bot replaces the
command with its answer, and everybody watches it edit beside them. Say one in the document's
chat (the page's chat panel, or its XMPP room from any client) and the bot answers there. With
`--every N` it also appends a timestamped line every N seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import re
from datetime import UTC, datetime

from app.buses.xmpp.accounts import document_bot
from app.config import get_settings
from sdk.xmpp.chat import ChatLine
from sync.protocol import EditError, Revision

COMMAND = re.compile(r"^/(time|roll|help)[ \t]*$", re.MULTILINE)


def answer(command: str) -> str:
    if command == "time":
        return f"🕒 {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if command == "roll":
        return f"🎲 {random.randint(1, 6)}"
    return "🤖 commands: /time, /roll, /help (type one on a line of its own)"


def chat_answer(line: ChatLine) -> str | None:
    """The bot's answer to a line said in the document's chat, if it is a command."""
    said = line.words.strip()
    if said in ("/time", "/roll", "/help"):
        return f"{line.name}: {answer(said[1:])}"
    return None


def pending_command(text: str) -> tuple[int, int, str] | None:
    """The first command line that is finished (followed by a newline)."""
    for match in COMMAND.finditer(text):
        if text[match.end() : match.end() + 1] == "\n":
            return match.start(), match.end(), answer(match.group(1))
    return None


async def run(doc_id: str, name: str, every: float | None) -> None:
    async with await document_bot(get_settings(), name, doc_id, "clock") as bot:
        await bot.wait_synced()
        print(f"following '{doc_id}' at r{bot.rev}; type /help in it", flush=True)
        wake = asyncio.Event()

        def on_revision(_revision: Revision, mine: bool) -> None:
            if not mine:
                wake.set()

        def on_online(rev: int) -> None:
            if bot.connection.sessions > 1:  # back after an outage: commands typed meanwhile
                print(f"back: in sync again at r{rev}", flush=True)
                wake.set()

        def on_error(error: EditError) -> None:
            print(f"an answer was refused ({error.code}): {error.message}", flush=True)

        answers: set[asyncio.Task[None]] = set()

        def on_chat(line: ChatLine) -> None:
            reply = chat_answer(line)
            if reply is not None:
                task = asyncio.get_running_loop().create_task(bot.say(reply))
                answers.add(task)  # kept until done: the loop holds tasks weakly
                task.add_done_callback(answers.discard)

        bot.on_revision(on_revision)
        bot.on_online(on_online)
        bot.on_error(on_error)
        bot.on_chat(on_chat)
        wake.set()
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + every if every else None
        while not bot.deleted:
            timeout = max(0.0, next_tick - loop.time()) if next_tick else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
            wake.clear()
            command = pending_command(bot.text)
            while command is not None:
                start, end, reply = command
                await bot.replace(start, end - start, reply)
                command = pending_command(bot.text)
            if next_tick and loop.time() >= next_tick:
                text = bot.text
                prefix = "" if not text or text.endswith("\n") else "\n"
                await bot.append(f"{prefix}{datetime.now(UTC):%H:%M:%S} tick from {name}\n")
                next_tick += every or 0
            await bot.wait_synced()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("doc_id", help="the document to write in")
    parser.add_argument("--name", default="clock-bot", help="the bot's account and name")
    parser.add_argument("--every", type=float, help="append a timestamped line every N seconds")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.doc_id, args.name, args.every))


if __name__ == "__main__":
    main()
