"""Should app instances talk to the XMPP server as a component (XEP-0114) rather than as
resources of one client account? Measured on the managed Prosody, side by side:

    python -m bench.xmpp_component [--items N] [--in-flight D]

For each way of connecting, one connection makes a pubsub node and publishes revision-sized
items to it: N one at a time (the round trip of one publish: p50, p99) and N with D in flight
(items per second), while a client subscribed to the node counts the notifications. Printed,
and written to docs/benchmarks-component.md: those numbers and Prosody's CPU per published
item, as ratios of component to client. The decision is argued in docs/architecture.md.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slixmpp import ComponentXMPP
from slixmpp.plugins.xep_0060.stanza import Item  # noqa: F401  (registers the stanzas)

from app.buses.xmpp.prosody import ManagedProsody, free_port
from bench.peers.procstat import cpu_seconds
from sdk.xmpp import stanza as st
from sdk.xmpp.connection import XmppConnection
from sync.protocol import OpId, Revision

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-component.md"
COMPONENT = "app.localhost"


class ProsodyWithComponent(ManagedProsody):
    """The managed Prosody's configuration plus one external component (XEP-0114)."""

    def __init__(self, root: Path, *, port: int, component_port: int, secret: str) -> None:
        super().__init__(root, port=port)
        self.component_port = component_port
        self.secret = secret

    def write_config(self) -> None:
        super().write_config()
        config = self.config_path.read_text()
        config = config.replace(
            "component_ports = { }", f"component_ports = {{ {self.component_port} }}"
        )
        config = config.replace(
            "interfaces = {", 'component_interfaces = { "127.0.0.1" }\ninterfaces = {', 1
        )
        # A component is no user of the server: Prosody's pubsub lets it create nodes only
        # as an administrator (what the app's account is, to own every document's nodes).
        config = config.replace("admins = { ", f'admins = {{ "{COMPONENT}", ', 1)
        config += f'\nComponent "{COMPONENT}"\n    component_secret = "{self.secret}"\n'
        self.config_path.write_text(config)


def payload(doc: str, rev: int) -> Any:
    patch = "@@ -1,0 +1,24 @@\n+" + "x" * 24 + "\n"
    return st.revision_stanza(Revision(rev, rev - 1, "bench", OpId("b", rev), patch, "v2:0"), doc)


@dataclass
class Result:
    p50_ms: float
    p99_ms: float
    per_second: float
    prosody_us_per_item: float
    delivered: int


Publish = Callable[[str, str, Any], Awaitable[Any]]


async def measure(
    publish: Publish, node: str, items: int, in_flight: int, pid: int, heard: list[float]
) -> Result:
    rounds: list[float] = []
    for number in range(1, items + 1):
        started = time.perf_counter()
        await publish(node, str(number), payload("bench", number))
        rounds.append(time.perf_counter() - started)
    cpu_before = cpu_seconds(pid)
    slots = asyncio.Semaphore(in_flight)

    async def one(number: int) -> None:
        async with slots:
            await publish(node, str(number), payload("bench", number))

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(items + 1, 2 * items + 1)))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    deadline = time.monotonic() + 10
    while len(heard) < 2 * items and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    rounds.sort()
    return Result(
        statistics.median(rounds) * 1000,
        rounds[int(len(rounds) * 0.99)] * 1000,
        items / elapsed,
        cpu / items * 1e6,
        len(heard),
    )


async def run(items: int, in_flight: int) -> dict[str, Result]:
    secret = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="bench-component-") as directory:
        server = ProsodyWithComponent(
            Path(directory), port=free_port(), component_port=free_port(), secret=secret
        )
        account = await server.start()
        assert server.process is not None
        pid = server.process.pid
        results: dict[str, Result] = {}
        try:
            client = XmppConnection(
                f"{account.jid}/bench", account.password, account.host, account.port
            )
            await client.start(wait=20)
            watcher = XmppConnection(
                f"{account.jid}/watch", account.password, account.host, account.port
            )
            await watcher.start(wait=20)
            component = ComponentXMPP(COMPONENT, secret, "127.0.0.1", server.component_port)
            for plugin in ("xep_0030", "xep_0004", "xep_0060"):
                component.register_plugin(plugin)
            ready = asyncio.Event()
            component.add_event_handler("session_start", lambda _: ready.set())
            component.connect()
            await asyncio.wait_for(ready.wait(), 20)
            heard: dict[str, list[float]] = {"client": [], "component": []}

            def on_event(message: Any) -> None:
                node = message["pubsub_event"]["items"]["node"]
                heard["component" if node.endswith("component") else "client"].append(
                    time.perf_counter()
                )

            watcher.xmpp.add_event_handler("pubsub_publish", on_event)
            service = account.pubsub

            async def client_publish(node: str, item_id: str, body: Any) -> Any:
                return await client.xmpp.plugin["xep_0060"].publish(
                    service, node, id=item_id, payload=body, timeout=30
                )

            async def component_publish(node: str, item_id: str, body: Any) -> Any:
                return await component.plugin["xep_0060"].publish(
                    service, node, id=item_id, payload=body, ifrom=COMPONENT, timeout=30
                )

            await client.xmpp.plugin["xep_0060"].create_node(service, "bench/client")
            await component.plugin["xep_0060"].create_node(
                service, "bench/component", ifrom=COMPONENT
            )
            for node in ("bench/client", "bench/component"):
                await watcher.xmpp.plugin["xep_0060"].subscribe(service, node)
            # Interleaved, twice each, so that drift hits both alike; the second round kept.
            for _ in range(2):
                results["client"] = await measure(
                    client_publish, "bench/client", items, in_flight, pid, heard["client"]
                )
                heard["client"].clear()
                results["component"] = await measure(
                    component_publish, "bench/component", items, in_flight, pid, heard["component"]
                )
                heard["component"].clear()
            component.disconnect()
            await client.stop()
            await watcher.stop()
        finally:
            await server.stop()
        return results


def report(results: dict[str, Result], items: int, in_flight: int) -> str:
    client, component = results["client"], results["component"]
    rows = [
        ("publish round trip p50 (ms)", client.p50_ms, component.p50_ms),
        ("publish round trip p99 (ms)", client.p99_ms, component.p99_ms),
        (f"items/s with {in_flight} in flight", client.per_second, component.per_second),
        ("Prosody CPU per item (µs)", client.prosody_us_per_item, component.prosody_us_per_item),
    ]
    lines = [
        "# Benchmark: app instances as XMPP components (XEP-0114) or as client resources",
        "",
        "Written by `bench/xmpp_component.py` (`make bench-component`); the reading and the",
        'decision are in docs/architecture.md ("Instances on the XMPP server").',
        "",
        f"**Run:** {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, managed Prosody, "
        f"{items} revision items published one at a time, then {items} with {in_flight} in "
        "flight, to a node one subscriber follows.",
        "",
        "| | client resource | component | component / client |",
        "|---|---|---|---|",
    ]
    for name, ours, theirs in rows:
        lines.append(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x |")
    lines.append(f"| notifications delivered | {client.delivered} | {component.delivered} | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = asyncio.run(run(args.items, args.in_flight))
    text = report(results, args.items, args.in_flight)
    print(text)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
