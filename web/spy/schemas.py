"""Requests and answers of the spy routes."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from web.api import Model, Out


class SpyBody(Model):
    """How to join the call. Nothing else is accepted: the phone that rings is the signed-in
    supervisor's own, so a ``phone`` (or any other key) in the body is refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    mode: Literal["listen", "whisper", "barge"]


class SpyOut(Out):
    call_id: str
    agent_id: str      # the agent whose leg is spied on
    phone: str         # the supervisor's phone that rings
    mode: str
    leg: str           # the spy leg's channel id (spy-<hex>)


class SpyStoppedOut(Out):
    stopped: int       # spy legs of the supervisor's phone hung up
