"""Listening in on a live call (监听/密语/强插): the modes a supervisor may join a call in and
the refusals, shared by the web routes (web/spy) and the telephony side (ivr/spy.py).

The supervisor's own phone rings and joins the agent's leg of the call:

- listen (监听): hears caller and agent, says nothing to either;
- whisper (密语): also talks to the agent, the caller does not hear it;
- barge (强插): talks to both.
"""

from __future__ import annotations

from enum import StrEnum


class SpyMode(StrEnum):
    """How the supervisor's phone joins the call."""

    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


class SpyRefused(Exception):
    """The call cannot be listened in on now (its agent leg is not up, the supervisor's
    phone is the agent's own); HTTP 409."""


class SpyUnavailable(Exception):
    """The telephony side cannot be asked now (AMI down or not answering); HTTP 503."""
