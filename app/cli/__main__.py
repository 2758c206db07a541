"""``python -m app.cli``: the same as the ``collab`` command."""

from app.cli.main import main

main()
