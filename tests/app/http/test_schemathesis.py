"""Schemathesis against the app's own OpenAPI schema: no 5xx, every response as documented.

Hermetic (a fresh data directory), deterministic (derandomized Hypothesis) and bounded
(a fixed number of examples per operation), so it runs in about half a minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from app.config import Settings
from app.main import create_app

# Per operation: 40 in CI (its whole run stays near half a minute), 300 in `make test-long`.
MAX_EXAMPLES = 300 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 40
# The id the schema gives as its example: generated requests that use it reach the success
# paths (text, export, revisions, diff, restore), not only 404s.
EXAMPLE_ID = "q3-plan"


def _settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None, data_dir=data_dir, idle_unload_seconds=0, auth="off", allowed_hosts="*"
    )  # type: ignore[call-arg]


# Building the schema touches no database; the app under test gets its own directory below.
schema = schemathesis.openapi.from_dict(create_app(_settings(Path("unused"))).openapi())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app = create_app(_settings(tmp_path_factory.mktemp("schemathesis") / "data"))
    try:
        yield app
    finally:
        # Schemathesis keeps each app's lifespan running until it is told to stop.
        asgi.shutdown_lifespans()


def ensure_example_document(app: FastAPI) -> None:
    """(Re)create the example document with a few revisions, if a DELETE took it."""
    with asgi.get_client(app) as client:
        if client.get(f"/api/documents/{EXAMPLE_ID}").status_code == 200:
            return
        body = {"id": EXAMPLE_ID, "title": "Q3 plan.md", "text": "# Q3\n- ship ✓\n"}
        assert client.post("/api/documents", json=body).status_code == 201
        for _ in range(3):
            response = client.post(f"/api/documents/{EXAMPLE_ID}/restore", json={"rev": 0})
            assert response.status_code == 201


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, app: FastAPI) -> None:
    ensure_example_document(app)
    excluded = []
    if case.operation.path == "/api/imports":
        # Two checks cannot hold for a multipart upload. The file is binary to OpenAPI, which
        # cannot say "UTF-8 text without control characters", so random bytes are rightly
        # refused (400, 422). And every form field is text on the wire, so a "wrong-typed"
        # title such as 1.5 arrives as the valid title "1.5". Every other check holds.
        excluded += [
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection,
        ]
    case.call_and_validate(app=app, excluded_checks=excluded)
