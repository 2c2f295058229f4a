"""What the call-record routes need, under :data:`CALLS`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy
from hotline_core.call_records import CallLog


@dataclasses.dataclass(frozen=True)
class CallServices:
    log: CallLog
    access: AccessPolicy
    recordings_root: Path   # host path that recording names are relative to
    sessions: sessionmaker[Session] | None = None   # for transcripts


CALLS = web.AppKey("calls", CallServices)
