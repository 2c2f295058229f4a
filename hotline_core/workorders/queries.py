"""Reads of work orders for the API (工单查询): a page of orders as one user may see them,
the orders an Open311 reader may see (公开诉求), and who may edit a knowledge-base entry.

Who sees what lives here, next to the model, not in the HTTP handlers:

- a page of orders: a unit sees only the orders dispatched to it (R-PRIVACY); other roles
  may narrow to one lead unit;
- Open311: confidential and not-accepted orders never; the public (no token) only orders
  whose citizen agreed to publication; a unit only its own orders; staff every order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.workorders.desk import Forbidden, Invalid, NotFound
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import KnowledgeEntry, Unit, UnitAssignment, WorkOrder

HIDDEN = (Status.NOT_ACCEPTED.value,)
CLOSED = (Status.CLOSED.value,)
STAFF = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.CALLBACK})
OPEN311_PAGE = 1000


def _dispatched_to(unit: str | None) -> Any:
    return WorkOrder.id.in_(
        select(UnitAssignment.order_id).where(UnitAssignment.unit_code == unit))


def orders_page(session: Session, who: Principal, *, status: str | None, unit: str | None,
                limit: int, offset: int) -> Sequence[WorkOrder]:
    """Orders newest first, as ``who`` may list them."""
    stmt = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit).offset(offset)
    if who.role is Role.UNIT:
        stmt = stmt.where(_dispatched_to(who.unit))
    elif unit:
        stmt = stmt.where(WorkOrder.lead_unit == unit)
    if status:
        stmt = stmt.where(WorkOrder.status == status)
    return session.scalars(stmt).all()


def _published(stmt: Select[Any], who: Principal | None) -> Select[Any]:
    """The orders ``who`` (None: the public) may read on the Open311 interface."""
    stmt = stmt.where(WorkOrder.confidential.is_(False), WorkOrder.status.not_in(HIDDEN))
    if who is not None and who.role is Role.UNIT:
        return stmt.where(_dispatched_to(who.unit))
    if who is not None and who.role in STAFF:
        return stmt
    return stmt.where(WorkOrder.publish_consent.is_(True))


@dataclass(frozen=True)
class RequestFilter:
    """GeoReport v2 list filters, already checked."""

    ids: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    status: str = ""          # "", "open" or "closed"


def service_requests(session: Session, who: Principal | None,
                     f: RequestFilter) -> Sequence[WorkOrder]:
    stmt = _published(select(WorkOrder), who).order_by(WorkOrder.id.desc()).limit(OPEN311_PAGE)
    if f.ids:
        stmt = stmt.where(WorkOrder.id.in_(f.ids))
    if f.categories:
        stmt = stmt.where(WorkOrder.category.in_(f.categories))
    if f.start:
        stmt = stmt.where(WorkOrder.received_at >= f.start)
    if f.end:
        stmt = stmt.where(WorkOrder.received_at < f.end)
    if f.status == "closed":
        stmt = stmt.where(WorkOrder.status.in_(CLOSED))
    elif f.status == "open":
        stmt = stmt.where(WorkOrder.status.not_in(CLOSED))
    return session.scalars(stmt).all()


def service_request(session: Session, who: Principal | None,
                    order_id: int) -> WorkOrder | None:
    stmt = _published(select(WorkOrder), who).where(WorkOrder.id == order_id)
    return session.scalars(stmt).first()


def unit_names(session: Session) -> dict[str, str]:
    """Unit code → name, for answers that name the unit responsible."""
    return {code: name for code, name in session.execute(select(Unit.code, Unit.name))}


def check_entry_edit(session: Session, who: Principal, unit: str | None,
                     entry_id: int | None) -> None:
    """Refuse a knowledge-base edit naming a unit that does not exist, an entry that does
    not exist, or (for a unit user) another unit's entry."""
    if unit is not None and session.get(Unit, unit) is None:
        raise Invalid(f"unit: {unit!r} does not exist", field="unit")
    if entry_id is None:
        return
    existing = session.get(KnowledgeEntry, entry_id)
    if existing is None:
        raise NotFound(f"knowledge-base entry {entry_id} does not exist")
    if who.role is Role.UNIT and existing.unit_code != who.unit:
        raise Forbidden("a unit may only edit its own entries")
