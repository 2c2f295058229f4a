"""What a principal may see of an order and its events (the JSON shapes of the API).

Instants are written in the hotline's zone with their offset (``…T09:00:00+08:00``)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from hotline_core.access import AccessPolicy, Principal, Role
from hotline_core.clock import DEFAULT_ZONE
from hotline_core.workorders.model import WorkOrder, WorkOrderEvent
from hotline_core.workorders.presets import Preset
from hotline_core.workorders.privacy import caller_view
from hotline_core.workorders.supervision import light_of


def order_view(order: WorkOrder, who: Principal, policy: AccessPolicy, preset: Preset,
               now: datetime, *, listing: bool, zone: tzinfo = DEFAULT_ZONE) -> dict[str, Any]:
    light = light_of(preset, order, now)

    def _iso(value: datetime | None) -> str | None:
        return value.astimezone(zone).isoformat() if value else None

    view: dict[str, Any] = {
        "id": order.id,
        "received_at": _iso(order.received_at),
        "channel": order.channel,
        "line": order.line,
        "department": order.department,
        "category": order.category,
        "matter": order.matter,
        "locality": order.locality,
        "status": order.status,
        "lead_unit": order.lead_unit,
        "due_at": _iso(order.due_at),
        "light": light.value if light else None,
        "grade": order.grade,
        "confidential": order.confidential,
        "publish_consent": order.publish_consent,
        "priority": order.priority,
        "leader_instruction": order.leader_instruction,
        "evaluation": order.evaluation,
        "redo_count": order.redo_count,
        "duplicate_of": order.duplicate_of,
        **caller_view(number=order.caller_number, name=order.caller_name,
                      confidential=order.confidential, who=who, policy=policy,
                      listing=listing),
    }
    if listing:
        return view
    view.update({
        "description": order.description,
        "address": order.address,
        "emergency": order.emergency,
        "call_record_id": order.call_record_id,
        "recording": order.recording if who.role is not Role.UNIT else None,
        "sign_due_at": _iso(order.sign_due_at),
        "dispatched_at": _iso(order.dispatched_at),
        "signed_at": _iso(order.signed_at),
        "replied_at": _iso(order.replied_at),
        "callback_due_at": _iso(order.callback_due_at),
        "closed_at": _iso(order.closed_at),
        "excluded_from_score": order.excluded_from_score,
        "assignments": [
            {"unit": a.unit_code, "role": a.role, "active": a.active}
            for a in order.assignments
        ],
    })
    if order.confidential and who.role is Role.UNIT:
        # The recording carries the citizen's voice: never for the party complained about.
        view["recording"] = None
    return view


def event_view(ev: WorkOrderEvent, zone: tzinfo = DEFAULT_ZONE) -> dict[str, Any]:
    return {
        "seq": ev.seq, "kind": ev.kind, "at": ev.at.astimezone(zone).isoformat(), "actor": ev.actor,
        "actor_role": ev.actor_role, "unit": ev.unit, "data": ev.data,
    }
