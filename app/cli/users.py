"""``collab users ...`` (operators, on this machine's database) and ``collab login`` /
``collab logout`` (anyone, against a running server)."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import httpx
import typer

from app.cli.credentials import save_token
from app.cli.documents import ServerOption, default_server, error_message, fail, printable
from app.core.errors import AppError

users = typer.Typer(
    help="Accounts, on this machine's database (COLLAB_DATA_DIR / COLLAB_DATABASE_URL).",
    no_args_is_help=True,
)

if TYPE_CHECKING:
    from app.core.identity import Identity

T = TypeVar("T")


def _with_identity(work: Callable[[Identity], Awaitable[T]]) -> T:
    """Run ``work(identity)`` against the configured database (migrated first)."""
    from app.config import get_settings
    from app.core.access import Access
    from app.core.identity import Identity
    from app.stores.sql.accounts import SqlAccountStore
    from app.stores.sql.engine import make_engine
    from app.stores.sql.migrate import upgrade
    from app.stores.sql.store import SqlStore

    settings = get_settings()
    if settings.database_url == "memory://":
        fail("COLLAB_DATABASE_URL=memory:// keeps accounts in the server's memory only")

    async def run() -> T:
        store = SqlStore(make_engine(settings), snapshot_every=settings.snapshot_every)
        try:
            await upgrade(store.engine)
            # Operators manage accounts even where the server runs with COLLAB_AUTH=off.
            access = Access(
                settings.model_copy(update={"auth": "on"}), store, SqlAccountStore(store.engine)
            )
            return await work(Identity(access.settings, access.accounts, access))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except AppError as exc:
        fail(str(exc))


def _password(given: str | None, *, confirm: bool = True) -> str:
    if given:
        return given
    password = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != password:
        fail("the passwords differ")
    return password


PasswordOption = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar="COLLAB_PASSWORD",
        help="The password (asked for if omitted; prefer that or COLLAB_PASSWORD to the "
        "command line, which others may see).",
    ),
]


@users.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="Lower-case letters, digits, '.', '_', '-'.")],
    display_name: Annotated[str, typer.Option("--display-name", help="Shown to others.")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="An administrator.")] = False,
    password: PasswordOption = None,
) -> None:
    """Make an account (whatever COLLAB_REGISTRATION says)."""
    secret = _password(password)

    async def work(identity: Identity) -> str:
        account = await identity.create_account(name, display_name, secret, admin=admin)
        return account.name

    made = _with_identity(work)
    typer.echo(f"created {'administrator' if admin else 'account'} '{made}'")


@users.command("list")
def list_users() -> None:
    """Every account, oldest first."""

    async def work(identity: Identity) -> list[tuple[str, str, str, str]]:
        return [
            (
                a.name,
                printable(a.display_name),
                "admin" if a.admin else "",
                "disabled" if a.disabled else "active",
            )
            for a in await identity.accounts.list_accounts()
        ]

    rows = _with_identity(work)
    if not rows:
        typer.echo(
            "no accounts yet: open the server's page to make the administrator, or run "
            "`collab users create NAME --admin`"
        )
        return
    width = max(len(r[0]) for r in rows)
    for name, shown, admin, state in rows:
        typer.echo(f"{name:<{width}}  {state:<8}  {admin:<5}  {shown}")


def _set_disabled(name: str, disabled: bool) -> None:
    async def work(identity: Identity) -> None:
        await identity.set_disabled(name, disabled)

    _with_identity(work)


@users.command("disable")
def disable_user(name: Annotated[str, typer.Argument()]) -> None:
    """Disable an account: it cannot sign in, its sessions end, its tokens stop working, and
    its open editors are closed within seconds."""
    _set_disabled(name, True)
    typer.echo(f"disabled '{name}'")


@users.command("enable")
def enable_user(name: Annotated[str, typer.Argument()]) -> None:
    """Enable a disabled account again."""
    _set_disabled(name, False)
    typer.echo(f"enabled '{name}'")


@users.command("reset-password")
def reset_password(name: Annotated[str, typer.Argument()], password: PasswordOption = None) -> None:
    """Set a new password; every session of the account ends."""
    secret = _password(password)

    async def work(identity: Identity) -> None:
        await identity.account_named(name)
        await identity.set_password(name, secret)

    _with_identity(work)
    typer.echo(f"new password set for '{name}'; their sessions have ended")


# -- signing the CLI in ---------------------------------------------------------------------


def login(
    name: Annotated[str, typer.Option("--name", prompt=True, help="Your account's name.")],
    server: ServerOption = None,
    password: PasswordOption = None,
    token_name: Annotated[
        str, typer.Option("--token-name", help="How the token is listed on your account.")
    ] = "collab CLI",
    days: Annotated[
        float | None, typer.Option("--days", help="The token expires after this many days.")
    ] = None,
) -> None:
    """Sign in to a server and keep an API token for the other commands (in your config)."""
    server = server or default_server()
    secret = _password(password, confirm=False)
    base = server.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            signed = http.post("/api/auth/login", json={"name": name, "password": secret})
            if signed.is_error:
                fail(error_message(signed))
            csrf = signed.json().get("csrf_token") or ""
            body: dict[str, object] = {"name": token_name}
            if days:
                body["days"] = days
            made = http.post("/api/auth/tokens", json=body, headers={"X-CSRF-Token": csrf})
            if made.is_error:
                fail(error_message(made))
            # The session was only the way to the token: end it.
            http.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    except httpx.TransportError as exc:
        fail(f"cannot reach the server at {base}: {exc}")
    path = save_token(base, made.json()["token"])
    typer.echo(f"signed in to {base} as '{name}'; the token is kept in {path}")


def logout(
    server: ServerOption = None,
) -> None:
    """Forget this server's token here (revoke it on the server from your account page)."""
    server = server or default_server()
    path = save_token(server, None)
    typer.echo(f"forgot the token for {server.rstrip('/')} in {path}")
