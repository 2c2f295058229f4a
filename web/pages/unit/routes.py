"""``GET /unit`` and ``GET /unit/orders/{order_id}``: the unit portal (承办单位工作台) for a
signed-in unit handler (Role.UNIT, ``principal.unit``).

``/unit`` lists the orders dispatched to the unit, newest first, with light, due time,
grade, evaluation and redo flags, filtered by status, light and grade, 50 a page (keyset
paging: ``?after=<id>`` the next page, ``?before=<id>`` the previous), and the
unit's lead and A/B liaisons (kept through ``PUT /api/units/{unit}/contacts``).
``/unit/orders/{id}`` shows one order with its events and the actions its status allows;
the actions go to the work-order API (``/sign-off``, ``/return``, ``/extension``,
``/reply`` after ``/reply-check``, ``/review-form``) with the session's CSRF token.

Caller numbers are masked and a confidential order's caller is not shown at all; the
recording is never shown to a unit (:func:`hotline_core.workorders.views.order_view`).
Another unit's order answers 404, like an order that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote

import jinja2
from aiohttp import web
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from hotline_core.access import Role
from hotline_core.workorders.desk import Invalid, events_of, state_of
from hotline_core.workorders.lifecycle import EVALUATION_LABELS, Status
from hotline_core.workorders.lights import Light
from hotline_core.workorders.portal import (
    PAGE_SIZE,
    Cursor,
    UnitFilter,
    UnitRow,
    contacts_of,
    parse_cursor,
    unit_order,
    unit_orders,
)
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel
from hotline_core.workorders.replies import PART_LABELS
from hotline_core.workorders.views import event_view, order_view
from web.access import roles
from web.api import Model, Routes, read_query
from web.db import reading
from web.keys import DESK_MISSING, WORKORDERS, WorkOrderServices, need
from web.pages.layout import LOADER, HtmlPage, install_templates, person_for, render_page
from web.requests import ascii_id

UNIT_ROLES = frozenset({Role.UNIT})
STATUS_LABELS = {
    Status.NOT_ACCEPTED: "不予受理", Status.AWAITING_APPROVAL: "待批示",
    Status.PENDING_DISPATCH: "待派单", Status.DISPATCHED: "待签收", Status.HANDLING: "办理中",
    Status.REPLIED: "已回复", Status.REVIEW: "不满意待审核", Status.REDO: "重办",
    Status.REVIEW_FORM: "待报审核反馈表", Status.CLOSED: "已办结"}
LIGHT_LABELS = {Light.GREEN: "绿灯", Light.YELLOW: "黄灯", Light.RED: "红灯"}
GRADES = ("A", "B", "C", "D")
CATEGORY_LABELS = {
    Category.CONSULT: "咨询", Category.HELP: "求助", Category.COMPLAINT: "投诉",
    Category.REPORT: "举报", Category.SUGGESTION: "建议", Category.OTHER: "其他"}
EVENT_LABELS = {
    "created": "受理", "dispatched": "派单", "signed_off": "签收", "returned": "退单",
    "extension_requested": "申请延期", "extension_approved": "延期同意",
    "extension_refused": "延期不同意", "reply_refused": "答复未通过检查", "replied": "答复",
    "evaluated": "回访评价", "review_decided": "审核决定", "review_form_filed": "报送审核反馈表",
    "review_concluded": "审核结论", "reminder": "催办", "special_supervision": "专项督办",
    "graded": "定级", "ledger_opened": "挂账", "ledger_closed": "销账",
    "return_accepted": "退单审核通过", "return_refused": "退单审核驳回",
    "quality_approved": "质检通过", "quality_sent_back": "质检退回"}
routes = Routes(tag="pages")


def _blank_is_none(value: object) -> object:
    """A filter left at "全部" is sent empty."""
    return None if value == "" else value


class UnitListQuery(Model):
    """The list's filters and page."""

    status: Annotated[Status | None, BeforeValidator(_blank_is_none)] = None
    light: Annotated[Light | None, BeforeValidator(_blank_is_none)] = None
    grade: Annotated[Literal["A", "B", "C", "D"] | None, BeforeValidator(_blank_is_none)] = None
    # Keyset paging (portal.Cursor): the next page is ``after`` the last order shown, the
    # previous ``before`` the first; checked in the handler (400 naming the parameter).
    after: Annotated[str | None, BeforeValidator(_blank_is_none)] = None
    before: Annotated[str | None, BeforeValidator(_blank_is_none)] = None


def unit_refusal(path: str) -> Callable[[int, str, dict[str, Any]], web.HTTPException]:
    """A portal page's refusals as pages: 401 → sign in (back here after), otherwise the
    status itself (403 another role, 404 no such order — also another unit's, 422 a bad
    filter) with its reason, escaped."""
    def refuse(status: int, reason: str, _extra: dict[str, Any]) -> web.HTTPException:
        if status == 401:
            return web.HTTPFound(f"/signin?next={quote(path)}")
        html = _error_html(status, reason)
        cls = _ERRORS.get(status, web.HTTPBadRequest)
        return cls(text=html, content_type="text/html")
    return refuse


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
    409: web.HTTPConflict, 422: web.HTTPUnprocessableEntity,
    503: web.HTTPServiceUnavailable}
# Rendered where the gate refuses, without a request at hand: escaping on, as the layout's.
_ERROR_ENV = jinja2.Environment(loader=LOADER, autoescape=True)
_TITLES = {403: "无权访问", 404: "未找到", 422: "请求有误"}


def _error_html(status: int, reason: str) -> str:
    return _ERROR_ENV.get_template("unit/unit_error.html").render(
        status=status, title=_TITLES.get(status, "请求有误"), reason=reason)


def _services(request: web.Request) -> WorkOrderServices:
    return need(request, WORKORDERS, DESK_MISSING)


def _row_view(row: UnitRow, svc: WorkOrderServices, view: dict[str, Any]) -> dict[str, Any]:
    evaluation = row.order.evaluation
    return {**view, "role": row.role, "active": row.active, "unsatisfied": row.unsatisfied,
            "redo": row.redo,
            "evaluation_label": (EVALUATION_LABELS[SatisfactionLevel(evaluation)]
                                 if evaluation else "")}


@routes.get("/unit", response=HtmlPage, media_type="text/html", query=UnitListQuery,
            access=roles(*UNIT_ROLES), error_shape=unit_refusal("/unit"))
async def unit_page(request: web.Request) -> web.Response:
    """The unit portal (承办单位工作台): the unit's orders and liaisons."""
    person = person_for(request, UNIT_ROLES)
    who = person.principal
    svc = _services(request)
    q = read_query(request, UnitListQuery)
    now = svc.desk.now()
    filt = UnitFilter(status=q.status, light=q.light, grade=q.grade)
    cursor = _cursor(q)

    def work(session: Session) -> dict[str, Any]:
        page = unit_orders(session, who, svc.desk.preset, now, filt, PAGE_SIZE, cursor)
        unit_name, contacts = contacts_of(session, who, who.unit or "")
        rows = [_row_view(r, svc, order_view(r.order, who, svc.access, svc.desk.preset, now,
                                             listing=True, zone=svc.desk.zone))
                for r in page.rows]
        return {"rows": rows, "total": page.total, "unit_name": unit_name,
                "contacts": {c.role: c for c in contacts}, "older": page.older,
                "newer": page.newer}

    data = await reading(request, work)
    return render_page(request, "unit/unit.html", person, {
        "title": "承办单位工作台", "unit": who.unit, **data, "first_page": cursor is None,
        "filters": {"status": q.status.value if q.status else "",
                    "light": q.light.value if q.light else "", "grade": q.grade or ""},
        "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        "category_labels": {c.value: label for c, label in CATEGORY_LABELS.items()},
        "light_labels": {li.value: label for li, label in LIGHT_LABELS.items()},
        "grades": GRADES})


def _cursor(q: UnitListQuery) -> Cursor | None:
    """The page's cursor; a malformed one (or both directions at once) is a 400 page
    naming the parameter."""
    refuse = unit_refusal("/unit")
    if q.after is not None and q.before is not None:
        raise refuse(400, "after, before: give one page cursor, not both", {})
    try:
        if q.after is not None:
            return Cursor(parse_cursor(q.after, "after"))
        if q.before is not None:
            return Cursor(parse_cursor(q.before, "before"), before=True)
    except Invalid as exc:
        raise refuse(400, exc.reason, {}) from exc
    return None


def _actions(status: str, role: str, active: bool, signed: bool,
             extension_pending: bool) -> dict[str, bool]:
    """Which actions the order's status allows this unit (the API decides in the end)."""
    working = status in (Status.DISPATCHED.value, Status.HANDLING.value)
    lead = active and role == "lead"
    return {
        "sign_off": active and working and not signed,
        "return": active and working,
        "extension": lead and status in (Status.HANDLING.value, Status.REDO.value)
        and not extension_pending,
        "reply": lead and status in (Status.HANDLING.value, Status.REDO.value),
        "review_form": lead and status == Status.REVIEW_FORM.value,
    }


def _last(kinds: list[str], kind: str) -> int:
    """Index of the last ``kind`` in ``kinds`` (0 when there is none)."""
    return max((i for i, k in enumerate(kinds) if k == kind), default=0)


@routes.get("/unit/orders/{order_id}", response=HtmlPage, media_type="text/html",
            access=roles(*UNIT_ROLES), error_shape=unit_refusal("/unit"))
async def unit_order_page(request: web.Request) -> web.Response:
    """One of the unit's orders (工单详情) with its events and actions."""
    person = person_for(request, UNIT_ROLES)
    who = person.principal
    svc = _services(request)
    raw = request.match_info["order_id"]
    oid = ascii_id(raw)
    if oid is None:
        raise unit_refusal("/unit")(404, f"work order {raw[:40]!r} does not exist", {})
    now = svc.desk.now()
    preset = svc.desk.preset

    def work(session: Session) -> dict[str, Any]:
        order = unit_order(session, who, oid)
        state = state_of(session, order)
        view = order_view(order, who, svc.access, preset, now, listing=False,
                          zone=svc.desk.zone)
        mine = [a for a in order.assignments if a.unit_code == who.unit]
        active = any(a.active for a in mine)
        role = next((a.role for a in mine if a.active), mine[0].role if mine else "")
        events = [event_view(e, svc.desk.zone) for e in events_of(session, oid)]
        actions = _actions(order.status, role, active, who.unit in state.signed_units,
                           state.extension_pending)
        # The form is filed once per unsatisfied round; then the platform concludes.
        kinds = [e["kind"] for e in events]
        if "review_form_filed" in kinds[_last(kinds, "evaluated"):]:
            actions["review_form"] = False
        return {"order": view, "events": events, "role": role, "active": active,
                "actions": actions}

    data = await reading(request, work)
    rule = preset.reply
    # In the order a reply reads (the enum's), required first.
    reply_parts = [(p.value, PART_LABELS[p], True) for p in ReplyPart
                   if p in rule.required_parts]
    reply_parts += [(p.value, PART_LABELS[p], False) for p in ReplyPart
                    if p in rule.parts_if_unresolved - rule.required_parts]
    return render_page(request, "unit/order.html", person, {
        "title": f"工单 {oid}", "unit": who.unit, **data,
        "status_label": STATUS_LABELS.get(Status(data["order"]["status"]), ""),
        "light_labels": {li.value: label for li, label in LIGHT_LABELS.items()},
        "event_labels": EVENT_LABELS,
        "category_labels": {c.value: label for c, label in CATEGORY_LABELS.items()},
        "reply_parts": reply_parts,
        "citizen_before_platform": rule.citizen_before_platform,
        "return_reason_required": preset.return_reason_required,
        "return_unit_required": preset.return_suggested_unit_required,
        "extension_signed": preset.extension.written_signed,
        "extension_reason": preset.extension.reason_required})


def register(app: web.Application) -> None:
    install_templates(app)
    routes.register(app)
