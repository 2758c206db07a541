"""``collab bots ...`` against a server with accounts on and its managed Prosody: a person
makes a bot, which then edits the document they shared with it (under its own name), and
removing the bot deletes its XMPP account."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest

from app.buses.xmpp.accounts import document_bot
from app.buses.xmpp.prosody import free_port
from app.config import Settings
from sdk.xmpp.connection import XmppConnection
from tests.app.live import serving
from tests.app.test_cli import clean_env, collab_script
from tests.xmpp_support import needs_prosody

pytestmark = needs_prosody
PASSWORD = "operator chosen password"


def collab(data: Path, url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(data), "COLLAB_SERVER": url, "COLLAB_TOKEN": token}
    return subprocess.run(
        [*collab_script(), *args],
        cwd=data.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.timeout(240)
def test_a_bot_made_with_the_cli_edits_what_it_was_given_and_is_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data, auth="on", xmpp_mode="managed", xmpp_managed_port=free_port()) as server:
        with httpx.Client(base_url=server.http_url, trust_env=False, timeout=30) as http:
            made = http.post("/api/auth/setup", json={"name": "ada", "password": PASSWORD})
            assert made.status_code == 201, made.text
            http.headers["X-CSRF-Token"] = made.json()["csrf_token"]
            token = http.post("/api/auth/tokens", json={"name": "cli"}).json()["token"]
            for doc_id in ("mine", "other"):
                body = {"id": doc_id, "title": doc_id, "text": "hello\n"}
                assert http.post("/api/documents", json=body).status_code == 201

        created = collab(data, server.http_url, token, "bots", "create", "scribe", "--doc", "mine")
        assert created.returncode == 0, created.stderr
        assert "bot scribe is scribe@localhost" in created.stdout
        assert "editor on mine" in created.stdout
        assert "examples.clock_bot mine --name scribe" in created.stdout
        password = next(
            line.split(": ", 1)[1]
            for line in created.stdout.splitlines()
            if line.startswith("password (shown once): ")
        )
        listed = collab(data, server.http_url, token, "bots", "list")
        assert "scribe  scribe@localhost  owner ada  (editor on mine)" in listed.stdout
        bad = collab(data, server.http_url, token, "bots", "create", "x", "--doc", "mine:owner")
        assert bad.returncode == 1 and "not a bot's role" in bad.stderr
        taken = collab(data, server.http_url, token, "bots", "create", "scribe")
        assert taken.returncode == 1 and "is taken" in taken.stderr

        settings = Settings(_env_file=None, data_dir=data, xmpp_mode="managed")  # type: ignore[call-arg]

        async def bot_edits() -> str:
            # Tools on this machine log in as the bot with the password the server kept.
            bot = await document_bot(settings, "scribe", "mine", "test")
            assert bot.connection.xmpp.boundjid.bare == "scribe@localhost"
            async with bot:
                await bot.wait_synced(30)
                await bot.append("from the bot\n")
                await bot.wait_synced(30)
                return bot.text

        assert asyncio.run(bot_edits()) == "hello\nfrom the bot\n"
        with httpx.Client(base_url=server.http_url, trust_env=False, timeout=30) as http:
            http.headers["Authorization"] = f"Bearer {token}"
            revisions = http.get("/api/documents/mine/revisions").json()["items"]
            assert {r["author"] for r in revisions if r["rev"] > 0} == {"scribe"}
            other = http.get("/api/documents/other/text").json()
            assert other["text"] == "hello\n"

        removed = collab(data, server.http_url, token, "bots", "delete", "scribe")
        assert removed.returncode == 0, removed.stderr
        assert "no bots" in collab(data, server.http_url, token, "bots", "list").stdout

        async def can_log_in() -> bool:
            connection = XmppConnection(
                "scribe@localhost/after",
                password,
                "127.0.0.1",
                int(server.settings["xmpp_managed_port"]),  # type: ignore[call-overload]
            )
            try:
                await connection.start(wait=5)
                return connection.connected
            except TimeoutError:
                return False
            finally:
                await connection.stop()

        assert asyncio.run(can_log_in()) is False  # its XMPP account is gone
