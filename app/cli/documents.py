"""``collab docs ...``: list, create, show, export, import and delete documents on a running
server, over its REST API."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote, unquote

import httpx
import typer

from app.cli.credentials import token_for
from app.core.store import SortOrder


def default_server() -> str:
    """The server this machine runs, from ``COLLAB_HOST`` and ``COLLAB_PORT`` (what
    ``collab serve`` listens on), when ``--server``/``COLLAB_SERVER`` does not say."""
    host = os.environ.get("COLLAB_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: reachable on loopback
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = os.environ.get("COLLAB_PORT", "8000")
    return f"http://{host}:{port}"


TIMEOUT_SECONDS = 30.0

docs = typer.Typer(
    help="List, create, show, export, import and delete documents on a running server.",
    no_args_is_help=True,
)


# -- documents, over the REST API -------------------------------------------------------------


class Api:
    """A thin client of the REST API that turns failures into messages and exit code 1."""

    def __init__(self, server: str) -> None:
        self.server = server.rstrip("/")

    @contextlib.contextmanager
    def _client(self) -> Iterator[httpx.Client]:
        token = token_for(self.server)  # from `collab login`, or COLLAB_TOKEN
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=self.server, timeout=TIMEOUT_SECONDS, headers=headers) as client:
            yield client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            with self._client() as client:
                response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            fail(f"cannot reach the server at {self.server}: is `collab serve` running? ({exc})")
        if response.is_error:
            hint = "; sign in with `collab login`" if response.status_code == 401 else ""
            fail(error_message(response) + hint)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()


def error_message(response: httpx.Response) -> str:
    """The server's own message from the ``{"error": {"code", "message"}}`` body."""
    try:
        error = response.json()["error"]
        return f"{error['message']} ({response.status_code} {error['code']})"
    except (ValueError, KeyError, TypeError):
        return f"the server answered {response.status_code} {response.reason_phrase}"


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


# Titles are free text: never let one move the cursor, clear the screen or fake a line.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    return _UNPRINTABLE.sub("?", text)


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="COLLAB_SERVER",
        help="The server's base URL [default: http://COLLAB_HOST:COLLAB_PORT, "
        "that is http://127.0.0.1:8000 unless they say otherwise].",
    ),
]


@docs.callback()
def docs_options(ctx: typer.Context, server: ServerOption = None) -> None:
    ctx.obj = Api(server or default_server())


def _api(ctx: typer.Context) -> Api:
    api: Api = ctx.obj
    return api


@docs.command("list")
def list_documents(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Only titles or ids containing this.")
    ] = None,
    sort: Annotated[
        SortOrder, typer.Option(help="Order: a leading - means descending.")
    ] = SortOrder.UPDATED_DESC,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many first.", min=0)] = 0,
) -> None:
    """List documents, most recently edited first."""
    params: dict[str, Any] = {"sort": sort.value, "limit": limit, "offset": offset}
    if query:
        params["q"] = query
    page = _api(ctx).json("GET", "/api/documents", params=params)
    items = page["items"]
    if not items:
        typer.echo("no documents" + (f" matching {printable(query)!r}" if query else ""))
        return
    rows = [
        [
            d["id"],
            shorten(printable(d["title"]), 40),
            str(d["rev"]),
            str(d["length"]),
            str(d["editors"]),
            d["updated_at"][:19].replace("T", " "),
        ]
        for d in items
    ]
    typer.echo(_table(["ID", "TITLE", "REV", "CHARS", "EDITING", "UPDATED (UTC)"], rows))
    shown = f"{page['offset'] + 1}-{page['offset'] + len(items)}"
    typer.echo(f"\n{shown} of {page['total']}")


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {2, 3, 4}
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@docs.command("create")
def create_document(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="The new document's title.")] = "Untitled",
    text: Annotated[str, typer.Option(help="Initial text.")] = "",
    doc_id: Annotated[
        str | None,
        typer.Option("--id", help="A URL-safe id (letters, digits, - and _); else a UUID."),
    ] = None,
) -> None:
    """Create a document and print its id."""
    body: dict[str, Any] = {"title": title, "text": text}
    if doc_id:
        body["id"] = doc_id
    document = _api(ctx).json("POST", "/api/documents", json=body)
    typer.echo(document["id"])


@docs.command("show")
def show_document(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(metavar="ID", help="The document's id.")],
    text: Annotated[bool, typer.Option("--text", help="Print the text too.")] = False,
) -> None:
    """Show a document's title, revision, size and dates (and, with --text, its text)."""
    api = _api(ctx)
    document = api.json("GET", f"/api/documents/{_segment(doc_id)}")
    fields = [
        ("id", document["id"]),
        ("title", printable(document["title"])),
        ("revision", document["rev"]),
        ("characters", document["length"]),
        ("editing now", document["editors"]),
        ("created", document["created_at"]),
        ("updated", document["updated_at"]),
        ("checksum", document["checksum"]),
    ]
    for name, value in fields:
        typer.echo(f"{name + ':':<13}{value}")
    if text:
        body = api.json("GET", f"/api/documents/{_segment(doc_id)}/text")
        typer.echo("")
        typer.echo(body["text"], nl=not body["text"].endswith("\n"))


@docs.command("export")
def export_document(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(metavar="ID", help="The document's id.")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write: a file, or - for standard output. "
            "Default: a file named after the title, in this directory.",
        ),
    ] = None,
    rev: Annotated[int | None, typer.Option(help="A past revision.", min=0)] = None,
) -> None:
    """Download a document's text (.md when its title ends in .md, else .txt)."""
    params = {} if rev is None else {"rev": rev}
    response = _api(ctx).request("GET", f"/api/documents/{_segment(doc_id)}/export", params=params)
    if output == "-":
        sys.stdout.buffer.write(response.content)
        sys.stdout.buffer.flush()
        return
    path = Path(output) if output else Path(_attachment_name(response) or f"{doc_id}.txt")
    if output is None and path.exists():
        fail(f"{path} already exists; choose another name with -o")
    try:
        path.write_bytes(response.content)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote {path} ({len(response.content)} bytes)")


def _attachment_name(response: httpx.Response) -> str | None:
    """The file name from Content-Disposition, preferring the exact RFC 5987 form."""
    header = response.headers.get("content-disposition", "")
    exact = re.search(r"filename\*=UTF-8''([^;\s]+)", header, re.IGNORECASE)
    plain = re.search(r'filename="([^"]*)"', header)
    name = unquote(exact.group(1)) if exact else plain.group(1) if plain else None
    if name is None:
        return None
    # The server already makes it safe; a name is still never a path.
    name = re.sub(r"[/\\\x00-\x1f\x7f]", "_", name).lstrip(".")
    return name or None


@docs.command("import")
def import_document(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH", help="A UTF-8 text file.", exists=True, dir_okay=False, readable=True
        ),
    ],
    title: Annotated[
        str | None, typer.Option(help="The title; the file's name if omitted.")
    ] = None,
) -> None:
    """Create a document from a text file and print its id."""
    data = {"title": title} if title else {}
    with path.open("rb") as file:
        document = _api(ctx).json(
            "POST", "/api/imports", files={"file": (path.name, file)}, data=data
        )
    typer.echo(document["id"])


@docs.command("delete")
def delete_document(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(metavar="ID", help="The document's id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a document and its whole history (people editing it are disconnected)."""
    api = _api(ctx)
    if not yes:
        document = api.json("GET", f"/api/documents/{_segment(doc_id)}")
        question = (
            f"Delete {printable(document['title'])!r} ({doc_id}, {document['rev']} revisions)?"
        )
        if not typer.confirm(question):
            typer.echo("not deleted")
            raise typer.Exit(1)
    api.request("DELETE", f"/api/documents/{_segment(doc_id)}")
    typer.echo(f"deleted {doc_id}")


def _segment(doc_id: str) -> str:
    # An id is a slug, but whatever was typed must stay one path segment.
    return quote(doc_id, safe="")
