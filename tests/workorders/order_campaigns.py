"""Shared by the order-campaign tests (satisfaction callback 回访, reminder calls 催办): the
people who carry a test order along, its events, its one dialer target, and the dialer's
store with the order hooks of a campaign kind."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.campaigns.model import CampaignKind, CampaignTarget
from hotline_core.campaigns.store import CampaignStore
from hotline_core.workorders import callbacks
from hotline_core.workorders.desk import DeskSettings
from hotline_core.workorders.model import WorkOrderEvent

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")   # 县交通运输局


def order_events(maker: sessionmaker[Session], oid: int) -> list[WorkOrderEvent]:
    with maker() as s:
        return list(s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.order_id == oid)
                              .order_by(WorkOrderEvent.seq)))


def only_target(maker: sessionmaker[Session], oid: int) -> CampaignTarget:
    """The order's one dialer target (fails on none or several)."""
    with maker() as s:
        rows = list(s.scalars(select(CampaignTarget).where(CampaignTarget.order_id == oid)))
    assert len(rows) == 1, rows
    return rows[0]


def hooked_store(maker: sessionmaker[Session], settings: DeskSettings,
                 kind: CampaignKind) -> CampaignStore:
    """The dialer's store on the test clock, telling the order of each ``kind`` attempt."""
    store = CampaignStore(maker, clock=lambda: settings.now())
    store.hooks[kind] = callbacks.OrderCampaignHooks(settings, kind)
    return store
