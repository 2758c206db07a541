"""Signing in and out, the first administrator, registration, passwords and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.core.access import Principal
from app.core.accounts import Account, TokenNotFound
from app.core.identity import CSRF_COOKIE, SESSION_COOKIE, NewSession
from app.http.api.deps import (
    AccountDep,
    AuthorizedDep,
    IdentityDep,
    SettingsDep,
    XmppLinksDep,
)
from app.http.api.responses import errors
from app.schemas import (
    AccountCreate,
    AccountPublic,
    AddressClaimCreated,
    AuthState,
    Credentials,
    Me,
    PasswordChange,
    Registration,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    TokensPublic,
)

router = APIRouter(prefix="/api/auth", tags=["accounts"])


def account_public(account: Account) -> AccountPublic:
    return AccountPublic(
        name=account.name,
        display_name=account.display_name,
        admin=account.admin,
        disabled=account.disabled,
        created_at=account.created_at,
        xmpp_jid=account.xmpp_jid,
        bot_owner=account.bot_owner,
    )


def set_session_cookies(request: Request, response: Response, new: NewSession) -> None:
    """The session (HttpOnly: no script reads it) and its CSRF token (readable by our pages,
    which send it back in X-CSRF-Token; other origins cannot read it)."""
    secure = request.url.scheme == "https"
    max_age = int((new.session.expires_at - new.session.created_at).total_seconds())
    # Lax, not Strict: a link to a document followed from mail or chat must arrive signed in;
    # unsafe requests are covered by the CSRF token and the Origin check instead.
    response.set_cookie(
        SESSION_COOKIE,
        new.secret,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE, new.session.csrf, max_age=max_age, secure=secure, samesite="strict", path="/"
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def me(principal: Principal) -> Me:
    assert principal.account is not None
    via = principal.via if principal.via in ("session", "token", "proxy") else "session"
    csrf = principal.session.csrf if principal.session else None
    return Me(account=account_public(principal.account), via=via, csrf_token=csrf)


@router.get("/state", response_model=AuthState, responses=errors())
async def read_state(
    caller: AuthorizedDep, identity: IdentityDep, settings: SettingsDep
) -> AuthState:
    """Whether accounts are on, whether the first administrator is still to be made, how
    people register, and who you are."""
    account = caller.principal.account
    return AuthState(
        auth=identity.access.enabled,
        setup_needed=await identity.setup_needed(),
        registration=settings.registration,
        signed_in=account_public(account) if account else None,
    )


@router.post(
    "/setup", status_code=status.HTTP_201_CREATED, response_model=Me, responses=errors(400, 422)
)
async def create_first_admin(
    body: AccountCreate, request: Request, response: Response, identity: IdentityDep
) -> Me:
    """On a fresh installation: make the first administrator and sign them in."""
    account = await identity.setup(body.name, body.display_name, body.password)
    new = await identity.start_session(account)
    set_session_cookies(request, response, new)
    return Me(account=account_public(account), via="session", csrf_token=new.session.csrf)


@router.post("/login", response_model=Me, responses=errors(400, 422))
async def login(
    body: Credentials, request: Request, response: Response, identity: IdentityDep
) -> Me:
    """Sign in with a name and password: sets the session cookies."""
    client = request.client.host if request.client else None
    new = await identity.login(body.name, body.password, client)
    account = await identity.account_named(new.session.account)
    set_session_cookies(request, response, new)
    return Me(account=account_public(account), via="session", csrf_token=new.session.csrf)


@router.post(
    "/register", status_code=status.HTTP_201_CREATED, response_model=Me, responses=errors(400, 422)
)
async def register(
    body: Registration, request: Request, response: Response, identity: IdentityDep
) -> Me:
    """Make an account (COLLAB_REGISTRATION: open, invite with a code, or closed)."""
    account = await identity.register(body.name, body.display_name, body.password, body.invite)
    new = await identity.start_session(account)
    set_session_cookies(request, response, new)
    return Me(account=account_public(account), via="session", csrf_token=new.session.csrf)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors())
async def logout(caller: AuthorizedDep, identity: IdentityDep) -> Response:
    """End this browser session (an API token stays valid: revoke it instead)."""
    await identity.logout(caller.principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response)
    return response


@router.delete("/sessions", status_code=status.HTTP_204_NO_CONTENT, responses=errors())
async def logout_everywhere(account: AccountDep, identity: IdentityDep) -> Response:
    """End every browser session of your account, this one too."""
    await identity.logout_everywhere(account)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response)
    return response


@router.get("/me", response_model=Me, responses=errors())
async def read_me(caller: AuthorizedDep) -> Me:
    """Who you are signed in as, and how."""
    return me(caller.principal)


@router.post("/password", response_model=Me, responses=errors(400, 422))
async def change_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    caller: AuthorizedDep,
    identity: IdentityDep,
) -> Me:
    """Change your password: every session ends, and this browser gets a new one."""
    new = await identity.change_password(caller.principal, body.old_password, body.new_password)
    account = await identity.account_named(new.session.account)
    if caller.principal.via == "session":
        set_session_cookies(request, response, new)
        return Me(account=account_public(account), via="session", csrf_token=new.session.csrf)
    await identity.accounts.delete_session(new.session.id_hash)  # a token's caller needs none
    return me(caller.principal)


def token_public(token: TokenPublic | object) -> TokenPublic:
    return TokenPublic.model_validate(token, from_attributes=True)


@router.get("/tokens", response_model=TokensPublic, responses=errors())
async def list_tokens(account: AccountDep, identity: IdentityDep) -> TokensPublic:
    """Your API tokens (never their secrets)."""
    tokens = await identity.accounts.list_tokens(account.name)
    return TokensPublic(items=[token_public(t) for t in tokens])


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses=errors(400, 422),
)
async def create_token(
    body: TokenCreate, account: AccountDep, identity: IdentityDep
) -> TokenCreated:
    """A new API token for scripts, the CLI and bots: `Authorization: Bearer <token>`. The
    token is in this answer only; the server keeps a digest."""
    secret, token = await identity.create_token(account, body.name, body.days)
    return TokenCreated(**token_public(token).model_dump(), token=secret)


@router.delete(
    "/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422)
)
async def revoke_token(token_id: str, account: AccountDep, identity: IdentityDep) -> Response:
    """Revoke one of your API tokens."""
    if not await identity.revoke_token(account, token_id):
        raise TokenNotFound(f"you have no token '{token_id}'")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/xmpp-link",
    status_code=status.HTTP_201_CREATED,
    response_model=AddressClaimCreated,
    responses=errors(403, 429, 503),
)
async def claim_xmpp_address(account: AccountDep, links: XmppLinksDep) -> AddressClaimCreated:
    """Link your own XMPP address: send the answer's `message` to `send_to` from that address
    (any XMPP client) within ten minutes; the app answers there, and `GET /api/auth/me` then
    shows it. A new code replaces the last. 503 while the server has no XMPP connection."""
    claimed = await links.claim(account)
    left = (claimed.expires_at - links.now()).total_seconds()
    return AddressClaimCreated(
        code=claimed.code,
        send_to=claimed.send_to,
        message=claimed.message,
        expires_at=claimed.expires_at,
        expires_in=max(0, round(left)),
    )


@router.delete("/xmpp-link", response_model=AccountPublic, responses=errors(403))
async def unlink_xmpp_address(account: AccountDep, links: XmppLinksDep) -> AccountPublic:
    """Your account has no XMPP address any more: documents' nodes and rooms stop admitting
    it."""
    return account_public(await links.unlink(account))
