"""Who may call each route (访问规则), declared in one table and checked on the server
before any handler runs.

Every route the application serves declares its rule with the route
(``routes.get(path, ..., access=roles(Role.SUPERVISOR))``, :mod:`web.access`) or has an
entry in :data:`ACCESS`, keyed by method and path as registered: :data:`PUBLIC` (anonymous
allowed: health, the wallboard page, the public Open311 reads, the knowledge-base search,
sign-in), or the roles that may call it.
``tests/web/session/test_access_rules.py`` walks the application's route table and fails
for a route without an entry, so a new route cannot be served without a rule.

The gate (:func:`gate`) refuses anonymous requests (401) and requests of another role
(403). The handlers keep their finer checks (an agent changes only its own state, a unit
reads only its own orders): the table is the outer bound, never the only check.
"""

from __future__ import annotations

from aiohttp import web

from hotline_core.access import Principal, Role
from web import keys
from web.access import PUBLIC, Access, roles
from web.api import operation_of
from web.errors import Handler, json_error
from web.requests import PERSON

# Short names keep the table one rule a line.
OP, DI, UN, SU, CB = Role.OPERATOR, Role.DISPATCHER, Role.UNIT, Role.SUPERVISOR, Role.CALLBACK
# Everyone who works on calls or orders; the work-order desk decides each action by role.
WORK = (OP, DI, UN, SU, CB)
CALL_READERS = (OP, DI, SU, CB)

ACCESS: dict[tuple[str, str], Access] = {
    # always served (web/health)
    ("GET", "/"): PUBLIC,                       # the wallboard page: data only via /api/live
    ("GET", "/api/health"): PUBLIC,             # components only for supervisors
    ("GET", "/api/openapi.json"): PUBLIC,       # the interface description, no data
    # call records
    ("GET", "/api/calls"): roles(*CALL_READERS, Role.QUALITY),
    ("GET", "/api/calls/{call_id}"): roles(*CALL_READERS, Role.QUALITY),
    ("GET", "/api/calls/{call_id}/recording"): roles(*CALL_READERS, Role.QUALITY),
    # agents and live figures
    ("GET", "/api/agents"): roles(*WORK),
    ("POST", "/api/agents/{agent_id}/login"): roles(OP, SU),
    ("POST", "/api/agents/{agent_id}/logout"): roles(OP, SU),
    ("POST", "/api/agents/{agent_id}/ready"): roles(OP, SU),
    ("POST", "/api/agents/{agent_id}/pause"): roles(OP, SU),
    ("GET", "/api/queues"): roles(*WORK),
    ("GET", "/api/live"): roles(*WORK, query_token=True),
    # restriction list and callers' flags
    ("POST", "/api/restrictions"): roles(SU),
    ("POST", "/api/restrictions/{number}/lift"): roles(SU),
    ("GET", "/api/restrictions/audit"): roles(SU),
    ("PUT", "/api/callers/{number}/needs-help"): roles(OP, SU),
    ("DELETE", "/api/callers/{number}/needs-help"): roles(OP, SU),
    # work orders: the desk checks each action's role and a unit's own orders
    ("POST", "/api/workorders"): roles(OP, DI),
    ("GET", "/api/workorders"): roles(*WORK),
    ("GET", "/api/workorders/{order_id}"): roles(*WORK),
    ("GET", "/api/workorders/{order_id}/events"): roles(*WORK),
    **{("POST", f"/api/workorders/{{order_id}}/{action}"): roles(*WORK) for action in (
        "dispatch", "approval-request", "approval", "sign-off", "return", "extension",
        "extension/decision", "citizen-notice", "ledger", "grade", "evaluation", "review",
        "review-form", "review-conclusion", "reply")},
    ("POST", "/api/supervision/run"): roles(SU, DI),
    ("GET", "/api/supervision/lights"): roles(*WORK),
    ("POST", "/api/dispatch/units"): roles(DI, SU),
    ("POST", "/api/dispatch/responsibility-list"): roles(DI, SU),
    ("POST", "/api/dispatch/gazetteer"): roles(DI, SU),
    ("GET", "/api/dispatch/route"): roles(*WORK),
    # knowledge base: anyone searches (less without a role); units propose, staff edit
    ("GET", "/api/kb/search"): PUBLIC,
    ("POST", "/api/kb/entries"): roles(UN, DI, SU),
    ("PUT", "/api/kb/entries/{entry_id}"): roles(UN, DI, SU),
    ("POST", "/api/kb/entries/{entry_id}/review"): roles(SU),
    ("POST", "/api/kb/import"): roles(DI, SU),
    ("POST", "/api/kb/synonyms"): roles(DI, SU),
    # unit metrics and call-centre figures
    ("GET", "/api/metrics/units"): roles(*WORK),
    ("GET", "/api/metrics/units.csv"): roles(*WORK),
    ("GET", "/api/metrics/units.png"): roles(*WORK),
    ("GET", "/api/metrics/hot-topics"): roles(*WORK),
    ("GET", "/api/call-figures/day"): roles(SU),
    ("GET", "/api/call-figures/month"): roles(SU),
    ("GET", "/api/call-figures/intervals"): roles(SU),
    # Open311: public reads (published orders only without a role); creating is call-takers'
    ("GET", "/open311/v2/services.json"): PUBLIC,
    ("GET", "/open311/v2/requests.json"): PUBLIC,
    ("GET", "/open311/v2/requests/{request_id}.json"): PUBLIC,
    # GeoReport sends its key as the form field api_key, which the handler reads and
    # checks (operators and dispatchers only; 403 without): the gate cannot see it.
    ("POST", "/open311/v2/requests.json"): PUBLIC,
    # transfers to the emergency centres
    ("POST", "/api/calls/{call_id}/transfer"): roles(OP, SU),
    ("POST", "/api/transfers/{transfer_id}/complete"): roles(OP, SU),
    ("POST", "/api/transfers/{transfer_id}/cancel"): roles(OP, SU),
    ("GET", "/api/calls/{call_id}/transfers"): roles(*CALL_READERS),
    ("GET", "/api/transfer-list"): roles(*CALL_READERS),
    # outbound campaigns
    ("GET", "/api/campaigns"): roles(SU),
    ("GET", "/api/campaigns/{campaign_id}/attempts"): roles(SU),
    ("GET", "/api/campaigns/{campaign_id}/targets"): roles(SU),
    ("GET", "/api/campaigns/worklist"): roles(SU, CB),
    # the agent desktop: the handlers bind every action to the signed-in agent's own calls
    ("GET", "/api/calls/{call_id}/pop"): roles(OP, SU),
    ("GET", "/api/desk"): roles(OP),
    ("POST", "/api/desk/ready"): roles(OP),
    ("POST", "/api/desk/pause"): roles(OP),
    ("POST", "/api/desk/logout"): roles(OP),
    ("POST", "/api/desk/calls/{call_id}/order"): roles(OP),
    ("GET", "/api/desk/matters"): roles(OP),
    ("GET", "/api/desk/kb"): roles(OP),
    # the voice-message inbox: the handlers narrow it to the lines the agent serves
    ("GET", "/api/desk/voice-messages"): roles(OP),
    ("GET", "/api/desk/voice-messages/{call_id}/recording"): roles(OP),
    ("POST", "/api/desk/voice-messages/{call_id}/order"): roles(OP),
}


def rule_of(request: web.Request) -> Access | None:
    """The rule of the route this request matched: declared with the route, else in
    :data:`ACCESS` (HEAD shares its GET's); None: none."""
    op = operation_of(request)
    if op is not None and op.access is not None:
        return op.access
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return ACCESS.get((method, resource.canonical))


def _refuse(request: web.Request, status: int, reason: str) -> web.HTTPException:
    op = operation_of(request)
    if op is not None and op.error_shape is not None:
        return op.error_shape(status, reason, {})
    return json_error(status, reason)


def _caller(request: web.Request, rule: Access) -> Principal | None:
    """Who calls, as far as the gate can tell: the signed-in person, or the token's
    principal when the app holds the access policy; None: the handler decides."""
    if PERSON in request and "Authorization" not in request.headers:
        return request[PERSON]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not token.strip() and rule.query_token:
        token, scheme = request.query.get("token", ""), "bearer"
    if scheme.lower() != "bearer" or not token.strip():
        raise _refuse(request, 401, "missing bearer token: send 'Authorization: Bearer "
                                    "<token>' (people sign in: POST /api/session)")
    policy = request.app.get(keys.HEALTH_ACCESS)
    if policy is None:
        return None
    who = policy.principal_for(token.strip())
    if who is None:
        raise _refuse(request, 401, "unknown bearer token")
    return who


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses a request its route's rule does not allow; a route without a rule is
    refused too (403), so a forgotten entry fails closed."""
    if request.match_info.http_exception is not None:   # 404/405: nothing to guard
        return await handler(request)
    rule = rule_of(request)
    if rule is None:
        raise _refuse(request, 403, "this route has no access rule (web/access_rules.py)")
    if rule.roles is not None:
        who = _caller(request, rule)
        if who is not None and who.role not in rule.roles:
            raise _refuse(request, 403, f"role {who.role.value} may not "
                                        f"{request.method} {request.path}")
    return await handler(request)
