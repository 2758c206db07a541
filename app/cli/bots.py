"""``collab bots ...``: bots you own, on a running server, over its REST API.

A bot is an XMPP account that documents are shared with like a person. ``create`` registers
it (on the XMPP server the app manages, or takes the JID of an account made on yours), gives
it roles, and prints how to run it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.cli.documents import Api, ServerOption, default_server, fail, printable

bots = typer.Typer(
    help="Bots you own: XMPP accounts with roles on your documents.", no_args_is_help=True
)

ROLES = ("editor", "viewer")


@bots.callback()
def bots_options(ctx: typer.Context, server: ServerOption = None) -> None:
    ctx.obj = Api(server or default_server())


def _api(ctx: typer.Context) -> Api:
    api: Api = ctx.obj
    return api


def _grants(doc: list[str], role: str) -> dict[str, str]:
    """``--doc ID`` (the default role) or ``--doc ID:ROLE``, as the REST body wants them."""
    grants: dict[str, str] = {}
    for entry in doc:
        doc_id, _, given = entry.partition(":")
        chosen = given or role
        if chosen not in ROLES:
            fail(f"'{printable(chosen)}' is not a bot's role: choose editor or viewer")
        grants[doc_id] = chosen
    return grants


@bots.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The bot's name (a-z, 0-9, '.', '_', '-').")],
    doc: Annotated[
        list[str] | None,
        typer.Option("--doc", help="A document you own, as ID or ID:ROLE (repeatable)."),
    ] = None,
    role: Annotated[str, typer.Option(help="The role for --doc without one.")] = "editor",
    jid: Annotated[
        str,
        typer.Option(help="An account on an external XMPP server (made there first)."),
    ] = "",
) -> None:
    """Make a bot, give it roles on documents, and print how to run it."""
    body: dict[str, Any] = {"name": name, "documents": _grants(doc or [], role)}
    if jid:
        body["jid"] = jid
    made = _api(ctx).json("POST", "/api/bots", json=body)
    typer.echo(f"bot {made['name']} is {made['jid']}")
    for doc_id, given in made["documents"].items():
        typer.echo(f"  {given} on {doc_id}")
    first = next(iter(made["documents"]), "DOC_ID")
    if made["password"]:
        typer.echo(f"password (shown once): {made['password']}")
        typer.echo("\nRun it on this machine (the password is kept in the server's data dir):")
        typer.echo(f"  .venv/bin/python -m examples.clock_bot {first} --name {made['name']}")
        typer.echo("or anywhere, with any XMPP client library:")
    else:
        typer.echo("\nRun it with the account's password, which you chose on your XMPP server:")
    typer.echo(
        f"  COLLAB_BOT_JID={made['jid']} COLLAB_BOT_PASSWORD=... "
        f".venv/bin/python -m examples.clock_bot {first}"
    )
    typer.echo(
        f"  (XMPP server {made['xmpp_host'] or '?'}:{made['xmpp_port'] or '?'}, "
        f"pubsub service {made['pubsub'] or '?'})"
    )


@bots.command("list")
def list_bots(ctx: typer.Context) -> None:
    """Your bots (every bot, for an administrator), with their roles."""
    items = _api(ctx).json("GET", "/api/bots")["items"]
    if not items:
        typer.echo("no bots")
        return
    for bot in items:
        roles = ", ".join(f"{r} on {d}" for d, r in bot["documents"].items()) or "no documents"
        typer.echo(f"{bot['name']}  {bot['jid']}  owner {bot['owner']}  ({roles})")


@bots.command("delete")
def delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The bot's name.")]
) -> None:
    """Remove a bot: its roles go, the documents' nodes stop admitting it at once, and its
    account on the managed XMPP server is deleted."""
    _api(ctx).request("DELETE", f"/api/bots/{name}")
    typer.echo(f"removed bot {name}")
