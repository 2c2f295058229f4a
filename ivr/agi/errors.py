"""Exceptions raised by the FastAGI server and its sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.agi.protocol import AgiResponse


class AgiError(Exception):
    """Base class of every AGI failure."""


class AgiHangup(AgiError):
    """The channel hung up.

    Raised when Asterisk sent its ``HANGUP`` notification line, answered ``511`` (command not
    permitted on a dead channel), answered ``200 result=-1`` to a command that plays or waits
    on the channel, or when the connection closed.
    """


class AgiTimeout(AgiError):
    """A command got no reply within its timeout.

    The session cannot be trusted afterwards (a late reply, or none, may follow: Asterisk
    silently drops the reply of a STREAM FILE that a later command interrupted), so every later
    command on it raises :class:`AgiTimeout` again without being sent.
    """


class AgiProtocolError(AgiError):
    """The peer sent something that is not FastAGI; the message names what was wrong."""


class AgiCommandError(AgiError):
    """Asterisk refused a command with a 5xx code (510 unknown command, 520 usage, ...).

    ``response`` is the parsed reply; for ``520`` its ``data`` holds the usage text.
    """

    def __init__(self, message: str, response: AgiResponse) -> None:
        super().__init__(message)
        self.response = response

    @property
    def code(self) -> int:
        return self.response.code
