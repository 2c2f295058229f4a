"""Acceptance (受理): reasons a demand is not accepted, and duplicate detection (重复件).

The reasons are the union of hebei art. 6, huizhou's list and gaotai; each tells the
citizen the proper channel, which the agent reads out and the order records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hotline_core.workorders.lifecycle import OPEN_STATUSES, Status
from hotline_core.workorders.model import WorkOrder


class NotAcceptedReason(StrEnum):
    OUTSIDE_JURISDICTION = "outside_jurisdiction"
    LEGAL_PROCEDURE = "legal_procedure"
    PETITION = "petition"
    SECRETS_OR_PRIVACY = "secrets_or_privacy"
    MILITARY = "military"
    CIVIL_DISPUTE = "civil_dispute"
    ILLEGAL_OR_MALICIOUS = "illegal_or_malicious"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class ReasonText:
    label: str
    proper_channel: str


REASONS: dict[NotAcceptedReason, ReasonText] = {
    NotAcceptedReason.OUTSIDE_JURISDICTION: ReasonText(
        "不属于本行政区域管辖范围", "请向事项所在地的12345热线或主管部门反映"),
    NotAcceptedReason.LEGAL_PROCEDURE: ReasonText(
        "已进入或须通过诉讼、仲裁、纪检监察、行政复议、政府信息公开等法定程序",
        "请通过相应法定程序(法院、仲裁机构、纪检监察机关、复议机关、信息公开渠道)办理"),
    NotAcceptedReason.PETITION: ReasonText(
        "已进入信访渠道或信访复查复核程序", "请向信访部门了解办理进展"),
    NotAcceptedReason.SECRETS_OR_PRIVACY: ReasonText(
        "涉及国家秘密、商业秘密或个人隐私", "请向有权机关依法申请"),
    NotAcceptedReason.MILITARY: ReasonText(
        "涉及军队、武警管辖的事项", "请向军队、武警有关部门反映"),
    NotAcceptedReason.CIVIL_DISPUTE: ReasonText(
        "行政职权范围以外的民事纠纷", "可申请人民调解或向人民法院起诉"),
    NotAcceptedReason.ILLEGAL_OR_MALICIOUS: ReasonText(
        "违反法律法规、公序良俗,或恶意骚扰、无实质诉求内容", "依法纳入信用管理"),
    NotAcceptedReason.EMERGENCY: ReasonText(
        "涉及人身、财产安全的紧急事项", "已转110/119/120/122紧急热线"),
}


def find_duplicate(
    session: Session,
    *,
    caller_number: str,
    locality: str,
    matter: str,
    now: datetime,
    window: timedelta,
) -> WorkOrder | None:
    """An open or recently closed order with the same matter, from the same caller or
    about the same place (same fact, same reason). The oldest wins, so repeated calls
    all link to the first order rather than to each other."""
    if not matter:
        return None  # without the matter the "same reason" cannot be judged
    same_who_or_where = []
    if caller_number:
        same_who_or_where.append(WorkOrder.caller_number == caller_number)
    if locality:
        same_who_or_where.append(WorkOrder.locality == locality)
    if not same_who_or_where:
        return None
    open_or_recent = or_(
        WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
        and_(WorkOrder.status == Status.CLOSED.value, WorkOrder.closed_at >= now - window),
    )
    stmt = (
        select(WorkOrder)
        .where(WorkOrder.matter == matter, or_(*same_who_or_where), open_or_recent,
               WorkOrder.duplicate_of.is_(None))
        .order_by(WorkOrder.received_at, WorkOrder.id)
        .limit(1)
    )
    return session.scalars(stmt).first()
