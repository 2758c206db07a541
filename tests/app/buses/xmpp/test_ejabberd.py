"""The ejabberd configuration the app ships, a real ejabberd started with it, and app
instances on the two nodes of an ejabberd cluster."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from pathlib import Path

import pytest

from app.buses.xmpp.ejabberd import EjabberdError, ManagedEjabberd, ejabberd_config, main
from app.buses.xmpp.prosody import free_port
from sdk.websocket import WSClient
from sdk.xmpp.connection import XmppConnection
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document, external_xmpp
from tests.app.stores.conftest import fresh_postgres  # noqa: F401  (a fixture)
from tests.xmpp_support import EjabberdClusterForTests, EjabberdForTests


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


@pytest.mark.parametrize("which", ["client", "API"])
def test_a_port_another_program_holds_is_a_clear_error(tmp_path: Path, which: str) -> None:
    # Another program on a port the node needs: found before anything answers for it
    # (another ejabberd on the API port would answer its "status" just the same).
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        held = other.getsockname()[1]
        ports = (held, free_port()) if which == "client" else (free_port(), held)
        server = ManagedEjabberd(tmp_path / "ejabberd", port=ports[0], api_port=ports[1])
        with pytest.raises(
            EjabberdError, match=rf"port {held} on 127.0.0.1 \(ejabberd's {which} port\) is in use"
        ):
            asyncio.run(server.start())
        assert server.process is None  # stopped, not left running


def test_every_socket_of_the_managed_ejabberd_sends_without_delay(tmp_path: Path) -> None:
    """Nagle's algorithm off on the listening sockets and on the connections they accept
    (asked of the running node itself): otherwise a small stanza written while another is
    unacknowledged waits for the client's delayed ACK, tens of milliseconds."""
    cookie = secrets.token_hex(8)
    server = ManagedEjabberd(
        tmp_path / "ejabberd",
        port=free_port(),
        api_port=free_port(),
        node=f"nagle{secrets.token_hex(3)}",
        cookie=cookie,
    )
    ask = (
        f"R = rpc:call('{server.full_node}', erlang, apply, [fun() -> "
        "[inet:getopts(P, [nodelay]) || P <- erlang:ports(), "
        'erlang:port_info(P, name) == {name, "tcp_inet"}] end, []]), '
        'io:format("~p~n", [R]), halt().'
    )

    async def run() -> str:
        account = await server.start()
        try:
            client = XmppConnection(
                f"{account.jid}/probe", account.password, account.host, account.port
            )
            await client.start(wait=30)
            try:
                asked = await asyncio.create_subprocess_exec(
                    *("erl", "-sname", f"ask{secrets.token_hex(3)}", "-setcookie", cookie),
                    *("-hidden", "-noinput", "-noshell", "-eval", ask),
                    stdout=asyncio.subprocess.PIPE,
                    env={**os.environ, "HOME": str(tmp_path)},
                )
                output, _ = await asyncio.wait_for(asked.communicate(), 60)
                return output.decode()
            finally:
                await client.stop()
        finally:
            await server.stop()

    answer = asyncio.run(run())
    # The c2s and API listeners, the client's connection, Erlang distribution's sockets.
    assert answer.count("{ok,[{nodelay,true}]}") >= 3, answer
    assert "nodelay,false" not in answer, answer


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


def test_instances_on_two_nodes_of_a_cluster_edit_one_document(
    ejabberd_cluster: EjabberdClusterForTests,
    fresh_postgres: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    one, two = ejabberd_cluster.services
    assert one.port != two.port
    servers = [
        LiveServer(tmp_path / name, database_url=fresh_postgres, **external_xmpp(service, name))
        for name, service in (("one", one), ("two", two))
    ]
    for server in servers:
        server.start()
    try:
        asyncio.run(create_document(servers[0], "clustered", ""))

        async def type_on_both() -> tuple[str, str]:
            first = WSClient(servers[0].ws_url, "clustered", SyncClient("c-one"), name="One")
            second = WSClient(servers[1].ws_url, "clustered", SyncClient("c-two"), name="Two")
            await first.start()
            await second.start()
            try:
                await first.wait_synced(timeout=10)
                await second.wait_synced(timeout=10)
                for n in range(10):
                    first.replace(len(first.text), 0, f"<1:{n}>")
                    second.replace(0, 0, f"<2:{n}>")
                    await asyncio.sleep(0.02)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    if first.text == second.text and first.text.count("<") == 20:
                        break
                return first.text, second.text
            finally:
                await first.stop()
                await second.stop()

        seen_on_one, seen_on_two = asyncio.run(type_on_both())
        assert seen_on_one == seen_on_two
        assert all(f"<1:{n}>" in seen_on_one and f"<2:{n}>" in seen_on_one for n in range(10))
    finally:
        for server in servers:
            server.stop()
