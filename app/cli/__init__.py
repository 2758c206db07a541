"""The ``collab`` command (``app.cli.main``)."""

from app.cli.main import app, main

__all__ = ["app", "main"]
