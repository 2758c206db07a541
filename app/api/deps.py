"""Dependencies shared by routes: the store, the rooms, the settings and the document id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.config import Settings
from app.metrics import Metrics
from app.rooms import RoomRegistry
from app.schemas import DOC_ID_PATTERN
from app.store import Store
from app.xmpp.bridge import XmppBridge


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_rooms(request: Request) -> RoomRegistry:
    rooms: RoomRegistry = request.app.state.rooms
    return rooms


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_xmpp(request: Request) -> XmppBridge | None:
    bridge: XmppBridge | None = getattr(request.app.state, "xmpp", None)
    return bridge


StoreDep = Annotated[Store, Depends(get_store)]
XmppDep = Annotated[XmppBridge | None, Depends(get_xmpp)]
RoomsDep = Annotated[RoomRegistry, Depends(get_rooms)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
DocId = Annotated[
    str,
    Path(
        pattern=DOC_ID_PATTERN,
        description="A URL-safe slug (letters, digits, '-', '_', at most 64) or a UUID.",
        examples=["q3-plan"],
    ),
]
