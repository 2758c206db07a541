"""What the app writes is private to its user: the SQLite database (with its WAL files), the
managed Prosody's directory, config, database, log and secrets, and bots' passwords. Files
0600, directories 0700, including those an older version left readable."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import httpx

from app.buses.xmpp.accounts import bot_account
from app.buses.xmpp.prosody import ManagedProsody, free_port
from app.config import Settings
from app.main import create_app
from app.stores.sql.engine import make_engine
from tests.xmpp_support import needs_prosody

pytestmark = needs_prosody


def modes(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` (and itself), with its permission bits."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            continue
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def not_private(root: Path) -> dict[str, str]:
    return {
        name: mode
        for name, mode in modes(root).items()
        if mode != ("0o700" if (root / name).is_dir() else "0o600")
    }


def test_everything_the_app_writes_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"  # does not exist yet: the app makes it
    settings = Settings(
        _env_file=None,
        data_dir=data,
        xmpp_mode="managed",
        xmpp_managed_port=free_port(),
        auth="off",
        allowed_hosts="testserver",
    )
    app = create_app(settings)

    async def scenario() -> None:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url="http://testserver"
            ) as http,
        ):
            response = await http.post("/api/documents", json={"id": "p", "text": "secret"})
            assert response.status_code == 201, response.text
            await bot_account(settings, "private-bot")
            written = modes(data)
            # What must be there, so the check below cannot pass on an empty directory.
            for name in (
                "collab.sqlite3",
                "collab.sqlite3-wal",
                "prosody",
                "prosody/prosody.cfg.lua",
                "prosody/service-password",
                "prosody/connection.json",
                "prosody/prosody.log",
                "prosody/data",
                "prosody/bots/private-bot.password",
            ):
                assert name in written, sorted(written)
            assert any(name.startswith("prosody/data/") for name in written), sorted(written)
            assert not_private(data) == {}

    asyncio.run(scenario())


def test_files_an_older_version_left_readable_are_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "prosody").mkdir(parents=True)
    for directory in (data, data / "prosody"):
        directory.chmod(0o755)
    password = data / "prosody" / "service-password"
    password.write_text("kept\n")
    password.chmod(0o644)
    database = data / "collab.sqlite3"
    database.touch()
    database.chmod(0o644)

    async def scenario() -> None:
        engine = make_engine(Settings(_env_file=None, data_dir=data))
        await engine.dispose()
        server = ManagedProsody(data, port=free_port())
        account = await server.start()
        await server.stop()
        assert account.password == "kept"

    asyncio.run(scenario())
    assert not_private(data / "prosody") == {}
    assert oct(stat.S_IMODE(database.stat().st_mode)) == "0o600"
    # The data directory was there before us: it may be shared, so it is left as it was.
    assert oct(stat.S_IMODE(data.stat().st_mode)) == "0o755"
