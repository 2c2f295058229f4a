"""Dispatching a work order (派单): choosing its units by the responsibility list and
the gazetteer.

Locality first (属地管理优先): a territorial matter goes to the town government of the
place; otherwise the competent department (谁主管谁负责). A complex matter is dual
dispatched (双派): one lead unit, the work-order steward (工单管家), and assisting units.
Every decision carries its reasons in words, and they are stored in the dispatch event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from hotline_core.workorders.csv_import import APPROVAL_KINDS
from hotline_core.workorders.model import Matter, Place, Unit


class UnitChoiceError(ValueError):
    """No unit can be chosen automatically; the dispatcher must choose and say why."""


@dataclass(frozen=True)
class UnitChoice:
    lead: str
    assists: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    approval: str = ""  # kind needing a leader's instruction first, "" if none


def town_of(session: Session, locality: str, address: str) -> Place | None:
    """The gazetteer place named by the locality, else the longest place named in the address."""
    if locality:
        place = session.get(Place, locality)
        if place is not None:
            return place
    text = f"{locality} {address}".strip()
    if not text:
        return None
    # The address contains the place name: match in SQL so a large gazetteer stays in the DB.
    stmt = (select(Place)
            .where(literal(text).contains(Place.name))
            .order_by(func.length(Place.name).desc(), Place.name)
            .limit(1))
    return session.scalars(stmt).first()


def choose_units(session: Session, matter_name: str, locality: str,
                 address: str) -> UnitChoice:
    if not matter_name:
        raise UnitChoiceError("the order names no matter from the responsibility list")
    matter = session.scalars(select(Matter).where(Matter.name == matter_name)).first()
    if matter is None:
        raise UnitChoiceError(f"matter {matter_name!r} is not on the responsibility list")
    dept = session.get(Unit, matter.department)
    dept_label = f"{dept.name if dept else matter.department}"
    if matter.section:
        dept_label += f"({matter.section})"
    competent = f"事项「{matter.name}」按职责清单由{dept_label}主管"
    place = town_of(session, locality, address)
    town = session.get(Unit, place.town) if place else None
    approval = matter.approval
    approval_reason = (
        [f"需领导批示后派单: {APPROVAL_KINDS[approval]}"] if approval else []
    )
    if matter.locality_first and place is not None and town is not None:
        where = f"地点「{place.name}」属{town.name}"
        assists = [matter.department] if matter.dual and matter.department != town.code else []
        reasons = [f"属地管理优先: {where}, 由{town.name}主办", competent]
        if assists:
            reasons.append(f"双派: {dept_label}协办")
        return UnitChoice(town.code, assists, reasons + approval_reason, approval)
    reasons = [f"谁主管谁负责: {competent}"]
    if matter.locality_first:
        reasons.append("属地事项但地址不在地名库中, 派主管部门")
    assists = []
    if matter.dual and town is not None and town.code != matter.department:
        assists = [town.code]
        reasons.append(f"双派: 地点「{place.name if place else ''}」属{town.name}, 协办")
    return UnitChoice(matter.department, assists, reasons + approval_reason, approval)
