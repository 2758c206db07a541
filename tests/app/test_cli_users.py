"""``collab users ...`` on a data directory, as an operator runs them, and what the server
then makes of those accounts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.app.live import serving
from tests.app.test_cli import clean_env, collab_script

PASSWORD = "operator chosen password"


def users(data: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_env(data)
    if password is not None:
        env["COLLAB_PASSWORD"] = password
    return subprocess.run(
        [*collab_script(), "users", *args],
        cwd=data.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def login(url: str, name: str, password: str) -> int:
    with httpx.Client(base_url=url, trust_env=False) as http:
        return http.post("/api/auth/login", json={"name": name, "password": password}).status_code


@pytest.mark.timeout(120)
def test_create_list_disable_and_reset_password(tmp_path: Path) -> None:
    data = tmp_path / "data"
    empty = users(data, "list")
    assert empty.returncode == 0 and "no accounts yet" in empty.stdout
    assert users(data, "create", "root", "--admin", password=PASSWORD).returncode == 0
    made = users(data, "create", "ann", "--display-name", "Ann Lee", password=PASSWORD)
    assert made.returncode == 0, made.stderr
    taken = users(data, "create", "ann", password=PASSWORD)
    assert taken.returncode == 1 and "taken" in taken.stderr
    bad = users(data, "create", "Not A Name", password=PASSWORD)
    assert bad.returncode == 1 and "cannot be an account name" in bad.stderr
    listed = users(data, "list").stdout.splitlines()
    assert [line.split()[:3] for line in listed] == [
        ["root", "active", "admin"],
        ["ann", "active", "Ann"],
    ]
    with serving(data, auth="on") as server:
        assert login(server.http_url, "ann", PASSWORD) == 200
        assert users(data, "disable", "ann").returncode == 0
        assert login(server.http_url, "ann", PASSWORD) == 403
        assert users(data, "enable", "ann").returncode == 0
        assert users(data, "reset-password", "ann", password="a different one").returncode == 0
        assert login(server.http_url, "ann", PASSWORD) == 401
        assert login(server.http_url, "ann", "a different one") == 200
    missing = users(data, "reset-password", "nobody", password="whatever it is")
    assert missing.returncode == 1 and "no account named 'nobody'" in missing.stderr
