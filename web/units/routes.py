"""``GET /api/units/{unit}/contacts`` and ``PUT`` of the same: a unit's lead and A/B
liaisons (AB角联络员). A unit reads and replaces only its own (another unit's answers 404,
as if it did not exist); a supervisor or dispatcher reads any, a supervisor also keeps
them. The reminder calls (:mod:`hotline_core.workorders.reminders`) dial these people."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.orm import Session

from hotline_core.access import Role
from hotline_core.workorders.portal import Contact, contacts_of, replace_contacts
from web.access import roles
from web.api import Routes, read_body, reply
from web.db import in_transaction, reading
from web.keys import DESK_MISSING, WORKORDERS, need
from web.requests import principal
from web.units.schemas import ContactOut, ContactsBody, ContactsOut

routes = Routes(tag="units")
CONTACTS = "/api/units/{unit}/contacts"


def _out(unit: str, name: str, contacts: list[Contact]) -> ContactsOut:
    return ContactsOut(unit=unit, unit_name=name, contacts=[
        ContactOut(role=c.role, name=c.name, phone=c.phone) for c in contacts])


@routes.get(CONTACTS, response=ContactsOut,
            access=roles(Role.UNIT, Role.DISPATCHER, Role.SUPERVISOR))
async def get_contacts(request: web.Request) -> web.Response:
    """The unit's lead and A/B liaisons (单位联络人)."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    unit = request.match_info["unit"]

    def work(session: Session) -> ContactsOut:
        name, contacts = contacts_of(session, who, unit)
        return _out(unit, name, contacts)

    return reply(await reading(request, work))


@routes.put(CONTACTS, body=ContactsBody, response=ContactsOut,
            access=roles(Role.UNIT, Role.SUPERVISOR))
async def put_contacts(request: web.Request) -> web.Response:
    """Replace the unit's lead and A/B liaisons (all three, checked before writing)."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    unit = request.match_info["unit"]
    body = await read_body(request, ContactsBody)
    given = {"lead": body.lead, "A": body.A, "B": body.B}

    def work(session: Session) -> ContactsOut:
        contacts = replace_contacts(session, who, unit,
                                    {r: (c.name, c.phone) for r, c in given.items()})
        name, _ = contacts_of(session, who, unit)
        return _out(unit, name, contacts)

    return reply(await in_transaction(request, work))


register = routes.register
