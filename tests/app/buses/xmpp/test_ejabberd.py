"""The ejabberd configuration the app ships, and a real ejabberd started with it."""

from __future__ import annotations

import asyncio

import pytest

from app.buses.xmpp.ejabberd import ejabberd_config, main
from sdk.xmpp.connection import XmppConnection
from tests.xmpp_support import EjabberdForTests


def test_the_settings_the_app_depends_on() -> None:
    config = ejabberd_config("example.org", "collab", 5222, 5280, host="0.0.0.0")
    assert "itemreply: publisher" in config
    assert "max_items_node: 10000" in config
    assert "max_user_sessions: 10000" in config
    assert "c2s_shaper: fast" in config
    assert "max_stanza_size: 262144" in config
    assert 'user: "collab@example.org"' in config  # the only account that creates nodes
    # Clients on the given address, the HTTP API on loopback only; no TLS without certificates.
    assert config.count('ip: "0.0.0.0"') == 1
    assert config.count('ip: "127.0.0.1"') == 1
    assert "certfiles: []" in config


def test_the_printed_configuration_names_the_certificates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--domain", "example.org", "--certfile", "/etc/ejabberd/example.pem"])
    printed = capsys.readouterr().out
    assert 'certfiles:\n  - "/etc/ejabberd/example.pem"' in printed
    assert '  - "example.org"' in printed


def test_instances_sharing_the_service_account_do_not_evict_each_other(
    ejabberd: EjabberdForTests,
) -> None:
    # ejabberd's default allows 10 sessions per account; the app's instances (and their
    # tools) share one account, each with its own resource.
    service = ejabberd.service

    async def run() -> list[bool]:
        connections = [
            XmppConnection(
                f"{service.jid}/instance-{n}", service.password, service.host, service.port
            )
            for n in range(12)
        ]
        try:
            for connection in connections:
                await connection.start()
            await asyncio.sleep(2)
            return [connection.connected for connection in connections]
        finally:
            for connection in connections:
                await connection.stop()

    assert asyncio.run(run()) == [True] * 12
