"""Small builders shared by the engine's unit tests."""

from __future__ import annotations

from sync import ops, patches
from sync.protocol import Edit, OpId


def edit_on(
    text: str, base: int, client: str, seq: int, position: int, delete: int, insert: str
) -> Edit:
    """An edit replacing ``delete`` characters at ``position`` of ``text`` (at ``base``)."""
    op = ops.replace(len(text), position, text[position : position + delete], insert)
    return Edit(base, OpId(client, seq), patches.patch_text(text, op))
