"""Administration: accounts and invitations."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.http.api.deps import AccountDep, IdentityDep
from app.http.api.responses import errors
from app.http.api.routes.auth import account_public
from app.schemas import (
    ACCOUNT_NAME,
    AccountCreate,
    AccountPublic,
    AccountsPublic,
    AccountUpdate,
    InviteCreated,
)

router = APIRouter(prefix="/api/users", tags=["administration"])
invites = APIRouter(prefix="/api/invites", tags=["administration"])

INVITE_DAYS = 7.0


@router.get("", response_model=AccountsPublic, responses=errors())
async def list_users(identity: IdentityDep) -> AccountsPublic:
    """Every account, oldest first."""
    accounts = await identity.accounts.list_accounts()
    return AccountsPublic(items=[account_public(a) for a in accounts])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountPublic,
    responses=errors(400, 409, 422),
)
async def create_user(body: AccountCreate, identity: IdentityDep) -> AccountPublic:
    """Make an account (any registration setting)."""
    account = await identity.create_account(
        body.name, body.display_name, body.password, admin=body.admin
    )
    return account_public(account)


@router.patch("/{name}", response_model=AccountPublic, responses=errors(400, 404, 422))
async def update_user(name: str, body: AccountUpdate, identity: IdentityDep) -> AccountPublic:
    """Rename for display, disable or enable (disabling ends every session at once and
    closes the account's open editors), make or unmake administrator, reset the password,
    set the person's XMPP address (document nodes admit it as their roles allow)."""
    account = await identity.account_named(name)
    if body.password is not None:
        await identity.set_password(name, body.password)
    if body.display_name is not None or body.admin is not None:
        account = await identity.accounts.update_account(
            name, display_name=body.display_name, admin=body.admin
        )
    if body.disabled is not None:
        account = await identity.set_disabled(name, body.disabled)
    if body.xmpp_jid is not None:
        account = await identity.accounts.update_account(name, xmpp_jid=body.xmpp_jid.lower())
        await identity.access.account_changed(name)  # the nodes admit the new identity
    return account_public(account)


@invites.post(
    "", status_code=status.HTTP_201_CREATED, response_model=InviteCreated, responses=errors()
)
async def create_invite(account: AccountDep, identity: IdentityDep) -> InviteCreated:
    """An invitation code for one registration (COLLAB_REGISTRATION=invite), valid a week."""
    code = await identity.invite(account, INVITE_DAYS)
    return InviteCreated(code=code, expires_days=INVITE_DAYS)


__all__ = ["ACCOUNT_NAME", "invites", "router"]
