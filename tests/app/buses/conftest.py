"""Fixtures for the bus tests: the test Prosody, and ``pair``, two started instances on each
``RevisionBus`` adapter.

``pair`` is parametrized over ``memory`` (two ``MemoryBus`` sharing a ``MemoryHub``),
``xmpp`` (two ``XmppBridge`` on the service account of the real test Prosody, with different
resources), ``ejabberd`` (the same on a real ejabberd, configured as the app ships it) and
``ejabberd-cluster`` (two ejabberd nodes joined in a cluster, one bridge on each); pick one
with ``-k memory``, ``-k xmpp`` or ``-k ejabberd``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.app.buses.support import Backend, Instance, MemoryBackend, XmppBackend
from tests.xmpp_support import ejabberd, ejabberd_cluster, prosody, xmpp_server

__all__ = ["ejabberd", "ejabberd_cluster", "prosody", "xmpp_server"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "xmpp", "ejabberd", "ejabberd-cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    made: Backend
    if request.param == "xmpp":
        made = XmppBackend(request.getfixturevalue("prosody"))
    elif request.param == "ejabberd":
        made = XmppBackend(request.getfixturevalue("ejabberd"))
    elif request.param == "ejabberd-cluster":
        made = XmppBackend(request.getfixturevalue("ejabberd_cluster"))
    else:
        made = MemoryBackend()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def pair(backend: Backend) -> tuple[Instance, Instance]:
    return await backend.instance("a"), await backend.instance("b")
