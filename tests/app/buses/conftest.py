"""Fixtures for the bus tests: the test Prosody, and ``pair``, two started instances on each
``RevisionBus`` adapter.

``pair`` is parametrized over ``memory`` (two ``MemoryBus`` sharing a ``MemoryHub``) and
``xmpp`` (two ``XmppBridge`` on the service account of the real test Prosody, with different
resources); pick one with ``-k memory`` or ``-k xmpp``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.app.buses.support import Backend, Instance, MemoryBackend, XmppBackend
from tests.xmpp_support import prosody

__all__ = ["prosody"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "xmpp"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    made: Backend
    if request.param == "xmpp":
        made = XmppBackend(request.getfixturevalue("prosody"))
    else:
        made = MemoryBackend()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def pair(backend: Backend) -> tuple[Instance, Instance]:
    return await backend.instance("a"), await backend.instance("b")
