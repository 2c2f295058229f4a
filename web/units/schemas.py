"""Requests and answers of the unit directory routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hotline_core.workorders.portal import NAME_MAX
from web.api import Model, NonBlank, Out


class ContactBody(Model):
    """One contact: a name and a phone of 3 to 20 digits."""

    name: Annotated[NonBlank, Field(max_length=NAME_MAX)]
    phone: Annotated[str, Field(pattern=r"^[0-9]{3,20}$")]


class ContactsBody(Model):
    """The unit's lead (单位负责人) and its A and B liaisons (AB角), all three."""

    lead: ContactBody
    A: ContactBody
    B: ContactBody


class ContactOut(Out):
    role: str
    name: str
    phone: str


class ContactsOut(Out):
    unit: str
    unit_name: str
    contacts: list[ContactOut]
