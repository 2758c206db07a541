"""Bots: XMPP accounts that people own and share documents with (app/core/bots.py)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response, status

from app.core.accounts import Account, Role
from app.core.bots import BotService
from app.http.api.deps import AuthorizedDep
from app.http.api.responses import errors
from app.schemas import ACCOUNT_NAME, BotCreate, BotCreated, BotPublic, BotsPublic

router = APIRouter(prefix="/api/bots", tags=["bots"])

Name = Path(pattern=ACCOUNT_NAME, description="The bot's name")


def _service(request: Request) -> BotService:
    service: BotService = request.app.state.bots
    return service


def _public(bot: Account, documents: dict[str, Role]) -> BotPublic:
    return BotPublic(
        name=bot.name,
        display_name=bot.display_name,
        jid=bot.xmpp_jid,
        owner=bot.bot_owner,
        created_at=bot.created_at,
        documents={doc_id: role.value for doc_id, role in sorted(documents.items())},
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BotCreated,
    responses=errors(400, 403, 404, 409, 422),
)
async def create_bot(body: BotCreate, request: Request, caller: AuthorizedDep) -> BotCreated:
    """A bot you own: an XMPP account (registered on the managed XMPP server, or yours on an
    external one, given as `jid`) with a role on each of `documents`, which you must own. The
    password is in this answer only."""
    service = _service(request)
    new = await service.create(
        caller.principal,
        body.name,
        display_name=body.display_name,
        jid=body.jid,
        documents={doc_id: Role(role) for doc_id, role in body.documents.items()},
    )
    host, port, pubsub = service.where
    public = _public(new.account, new.documents)
    return BotCreated(
        **public.model_dump(), password=new.password, xmpp_host=host, xmpp_port=port, pubsub=pubsub
    )


@router.get("", response_model=BotsPublic, responses=errors(422))
async def list_bots(request: Request, caller: AuthorizedDep) -> BotsPublic:
    """Your bots with their roles (every bot, for an administrator)."""
    bots = await _service(request).of(caller.principal)
    return BotsPublic(items=[_public(bot, documents) for bot, documents in bots])


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(403, 404, 422))
async def delete_bot(request: Request, caller: AuthorizedDep, name: str = Name) -> Response:
    """Remove a bot you own: its roles go, its nodes stop admitting it at once, and its
    account on the managed XMPP server is deleted."""
    await _service(request).remove(caller.principal, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
