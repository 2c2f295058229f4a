"""Asyncio FastAGI server: Asterisk's ``AGI(agi://host:port/<script>?k=v,arg1,...)`` calls.

Usage::

    async def inbound(session: AgiSession) -> None:
        await session.answer()
        digit = await session.stream_file("welcome", "12")

    server = AgiServer({"inbound": inbound}, port=4573)
    await server.start()
"""

from ivr.agi.errors import (
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiTimeout,
)
from ivr.agi.protocol import AgiRequest, AgiResponse, parse_reply, quote, quote_if_needed
from ivr.agi.server import ERROR_VARIABLE, AgiServer, FlowHandler
from ivr.agi.session import AgiSession

__all__ = [
    "ERROR_VARIABLE",
    "AgiCommandError",
    "AgiError",
    "AgiHangup",
    "AgiProtocolError",
    "AgiRequest",
    "AgiResponse",
    "AgiServer",
    "AgiSession",
    "AgiTimeout",
    "FlowHandler",
    "parse_reply",
    "quote",
    "quote_if_needed",
]
