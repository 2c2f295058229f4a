"""``GET /reports`` (units' rates and score for a week or month, deductions, hot topics and
rising issues) and ``GET /reports/calls`` (the call-centre history): supervisors' pages.
Their data come from ``/api/metrics/*`` and ``/api/call-figures/*``; deductions are entered
and withdrawn through ``/api/metrics/deductions`` with the session's CSRF token. These
routes render only the pages."""

from __future__ import annotations

from aiohttp import web

from hotline_core.access import Role
from hotline_core.workorders.deductions import MANUAL_KINDS
from web.access import roles
from web.api import Routes
from web.pages.layout import HtmlPage, install_templates, page_refusal, person_for, render_page

REPORT_ROLES = frozenset({Role.SUPERVISOR})
KIND_LABELS = {"shirking": "推诿不办", "first_responsibility_breach": "不遵守首接负责制",
               "double_feedback_missing": "不落实双反馈制"}
routes = Routes(tag="pages")


@routes.get("/reports", response=HtmlPage, media_type="text/html",
            access=roles(*REPORT_ROLES), error_shape=page_refusal("/reports"))
async def reports_page(request: web.Request) -> web.Response:
    """Units' rates and score, deductions, hot topics and rising issues (考核报表)."""
    person = person_for(request, REPORT_ROLES)
    kinds = [(k.value, KIND_LABELS.get(k.value, k.value)) for k in MANUAL_KINDS]
    return render_page(request, "reports/reports.html", person, {
        "title": "考核报表", "kinds": kinds})


@routes.get("/reports/calls", response=HtmlPage, media_type="text/html",
            access=roles(*REPORT_ROLES), error_shape=page_refusal("/reports/calls"))
async def calls_page(request: web.Request) -> web.Response:
    """The call-centre history (话务报表): days, half hours, service level, rates."""
    person = person_for(request, REPORT_ROLES)
    return render_page(request, "reports/calls.html", person, {"title": "话务报表"})


def register(app: web.Application) -> None:
    install_templates(app)
    routes.register(app)
