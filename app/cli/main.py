"""The ``collab`` command: run the server, migrate its database, manage documents over REST.

``collab serve`` and ``collab migrate`` act on this machine (settings from ``COLLAB_*``
environment variables or ``.env``). ``collab docs ...`` (``app/cli/documents.py``) talks to a
running server over HTTP, so it works the same against a local or a remote one. ``collab
follow`` prints a document's revisions as they are published over XMPP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from app.cli.bots import bots
from app.cli.cluster import cluster
from app.cli.documents import docs, fail, printable, shorten
from app.cli.proxy import proxy_config
from app.cli.users import login, logout, users

app = typer.Typer(
    name="collab",
    help="Real-time collaborative text documents: run the server and manage its documents.",
    epilog="Start with `collab serve`, then open http://127.0.0.1:8000/docs, or try "
    "`collab docs create 'Q3 plan' --text 'Hello'` and `collab docs list` in another terminal.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(docs, name="docs")
app.add_typer(users, name="users")
app.add_typer(bots, name="bots")
app.add_typer(cluster, name="cluster")
app.command(name="proxy-config")(proxy_config)
app.command()(login)
app.command()(logout)


# -- the server -------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind; 0.0.0.0 for every interface.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)] = None,
    reload: Annotated[
        bool, typer.Option("--reload", help="Restart when the code changes (development).")
    ] = False,
    log_level: Annotated[
        str | None, typer.Option(help="critical, error, warning, info, debug or trace.")
    ] = None,
    fd: Annotated[
        int | None,
        typer.Option(
            help="Serve on this inherited TCP socket (bound by whoever started us, as "
            "`collab cluster up` does) instead of binding --host and --port.",
            min=0,
        ),
    ] = None,
) -> None:
    """Run the server (default http://127.0.0.1:8000; see COLLAB_HOST, COLLAB_PORT)."""
    import uvicorn

    from app.config import get_settings
    from app.serving import inherited_socket, uvicorn_options

    settings = get_settings()
    if fd is not None and (reload or host is not None or port is not None):
        fail("--fd serves on the socket it names: it goes with neither --host, --port nor --reload")
    listening = None
    if fd is not None:  # (the exec below keeps it open: it was handed down inheritable)
        try:
            listening = inherited_socket(fd)
        except ValueError as exc:
            fail(str(exc))
    if settings.release_memory and "PYTHONMALLOC" not in os.environ and not reload:
        # Once more, under glibc's allocator for every object, so that what a peak of
        # connections took goes back to the system when they close (app/memory.py).
        os.environ["PYTHONMALLOC"] = "malloc"
        os.execv(sys.executable, [sys.executable, "-m", "app.cli", *sys.argv[1:]])
    options = {
        "factory": True,
        "log_level": (log_level or settings.log_level).lower(),
        **uvicorn_options(),
    }
    if listening is not None:
        # The socket was bound before we started, so its port cannot be taken meanwhile;
        # host and port are only what uvicorn's "running on" line says.
        bound_host, bound_port = listening.getsockname()[:2]
        server = uvicorn.Server(
            uvicorn.Config("app.main:create_app", host=bound_host, port=bound_port, **options)
        )
        server.run(sockets=[listening])
        if not server.started:  # as uvicorn.run ends when the app cannot start
            sys.exit(3)
        return
    uvicorn.run(
        "app.main:create_app",
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        **options,
    )


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (the server also does this when it starts)."""
    from app.config import get_settings
    from app.stores.sql.engine import make_engine
    from app.stores.sql.migrate import upgrade

    settings = get_settings()
    where = make_url(settings.resolved_database_url()).render_as_string(hide_password=True)

    async def run() -> None:
        engine = make_engine(settings)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo(f"database up to date: {where}")


# -- following a document over XMPP ----------------------------------------------------------


@app.command()
def follow(
    doc_id: Annotated[str, typer.Argument(help="The document's id.")],
    text: Annotated[
        bool, typer.Option("--text", help="Print the whole current text before following.")
    ] = False,
    name: Annotated[
        str, typer.Option(help="The XMPP account to follow with (managed mode registers it).")
    ] = "follower",
) -> None:
    """Print each revision of a document as it arrives, as `tail -f` would (over XMPP alone).

    Uses the managed Prosody of the server in COLLAB_DATA_DIR, or, with
    COLLAB_XMPP_MODE=external, the account in COLLAB_BOT_JID / COLLAB_BOT_PASSWORD.
    """
    from app.buses.xmpp.accounts import document_bot
    from app.buses.xmpp.prosody import ProsodyError
    from app.config import get_settings
    from sdk.xmpp.bot import AccessDenied
    from sync.protocol import Revision

    async def run() -> None:
        try:
            bot = await document_bot(get_settings(), name, doc_id, "follow")
        except ProsodyError as exc:
            fail(str(exc))
        try:
            await bot.start()
            await bot.wait_synced()
        except AccessDenied as exc:
            await bot.stop()
            fail(
                f"{exc}: give the bot a role first (collab bots create {name} --doc "
                f"{doc_id}:viewer)"
            )
        except (TimeoutError, OSError) as exc:
            await bot.stop()
            fail(f"cannot follow '{doc_id}' over XMPP ({bot.connection.last_error}): {exc}")
        header = f"'{doc_id}' at r{bot.rev}: {len(bot.text)} characters; following (Ctrl-C stops)"
        typer.echo(header)
        if text:
            typer.echo(bot.text)

        def show(revision: Revision, _mine: bool) -> None:
            typer.echo(describe_revision(revision))

        bot.on_revision(show)
        try:
            while not bot.deleted:
                await asyncio.sleep(0.5)
            typer.echo(f"'{doc_id}' was deleted")
        finally:
            await bot.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def describe_revision(revision: Any) -> str:
    """One line per revision: number, author, and what it inserted and deleted."""
    from sync import patches
    from sync.ops import DIFF_DELETE, DIFF_INSERT

    inserted: list[str] = []
    deleted = 0
    for hunk in patches.parse_patch(revision.patch):
        for kind, data in hunk.diffs:
            if kind == DIFF_INSERT:
                inserted.append(data)
            elif kind == DIFF_DELETE:
                deleted += len(data)
    added = "".join(inserted)
    preview = shorten(printable(added), 60)
    parts = [f"r{revision.rev}", printable(revision.author)]
    if added:
        parts.append(f"+{len(added)} {preview!r}")
    if deleted:
        parts.append(f"-{deleted}")
    return "  ".join(parts)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
