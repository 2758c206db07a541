"""The real build (frontend/dist), as the server sends it: every page names only bundles
with hashed names that exist, each precompressed, and the API docs' vendored files."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from app.http.pages import HASHED_NAME, default_frontend_dir

DIST = default_frontend_dir()
PAGES = ("documents", "editor", "history", "login", "account", "share")


@pytest.fixture(scope="module")
def dist() -> Path:
    if not (DIST / "editor.html").is_file():
        pytest.fail(f"the web pages are not built ({DIST}): run make frontend")
    return DIST


@pytest.mark.parametrize("page", PAGES)
def test_pages_name_hashed_precompressed_bundles(dist: Path, page: str) -> None:
    html = (dist / f"{page}.html").read_text()
    bundles = re.findall(r'"/assets/([^"]+\.(?:js|css))"', html)
    assert f"{page}.js" not in bundles
    assert len(bundles) == 2, bundles  # the page's module and the stylesheet
    for name in bundles:
        assert HASHED_NAME.match(name), name
        file = dist / "assets" / name
        assert gzip.decompress((dist / "assets" / f"{name}.gz").read_bytes()) == file.read_bytes()
        assert (dist / "assets" / f"{name}.br").stat().st_size < file.stat().st_size


def test_unhashed_files_are_not_taken_for_hashed_ones(dist: Path) -> None:
    for name in ("favicon.svg", "vendor/swagger-ui-bundle.js", "vendor/redoc.standalone.js"):
        assert (dist / "assets" / name).is_file(), name
        assert not HASHED_NAME.match(name.rsplit("/", 1)[-1]), name
