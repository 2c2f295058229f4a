"""What the campaign routes need, under :data:`CAMPAIGNS`."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy


@dataclasses.dataclass(frozen=True)
class CampaignServices:
    sessions: sessionmaker[Session]
    access: AccessPolicy


CAMPAIGNS = web.AppKey("campaigns", CampaignServices)
