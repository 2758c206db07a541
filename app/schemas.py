"""Request and response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# A URL-safe slug (letters, digits, '-', '_'), which includes the UUIDs the server makes.
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Revisions, offsets and limits fit a 32-bit signed integer (PostgreSQL's INTEGER).
MAX_INT = 2**31 - 1
MAX_TITLE_CHARS = 200
# The characters a document, title or name may hold (XML 1.0's), as a JSON Schema pattern. It
# only documents the rule: sync.text.validate_text enforces it, naming the offending character
# in a 422 "invalid-text" error. Lone surrogates are refused too, but are left out here: they
# are not Unicode scalar values, and most regex engines cannot name them.
XML_TEXT_PATTERN = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]*$"
XML_TEXT: dict[str, Any] = {"pattern": XML_TEXT_PATTERN}


def _json_integer(value: object) -> object:
    # Pydantic's lax mode would read true as 1 and "7" as 7; JSON Schema's integer is neither.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class ErrorDetail(BaseModel):
    """What went wrong; some codes add fields (``details``, ``position``, ...)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="A stable, machine-readable code such as 'document-not-found'.")
    message: str = Field(description="What went wrong, for people.")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class DocumentCreate(BaseModel):
    title: str = Field(
        "Untitled", min_length=1, max_length=MAX_TITLE_CHARS, json_schema_extra=XML_TEXT
    )
    text: str = Field("", json_schema_extra=XML_TEXT)
    id: str | None = Field(
        None,
        pattern=DOC_ID_PATTERN,
        description="A URL-safe id (letters, digits, '-', '_'); a UUID is made if omitted.",
    )


class DocumentUpdate(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS, json_schema_extra=XML_TEXT)


class EditorPublic(BaseModel):
    """Someone with the document open, as they named themselves when joining."""

    name: str
    color: str = Field(description="Their color on this document, which nobody else present has")
    author: str = Field(description="The name their revisions carry (blame's author)")


class DocumentPublic(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    rev: int
    length: int = Field(description="Length of the current text in Unicode code points.")
    checksum: str
    editors: int = Field(0, description="People connected to this server instance right now.")
    people: list[EditorPublic] = Field(
        default_factory=list,
        description="Who they are, in the order they joined. Like editors, this counts only the "
        "connections to this server instance, not those to other instances sharing the "
        "document over XMPP.",
    )


class DocumentsPublic(BaseModel):
    items: list[DocumentPublic]
    total: int
    offset: int
    limit: int


class DocumentText(BaseModel):
    id: str
    rev: int
    text: str
    checksum: str


class RevisionSummary(BaseModel):
    rev: int
    base: int
    author: str
    client: str
    seq: int
    created_at: datetime
    inserted: int
    deleted: int


class RevisionsPublic(BaseModel):
    items: list[RevisionSummary]
    total: int
    offset: int
    limit: int


class RevisionPublic(RevisionSummary):
    patch: str = Field(description="diff-match-patch patch_toText form, positions in code points.")
    checksum: str


class DiffChunk(BaseModel):
    op: Literal["equal", "insert", "delete"]
    text: str


class DiffPublic(BaseModel):
    from_rev: int
    to_rev: int
    patch: str = Field(description="From the text at from_rev to the text at to_rev.")
    diffs: list[DiffChunk] = Field(
        description="The change as readable chunks, in order: the equal and deleted chunks "
        "make the old text, the equal and inserted ones the new."
    )


class RestoreRequest(BaseModel):
    rev: JsonInt = Field(ge=0, le=MAX_INT, examples=[0])
    author: str = Field("restore", min_length=1, max_length=64, json_schema_extra=XML_TEXT)


VERSION_NAME = r"^[^/\u0000-\u001f\u007f\ufffe\uffff]{1,80}$"


class VersionCreate(BaseModel):
    name: str = Field(
        pattern=VERSION_NAME,
        description="A label (1 to 80 characters, no '/'); naming another revision with a "
        "label already used moves it",
        examples=["Sent to legal"],
    )
    rev: JsonInt = Field(ge=0, le=MAX_INT, examples=[42])


class VersionPublic(BaseModel):
    name: str
    rev: int
    created_by: str
    created_at: datetime


class VersionsPublic(BaseModel):
    items: list[VersionPublic]


# -- accounts, sessions, tokens, sharing --------------------------------------------------------

ACCOUNT_NAME = r"^[a-z0-9][a-z0-9._-]{0,31}$"
BARE_JID = r"^[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){0,7}$"
BARE_JID_OR_EMPTY = r"^$|" + BARE_JID
# The schema's floor; COLLAB_MIN_PASSWORD_CHARS may ask for more (a 422 then says so).
PASSWORD_MIN = 8


class Credentials(BaseModel):
    name: str = Field(min_length=1, max_length=32, examples=["ann"])
    password: str = Field(min_length=1, max_length=1024)


class AccountCreate(BaseModel):
    name: str = Field(pattern=ACCOUNT_NAME, examples=["ann"])
    display_name: str = Field("", max_length=64, json_schema_extra=XML_TEXT)
    password: str = Field(min_length=PASSWORD_MIN, max_length=1024)
    admin: bool = False


class Registration(BaseModel):
    name: str = Field(pattern=ACCOUNT_NAME, examples=["ann"])
    display_name: str = Field("", max_length=64, json_schema_extra=XML_TEXT)
    password: str = Field(min_length=PASSWORD_MIN, max_length=1024)
    invite: str | None = Field(None, max_length=200)


class AccountUpdate(BaseModel):
    """What an administrator may change about an account."""

    display_name: str | None = Field(None, min_length=1, max_length=64, json_schema_extra=XML_TEXT)
    disabled: bool | None = None
    admin: bool | None = None
    password: str | None = Field(None, min_length=PASSWORD_MIN, max_length=1024)
    xmpp_jid: str | None = Field(
        None,
        max_length=255,
        pattern=BARE_JID_OR_EMPTY,
        description="The person's own XMPP address (bare JID); document nodes admit it as "
        "their roles allow. An empty string removes it.",
        examples=["ann@chat.example.org"],
    )


class PasswordChange(BaseModel):
    old_password: str = Field(min_length=PASSWORD_MIN, max_length=1024)
    new_password: str = Field(min_length=PASSWORD_MIN, max_length=1024)


class AccountPublic(BaseModel):
    name: str
    display_name: str
    admin: bool
    disabled: bool
    created_at: datetime
    xmpp_jid: str = Field("", description="The XMPP identity that follows this account's roles")
    bot_owner: str = Field("", description="For a bot: the person who owns it")


class AccountsPublic(BaseModel):
    items: list[AccountPublic]


class Me(BaseModel):
    account: AccountPublic
    via: Literal["session", "token", "proxy"]
    csrf_token: str | None = Field(
        None, description="With a session: send it back in X-CSRF-Token on every change."
    )


class AuthState(BaseModel):
    """What the sign-in pages need to know before anyone signs in."""

    auth: bool
    setup_needed: bool
    registration: Literal["open", "invite", "closed"]
    signed_in: AccountPublic | None = None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, json_schema_extra=XML_TEXT)
    days: float | None = Field(None, gt=0, le=3650, description="Expires after; never if omitted")


class TokenPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown this once, never again.")


class TokensPublic(BaseModel):
    items: list[TokenPublic]


class AddressClaimCreated(BaseModel):
    """How to prove an XMPP address is yours: send ``message`` to ``send_to`` from it."""

    code: str = Field(description="The code, valid until expires_at; one at a time")
    send_to: str = Field(description="The app's XMPP address", examples=["collab@example.org"])
    message: str = Field(description="What to send, exactly", examples=["link K7Q2M9XDPA"])
    expires_at: datetime
    expires_in: int = Field(description="Seconds left")


class InviteCreated(BaseModel):
    code: str
    expires_days: float


RoleName = Literal["owner", "editor", "viewer"]
LinkRole = Literal["editor", "viewer"]


class ShareUpdate(BaseModel):
    role: LinkRole


class GrantPublic(BaseModel):
    name: str
    display_name: str
    role: RoleName


class LinkPublic(BaseModel):
    role: LinkRole
    created_at: datetime


class LinkCreate(BaseModel):
    role: LinkRole


class LinkCreated(BaseModel):
    role: LinkRole
    token: str = Field(description="The link's secret: shown this once.")
    url: str = Field(description="The page to open: it lets whoever has it in.")


class SharingPublic(BaseModel):
    doc_id: str
    owner: str | None = Field(description="None for documents from before accounts")
    your_role: RoleName | None
    people: list[GrantPublic]
    links: list[LinkPublic]


# -- bots ------------------------------------------------------------------------------------


BotDocument = Annotated[str, Field(pattern=DOC_ID_PATTERN)]


class BotCreate(BaseModel):
    name: str = Field(pattern=ACCOUNT_NAME, examples=["clock"])
    display_name: str = Field("", max_length=64, json_schema_extra=XML_TEXT)
    jid: str = Field(
        "",
        max_length=255,
        pattern=BARE_JID_OR_EMPTY,
        description="The bot's account on an external XMPP server (made there first). Empty: "
        "the server registers NAME@its domain on the XMPP server it manages.",
    )
    documents: dict[BotDocument, Literal["editor", "viewer"]] = Field(
        default_factory=dict,
        max_length=100,
        description="Documents you own, and the bot's role on each",
        examples=[{"notes": "editor"}],
    )


class BotPublic(BaseModel):
    name: str
    display_name: str
    jid: str
    owner: str
    created_at: datetime
    documents: dict[str, str]


class BotsPublic(BaseModel):
    items: list[BotPublic]


class BotCreated(BotPublic):
    password: str = Field(
        description="The XMPP account's password, shown this once (empty for an external "
        "account, whose password you chose)"
    )
    xmpp_host: str
    xmpp_port: int
    pubsub: str
