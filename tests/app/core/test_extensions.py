"""The extension runner: order, only the hooks that are overridden, refusals, failing reports."""

from __future__ import annotations

import logging

import pytest

from app.core.errors import Refusal, Refused
from app.core.extensions import ConnectionRequest, Extension, Extensions

pytestmark = pytest.mark.anyio


def asking(path: str = "/api/documents") -> ConnectionRequest:
    return ConnectionRequest("http", path, None, "GET", {}, None)


class Recorder(Extension):
    def __init__(self, name: str, calls: list[str], priority: int = 100) -> None:
        self.name = name
        self.calls = calls
        self.priority = priority

    async def authenticate(self, request: ConnectionRequest) -> None:
        self.calls.append(f"{self.name}:authenticate")
        request.identity.setdefault("seen", []).append(self.name)

    async def on_load(self, doc_id: str) -> None:
        self.calls.append(f"{self.name}:load:{doc_id}")


class OnlyUnload(Extension):
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def on_unload(self, doc_id: str) -> None:
        self.calls.append(f"unload:{doc_id}")


async def test_hooks_run_in_priority_order_and_ties_keep_the_order_given() -> None:
    calls: list[str] = []
    extensions = Extensions(
        [Recorder("late", calls, 200), Recorder("first", calls, 10), Recorder("b", calls)]
    )
    extensions.add(Recorder("c", calls))
    request = asking()
    await extensions.authenticate(request)
    assert calls == ["first:authenticate", "b:authenticate", "c:authenticate", "late:authenticate"]
    # What one extension learned is there for the next.
    assert request.identity["seen"] == ["first", "b", "c", "late"]


async def test_only_extensions_overriding_a_hook_are_called() -> None:
    calls: list[str] = []
    extensions = Extensions([Recorder("r", calls), OnlyUnload(calls)])
    assert extensions.uses("on_load") and extensions.uses("on_unload")
    assert not extensions.uses("after_commit")
    await extensions.on_load("d")
    await extensions.on_unload("d")
    assert calls == ["r:load:d", "unload:d"]


async def test_the_first_refusal_wins_and_later_extensions_are_not_asked() -> None:
    calls: list[str] = []

    class Gate(Extension):
        priority = 50

        async def authenticate(self, request: ConnectionRequest) -> None:
            calls.append("gate")
            if not request.headers.get("authorization"):
                raise Refused("sign in first", Refusal.UNAUTHENTICATED)

    extensions = Extensions([Recorder("after", calls), Gate()])
    with pytest.raises(Refused) as refused:
        await extensions.authenticate(asking())
    assert refused.value.code == "unauthenticated"
    assert refused.value.refusal is Refusal.UNAUTHENTICATED
    assert calls == ["gate"]

    calls.clear()
    allowed = ConnectionRequest("http", "/", None, "GET", {"authorization": "x"}, None)
    await extensions.authenticate(allowed)
    assert calls == ["gate", "after:authenticate"]


async def test_a_failing_report_is_logged_and_the_next_extension_still_hears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    class Broken(Extension):
        priority = 1

        async def on_unload(self, doc_id: str) -> None:
            raise RuntimeError("exporter down")

    extensions = Extensions([OnlyUnload(calls), Broken()])
    with caplog.at_level(logging.ERROR, logger="app.core.extensions"):
        await extensions.on_unload("d")
    assert calls == ["unload:d"]
    assert "Broken failed in on_unload" in caplog.text


def test_a_refusal_names_its_kind_and_may_carry_its_own_code() -> None:
    assert Refused("no").code == "forbidden"
    assert Refused("slow down", Refusal.RATE_LIMITED).code == "rate-limited"
    assert Refused("read only", code="read-only").code == "read-only"
