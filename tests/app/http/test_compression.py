"""Reading Accept-Encoding: a coding named with a zero quality is refused."""

from __future__ import annotations

import pytest

from app.http.compression import accepts


@pytest.mark.parametrize(
    ("header", "coding", "expected"),
    [
        ("gzip, deflate, br, zstd", "br", True),
        ("gzip, deflate", "br", False),
        ("GZIP", "gzip", True),
        ("br;q=0, gzip;q=0.5", "br", False),
        ("br;q=0, gzip;q=0.5", "gzip", True),
        ("*", "br", True),
        ("*;q=0", "gzip", False),
        ("gzip;q=nonsense", "gzip", False),
        ("", "gzip", False),
        ("identity", "gzip", False),
        ("x-gzip", "gzip", False),
    ],
)
def test_accepts(header: str, coding: str, expected: bool) -> None:
    assert accepts(header, coding) is expected
