"""The ``collab`` command, against a real server it started itself (``collab serve``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app import cli
from app.cli.documents import default_server
from app.config import get_settings
from app.serving import bound_socket
from tests.app.conftest import free_port

runner = CliRunner()
ADMIN_PASSWORD = "correct horse battery"


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLAB_")}
    env["COLLAB_DATA_DIR"] = str(data_dir)
    return env


def collab_script() -> list[str]:
    """The installed console script, or the same entry point through this interpreter."""
    script = Path(sys.executable).parent / "collab"
    if script.exists():
        return [str(script)]
    found = shutil.which("collab")  # pragma: no cover - an unusual install
    return [found] if found else [sys.executable, "-c", "from app.cli import main; main()"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``collab serve`` with a fresh data directory, on a socket bound here and handed down
    (``--fd``, as ``collab cluster up`` starts instances); yields its URL."""
    home = tmp_path_factory.mktemp("cli-server")
    log = (home / "server.log").open("wb")
    with bound_socket("127.0.0.1") as listening:
        url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        process = subprocess.Popen(
            [*collab_script(), "serve", "--fd", str(listening.fileno()), "--log-level", "warning"],
            cwd=home,  # no stray .env
            # Its managed Prosody on a free port: the default one would be shared with this
            # fixture in the other test worker (xdist may split the module), and a Prosody
            # finding its port taken is a failed start.
            env={**clean_env(home / "data"), "COLLAB_XMPP_MANAGED_PORT": "0"},
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(listening.fileno(),),
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"collab serve exited: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"collab serve did not start: {(home / 'server.log').read_text()}")
            time.sleep(0.05)
        # Accounts are on, as on any installation: an operator makes the administrator, who
        # signs the CLI in (the token is kept in a config directory of this test's own).
        made = subprocess.run(
            [*collab_script(), "users", "create", "admin", "--admin"],
            cwd=home,
            env={**clean_env(home / "data"), "COLLAB_PASSWORD": ADMIN_PASSWORD},
            capture_output=True,
            text=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COLLAB_CONFIG_DIR", str(home / "config"))
            patch.delenv("COLLAB_TOKEN", raising=False)
            signed = runner.invoke(
                cli.app,
                ["login", "--server", url, "--name", "admin", "--password", ADMIN_PASSWORD],
            )
            assert signed.exit_code == 0, signed.output
            yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown
            process.kill()
            process.wait()
        log.close()


def collab(server: str, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, ["docs", "--server", server, *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def ok(server: str, *args: str, input: str | None = None) -> str:
    code, out, err = collab(server, *args, input=input)
    assert code == 0, (out, err)
    assert err == ""
    return out


def test_help_reads_well() -> None:
    result = subprocess.run(
        [*collab_script(), "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    for command in ("serve", "migrate", "docs"):
        assert command in result.stdout
    docs_help = runner.invoke(cli.app, ["docs", "--help"]).stdout
    for command in ("list", "create", "show", "export", "import", "delete", "COLLAB_SERVER"):
        assert command in docs_help
    serve_help = runner.invoke(cli.app, ["serve", "--help"]).stdout
    for option in ("--host", "--port", "--reload", "--log-level", "--fd"):
        assert option in serve_help


def test_serve_refuses_an_fd_with_a_port_or_that_is_no_bound_tcp_socket() -> None:
    # Refused before anything starts (and before serve would run itself again).
    both = runner.invoke(cli.app, ["serve", "--fd", "3", "--port", "8000"])
    assert both.exit_code == 1
    assert "neither --host, --port nor --reload" in both.stderr
    read_end, write_end = os.pipe()
    try:
        pipe = runner.invoke(cli.app, ["serve", "--fd", str(read_end)])
        assert pipe.exit_code == 1
        assert f"file descriptor {read_end} is not an open socket" in pipe.stderr
        with socket.socket(socket.AF_UNIX) as unix:
            other = runner.invoke(cli.app, ["serve", "--fd", str(unix.fileno())])
            assert other.exit_code == 1
            assert "is not a TCP socket" in other.stderr
        with socket.socket() as unbound:
            loose = runner.invoke(cli.app, ["serve", "--fd", str(unbound.fileno())])
            assert loose.exit_code == 1
            assert "is not bound to a port" in loose.stderr
            os.fstat(unbound.fileno())  # still open: serve did not close what it refused
    finally:
        os.close(read_end)
        os.close(write_end)


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(cli.app, [])
    assert "Usage" in result.output


def test_create_show_and_list(server: str) -> None:
    doc_id = ok(server, "create", "CLI plan", "--text", "hello\nworld", "--id", "cli-plan").strip()
    assert doc_id == "cli-plan"
    shown = ok(server, "show", "cli-plan")
    assert "title:       CLI plan" in shown
    assert "revision:    0" in shown
    assert "characters:  11" in shown
    assert "hello" not in shown
    with_text = ok(server, "show", "cli-plan", "--text")
    assert with_text.endswith("\nhello\nworld\n")

    listed = ok(server, "list")
    header, *rows = listed.splitlines()
    assert header.split() == ["ID", "TITLE", "REV", "CHARS", "EDITING", "UPDATED", "(UTC)"]
    assert any(row.startswith("cli-plan") and "CLI plan" in row for row in rows)
    assert "of" in rows[-1]
    assert ok(server, "list", "-q", "CLI PL").count("cli-plan") == 1
    assert ok(server, "list", "-q", "no such title at all").strip() == (
        "no documents matching 'no such title at all'"
    )


def test_create_with_a_generated_id(server: str) -> None:
    doc_id = ok(server, "create").strip()
    assert len(doc_id) == 36
    assert "title:       Untitled" in ok(server, "show", doc_id)


def test_list_pages_and_sorts(server: str) -> None:
    for name in ("sort-b", "sort-a", "sort-c"):
        ok(server, "create", f"Sorting {name}", "--id", name)
    out = ok(server, "list", "-q", "sorting", "--sort", "title", "--limit", "2")
    rows = out.splitlines()[1:3]
    assert [r.split()[0] for r in rows] == ["sort-a", "sort-b"]
    assert out.rstrip().endswith("1-2 of 3")
    out = ok(server, "list", "-q", "sorting", "--sort", "-title", "--offset", "1")
    assert [r.split()[0] for r in out.splitlines()[1:3]] == ["sort-b", "sort-a"]
    code, _, err = collab(server, "list", "--sort", "sideways")
    assert code == 2
    assert "sideways" in err


def test_titles_cannot_drive_the_terminal(server: str) -> None:
    ok(server, "create", "evil\u009b2J title\nfake row", "--id", "evil")
    listed = ok(server, "list", "-q", "evil")
    assert "\u009b" not in listed
    assert "evil?2J title?fake row" in listed
    assert "title:       evil?2J title?fake row" in ok(server, "show", "evil")


def test_export_to_a_file_named_after_the_title(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(server, "create", "Notes – été.md", "--text", "# Été\n", "--id", "notes")
    monkeypatch.chdir(tmp_path)
    out = ok(server, "export", "notes")
    path = tmp_path / "Notes – été.md"
    assert out.strip() == f"wrote {path.name} (8 bytes)"
    assert path.read_text(encoding="utf-8") == "# Été\n"
    # Never overwrites a file it chose the name of.
    code, _, err = collab(server, "export", "notes")
    assert code == 1
    assert "already exists" in err


def test_export_to_a_path_or_stdout(server: str, tmp_path: Path) -> None:
    ok(server, "create", "Plain", "--text", "one\ntwo ✓", "--id", "plain")
    target = tmp_path / "out.txt"
    ok(server, "export", "plain", "-o", str(target))
    assert target.read_bytes() == "one\ntwo ✓".encode()
    result = runner.invoke(cli.app, ["docs", "--server", server, "export", "plain", "-o", "-"])
    assert result.exit_code == 0
    assert result.stdout_bytes == "one\ntwo ✓".encode()
    code, _, err = collab(server, "export", "plain", "--rev", "9", "-o", "-")
    assert code == 1
    assert "has revisions 0 to 0, not 9" in err


def test_import(server: str, tmp_path: Path) -> None:
    source = tmp_path / "draft.md"
    source.write_bytes(b"\xef\xbb\xbf# Draft\n\xc3\xa9\n")
    doc_id = ok(server, "import", str(source)).strip()
    shown = ok(server, "show", doc_id, "--text")
    assert "title:       draft.md" in shown
    assert shown.endswith("\n# Draft\né\n")
    titled = ok(server, "import", str(source), "--title", "Chosen").strip()
    assert "title:       Chosen" in ok(server, "show", titled)


def test_import_errors(server: str, tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    code, out, err = collab(server, "import", str(latin))
    assert code == 1
    assert out == ""
    assert err.startswith("error: the file is not UTF-8 text")
    assert "(400 bad-request)" in err
    code, _, err = collab(server, "import", str(tmp_path / "missing.txt"))
    assert code == 2
    assert "does not exist" in " ".join(err.replace("│", " ").split())


def test_delete_asks_first(server: str) -> None:
    ok(server, "create", "Keep me?", "--id", "doomed")
    code, out, _ = collab(server, "delete", "doomed", input="n\n")
    assert code == 1
    assert "Delete 'Keep me?' (doomed, 0 revisions)? [y/N]" in out
    assert "not deleted" in out
    assert "doomed" in ok(server, "show", "doomed")
    out = ok(server, "delete", "doomed", input="y\n")
    assert out.rstrip().endswith("deleted doomed")
    code, _, err = collab(server, "show", "doomed")
    assert (code, err.strip()) == (1, "error: document 'doomed' not found (404 document-not-found)")


def test_delete_with_yes(server: str) -> None:
    ok(server, "create", "--id", "quick")
    assert ok(server, "delete", "quick", "--yes").strip() == "deleted quick"
    code, _, err = collab(server, "delete", "quick", "-y")
    assert code == 1
    assert "document 'quick' not found" in err


def test_server_errors_print_the_message(server: str) -> None:
    ok(server, "create", "--id", "taken")
    code, out, err = collab(server, "create", "--id", "taken")
    assert (code, out) == (1, "")
    assert err.strip() == "error: document 'taken' already exists (409 document-exists)"
    code, _, err = collab(server, "create", "--id", "not a slug")
    assert code == 1
    assert "(422 validation-error)" in err
    code, _, err = collab(server, "create", "bad\u0001title")
    assert code == 1
    assert "title has U+0001 at position 3" in err


def test_an_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = collab(url, "list")
    assert (code, out) == (1, "")
    assert err.startswith(f"error: cannot reach the server at {url}: is `collab serve` running?")


def test_the_server_comes_from_the_environment(server: str) -> None:
    result = runner.invoke(cli.app, ["docs", "list"], env={"COLLAB_SERVER": server})
    assert result.exit_code == 0, result.output
    assert "ID" in result.stdout


def test_migrate(tmp_path: Path) -> None:
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli.app, ["migrate"], env={"COLLAB_DATA_DIR": str(tmp_path)})
        assert result.exit_code == 0, result.output
        database = (tmp_path / "collab.sqlite3").resolve()
        assert result.stdout.strip() == f"database up to date: sqlite+aiosqlite:///{database}"
        assert database.exists()
        again = runner.invoke(cli.app, ["migrate"], env={"COLLAB_DATA_DIR": str(tmp_path)})
        assert again.exit_code == 0
    finally:
        get_settings.cache_clear()


def test_docs_talks_to_the_server_collab_port_names(server: str) -> None:
    # No --server, no COLLAB_SERVER: the server this machine's settings say it runs.
    port = server.rsplit(":", 1)[1]
    listed = runner.invoke(
        cli.app, ["docs", "list"], env={"COLLAB_SERVER": None, "COLLAB_PORT": port}
    )
    assert listed.exit_code == 0, listed.output  # reached it, and was let in
    elsewhere = runner.invoke(
        cli.app, ["docs", "list"], env={"COLLAB_SERVER": None, "COLLAB_PORT": str(free_port())}
    )
    assert elsewhere.exit_code != 0
    assert "127.0.0.1" in elsewhere.output


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "http://127.0.0.1:8000"),
        ("0.0.0.0", "9000", "http://127.0.0.1:9000"),
        ("::", "9000", "http://127.0.0.1:9000"),
        ("::1", "8001", "http://[::1]:8001"),
        ("docs.internal", "80", "http://docs.internal:80"),
    ],
)
def test_the_default_server_follows_collab_host_and_port(
    monkeypatch: pytest.MonkeyPatch, host: str | None, port: str | None, expected: str
) -> None:
    for name, value in (("COLLAB_HOST", host), ("COLLAB_PORT", port)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert default_server() == expected
