"""Reads and the liaison directory of the unit portal (承办单位工作台).

A unit lists only the orders dispatched to it (lead or assisting, also after it returned
one), filtered by status, light and grade, newest first, paged by a cursor (an order id:
:class:`Cursor`) rather than an offset; each row says whether the
citizen's evaluation was unsatisfied and whether the order came back for a redo (重办).
The light is the one every reader sees (:mod:`hotline_core.workorders.lights`).

The unit keeps its own lead (单位负责人) and A/B liaisons (AB角联络员) in the unit directory
(``wo_unit_contacts``), the rows supervision copies into a reminder event and the reminder
call then dials, A first, then B (:mod:`hotline_core.workorders.reminders`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session, selectinload

from hotline_core.access import Principal, Role
from hotline_core.workorders.desk import Invalid, NotFound, unit_can_read
from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.lights import Light, light_is
from hotline_core.workorders.model import Unit, UnitAssignment, UnitContact, WorkOrder
from hotline_core.workorders.presets import Preset, SatisfactionLevel
from hotline_core.workorders.supervision import light_of

CONTACT_ROLES = ("lead", "A", "B")   # 单位负责人, A角, B角
GRADES = ("A", "B", "C", "D")
PAGE_SIZE = 50   # orders on one page of the unit's list
_PHONE = re.compile(r"^[0-9]{3,20}$")
NAME_MAX = 100


@dataclass(frozen=True)
class UnitFilter:
    """What the unit narrows its list to; None: any."""

    status: Status | None = None
    light: Light | None = None
    grade: str | None = None


@dataclass(frozen=True)
class UnitRow:
    """One order of the unit's list, with what the unit must notice about it."""

    order: WorkOrder
    light: Light | None
    role: str              # lead | assist (the unit's part in the order)
    active: bool           # False once the unit returned it or it was re-dispatched
    unsatisfied: bool      # the citizen's (last) evaluation is unsatisfied
    redo: bool             # the order came back for a redo (重办)


@dataclass(frozen=True)
class UnitPage:
    rows: list[UnitRow]
    total: int
    older: bool = False    # orders after the last row exist (下一页)
    newer: bool = False    # orders before the first row exist (上一页)


@dataclass(frozen=True)
class Cursor:
    """Where a page of the unit's list starts (keyset paging): the list is newest first,
    its sort key the order id itself (ids grow with receipt), so a cursor is an order id —
    ``after`` it: the next (older) orders, ``before`` it: the previous (newer) ones. A page
    is then an index range read however deep it is, where an OFFSET read every row above
    it. A cursor only bounds the range: the unit's own orders are still the only ones read,
    whatever id it names."""

    order_id: int
    before: bool = False


CURSOR_MAX = 2**63 - 1
_CURSOR = re.compile(r"^[0-9]{1,19}$")


def parse_cursor(raw: str, name: str) -> int:
    """An order id given as a cursor (``after`` / ``before``); anything else is refused
    naming the parameter."""
    if not _CURSOR.match(raw) or not 0 < int(raw) <= CURSOR_MAX:
        raise Invalid(f"{name}: a page cursor is the id of an order in the list "
                      f"(1 to 19 digits), not {raw[:40]!r}", field=name)
    return int(raw)


def _unit_of(who: Principal) -> str:
    if who.role is not Role.UNIT or not who.unit:
        raise Invalid("only a unit's people list the unit's orders", field="unit")
    return who.unit


def unit_orders(session: Session, who: Principal, preset: Preset, now: datetime,
                f: UnitFilter, limit: int, cursor: Cursor | None = None) -> UnitPage:
    """One page of the orders dispatched to ``who``'s unit, as it may see them, newest
    first, from ``cursor`` (None: the newest)."""
    unit = _unit_of(who)
    # One assignment row per (order, unit): the join lists each of the unit's orders once.
    mine = and_(UnitAssignment.order_id == WorkOrder.id, UnitAssignment.unit_code == unit)
    where: list[ColumnElement[bool]] = []
    if f.status is not None:
        where.append(WorkOrder.status == f.status.value)
    if f.grade is not None:
        where.append(WorkOrder.grade == f.grade)
    if f.light is not None:
        # The same light as every reader (lights.light_is): on the stored instants a range
        # condition, so the page is cut in SQL however many orders the unit holds.
        where += light_is(session, preset, now, f.light)
    if f == UnitFilter():
        # Unfiltered: the count is the unit's assignments (one per order), read from their
        # index alone, without visiting the orders.
        total = session.scalar(select(func.count()).select_from(UnitAssignment)
                               .where(UnitAssignment.unit_code == unit)) or 0
    else:
        total = session.scalar(select(func.count()).select_from(WorkOrder)
                               .join(UnitAssignment, mine).where(*where)) or 0
    key = UnitAssignment.order_id
    # The page's ids first, then their orders: unfiltered, the ids are a backward range of
    # the unit's assignment index (ix_wo_assignments_unit) however deep the page; a join
    # under LIMIT let PostgreSQL walk the orders' primary key from the top instead.
    ids = (select(key).where(UnitAssignment.unit_code == unit) if f == UnitFilter()
           else select(key).select_from(WorkOrder).join(UnitAssignment, mine).where(*where))
    before = cursor is not None and cursor.before
    if cursor is None:
        stmt = ids.order_by(key.desc())
    elif before:
        stmt = ids.where(key > cursor.order_id).order_by(key.asc())
    else:
        stmt = ids.where(key < cursor.order_id).order_by(key.desc())
    # One id more than the page tells whether another page follows.
    found = list(session.scalars(stmt.limit(limit + 1)))
    more = len(found) > limit
    page_ids = sorted(found[:limit], reverse=True)
    if before:
        older = bool(page_ids) and _exists(session, ids.where(key < page_ids[-1])
                                           .order_by(key.desc()))
        newer = more
    else:
        older = more
        newer = bool(page_ids) and cursor is not None and _exists(
            session, ids.where(key > page_ids[0]).order_by(key.asc()))
    # The page's orders and their assignments in two queries, not one per row.
    orders = {o.id: o for o in session.scalars(
        select(WorkOrder).where(WorkOrder.id.in_(page_ids))
        .options(selectinload(WorkOrder.assignments)))}
    return UnitPage([_row(orders[i], unit, preset, now) for i in page_ids], total, older,
                    newer)


def _exists(session: Session, ids: Select[Any]) -> bool:
    """Whether ``ids`` (ordered from the page outwards: an index range) has a row."""
    return session.scalar(ids.limit(1)) is not None


def _row(order: WorkOrder, unit: str, preset: Preset, now: datetime) -> UnitRow:
    mine = [a for a in order.assignments if a.unit_code == unit]
    active = any(a.active for a in mine)
    role = next((a.role for a in mine if a.active), mine[0].role if mine else "")
    unsatisfied = (order.evaluation is not None
                   and not preset.is_satisfied(SatisfactionLevel(order.evaluation)))
    return UnitRow(order, light_of(preset, order, now), role, active, unsatisfied,
                   order.redo_count > 0 or order.status == Status.REDO.value)


def unit_order(session: Session, who: Principal, order_id: int) -> WorkOrder:
    """One order of ``who``'s unit; another unit's order does not exist for it."""
    _unit_of(who)
    order = session.get(WorkOrder, order_id)
    if order is None or not unit_can_read(order, who):
        raise NotFound(f"work order {order_id} does not exist")
    return order


# ------------------------------------------------------------------ liaisons (AB角)


@dataclass(frozen=True)
class Contact:
    role: str     # lead | A | B
    name: str
    phone: str


def _own_unit(session: Session, who: Principal, unit: str) -> Unit:
    """The unit ``who`` may keep the directory of: a unit only its own (another unit's
    does not exist for it); a supervisor any."""
    if who.role is Role.UNIT and who.unit != unit:
        raise NotFound(f"unit {unit!r} does not exist")
    found = session.get(Unit, unit)
    if found is None:
        raise NotFound(f"unit {unit!r} does not exist")
    return found


def contacts_of(session: Session, who: Principal, unit: str) -> tuple[str, list[Contact]]:
    """The unit's name and its lead, A and B, in that order (a missing one is left out)."""
    found = _own_unit(session, who, unit)
    by_role = {c.role: c for c in found.contacts}
    return found.name, [Contact(r, by_role[r].name, by_role[r].phone)
                        for r in CONTACT_ROLES if r in by_role]


def replace_contacts(session: Session, who: Principal, unit: str,
                     contacts: Mapping[str, tuple[str, str]]) -> list[Contact]:
    """Set the unit's lead, A and B (role → (name, phone)); all three are required so that a
    reminder always has someone to call. Checked whole before anything is written."""
    found = _own_unit(session, who, unit)
    for role in CONTACT_ROLES:
        if role not in contacts:
            raise Invalid(f"{role}: the unit's {role} contact is required", field=role)
        name, phone = contacts[role]
        if not name.strip() or len(name) > NAME_MAX:
            raise Invalid(f"{role}.name: give a name of at most {NAME_MAX} characters",
                          field=f"{role}.name")
        if not _PHONE.match(phone.strip()):
            raise Invalid(f"{role}.phone: 3 to 20 digits, nothing else", field=f"{role}.phone")
    for existing in list(found.contacts):
        if existing.role in CONTACT_ROLES:
            found.contacts.remove(existing)
    session.flush()  # the old rows go before the new ones take their place
    for role in CONTACT_ROLES:
        name, phone = contacts[role]
        found.contacts.append(UnitContact(role=role, name=name.strip(), phone=phone.strip()))
    session.flush()
    return [Contact(r, contacts[r][0].strip(), contacts[r][1].strip()) for r in CONTACT_ROLES]
