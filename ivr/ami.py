"""AMI client (Asterisk Manager Interface) on top of panoramisk, made safe for a service.

panoramisk 1.4 reconnects at a fixed interval, keeps reconnecting after close(), runs
async event callbacks as unordered tasks and lets actions wait forever. This wrapper adds
exponential backoff, a clean stop, one ordered event queue, a timeout on every action and
an ``on_login`` hook that runs after every (re)connection so the core can resync its state.
An Originate cut off by a lost connection is never sent again by panoramisk after the
reconnect (``forgetable_actions``): the dialer finds out from Asterisk whether it was placed,
so a call is never dialled twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from hotline_core.timeouts import within

log = logging.getLogger(__name__)


class AmiError(Exception):
    """An AMI action failed, timed out, or AMI is not connected."""


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol, safe against a drop before its manager attached it.

    The manager attaches itself (``factory``) in the connection task's done callback. A
    peer that drops the connection at once (a link that is down, Asterisk restarting) can
    reach ``connection_lost`` first — on uvloop it does — where panoramisk calls
    ``self.factory.connection_lost`` on ``None``: the loss was never reported, so the client
    never reconnected. Here the protocol only notes it is closed; :class:`_Manager` sees
    that and reconnects."""

    def connection_lost(self, exc: BaseException | None) -> None:
        if getattr(self, "factory", None) is None:
            self.closed = True
            self.transport.close()
            return
        super().connection_lost(exc)


class _Manager(Manager):  # type: ignore[misc]
    pinger: asyncio.TimerHandle | None  # set by panoramisk's Manager (untyped)

    def __init__(self, owner: AmiClient, **config: Any) -> None:
        super().__init__(protocol_factory=_Protocol, **config)
        self._owner = owner

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        try:
            transport, protocol = f.result()
        except OSError as exc:
            self._owner._schedule_reconnect(f"connect failed: {exc}")
            return
        if self._owner.closing:
            transport.close()
            return
        if getattr(protocol, "closed", False) or transport.is_closing():
            # Dropped before this callback ran: nothing to log in on (panoramisk would send
            # the Login to a closed transport and log the action, secret included).
            transport.close()
            self._owner._lost(ConnectionResetError("dropped by the peer at once"))
            return
        super().connection_made(f)

    def login(self, future: asyncio.Future[Any]) -> bool:
        ok = bool(super().login(future))
        if not ok:
            log.error("AMI login refused for user %s: check the AMI secret",
                      self.config["username"])
        return ok

    def connection_lost(self, exc: BaseException | None) -> None:
        self._connected = False
        self.authenticated = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self._owner._lost(exc)


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        timeout: float = 5.0,
        on_login: Callable[[], Awaitable[None]] | None = None,
        backoff: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        self.timeout = timeout
        self.on_login = on_login
        self.closing = False
        self.events: asyncio.Queue[Message] = asyncio.Queue()
        self.logged_in = asyncio.Event()
        self.reconnects = 0
        self._backoff_min, self._backoff_max = backoff
        self._delay = self._backoff_min
        self._login_tasks: set[asyncio.Task[None]] = set()
        self._manager = _Manager(
            self, host=host, port=port, username=username, secret=secret,
            loop=asyncio.get_running_loop(), ping_delay=10, ping_interval=10,
            reconnect_timeout=1, on_login=self._on_login, on_connect=lambda m: None,
            on_disconnect=lambda m, exc: None, forgetable_actions=("ping", "login", "originate"),
        )
        self._manager.register_event("*", self._on_event)

    # -- connection -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; keeps retrying with backoff until stop()."""
        self._manager.connect()

    async def wait_connected(self, timeout: float) -> None:
        await within(self.logged_in.wait(), timeout)

    async def stop(self) -> None:
        self.closing = True
        self._manager.close()
        for task in list(self._login_tasks):
            task.cancel()

    @property
    def connected(self) -> bool:
        return self.logged_in.is_set()

    @property
    def cut_off(self) -> bool:
        """The connection was up and is lost now (断开), not yet back: the core hears no
        events. False before the first connection (starting up is not an outage)."""
        return self.reconnects > 0 and not self.connected

    def _on_login(self, _manager: Manager) -> None:
        self._delay = self._backoff_min
        self.logged_in.set()
        log.info("AMI logged in")
        if self.on_login is not None:
            task = asyncio.ensure_future(self._run_login_hook())
            self._login_tasks.add(task)
            task.add_done_callback(self._login_tasks.discard)

    async def _run_login_hook(self) -> None:
        assert self.on_login is not None
        try:
            await self.on_login()
        except Exception:  # the hook must not kill the connection; it is retried next login
            log.exception("AMI resync after login failed")

    def _lost(self, exc: BaseException | None) -> None:
        self.logged_in.clear()
        if not self.closing:
            self.reconnects += 1
            self._schedule_reconnect(f"connection lost: {exc}")

    def _schedule_reconnect(self, why: str) -> None:
        if self.closing:
            return
        delay = self._delay
        self._delay = min(self._delay * 2, self._backoff_max)
        # Once per outage (the delay is reset at login); later tries only at debug level.
        log.log(logging.WARNING if delay == self._backoff_min else logging.DEBUG,
                "AMI %s; reconnecting in %.1f s (with backoff until logged in)", why, delay)
        asyncio.get_running_loop().call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if not self.closing:
            self._manager.connect()

    # -- events and actions -----------------------------------------------------------------
    def _on_event(self, _manager: Manager, event: Message) -> None:
        # One queue, consumed in order: a Hangup must never overtake the DialEnd before it.
        self.events.put_nowait(event)

    async def action(self, fields: dict[str, str], timeout: float | None = None,
                     as_list: bool = False) -> Any:
        if not self.connected:
            raise AmiError(f"AMI not connected; cannot send {fields.get('Action')}")
        future = self._manager.send_action(dict(fields), as_list=as_list)
        try:
            result = await within(future, timeout or self.timeout)
        except TimeoutError as exc:
            raise AmiError(f"AMI action {fields.get('Action')} got no answer in "
                           f"{timeout or self.timeout} s") from exc
        if not as_list and not getattr(result, "success", False):
            raise AmiError(f"AMI action {fields.get('Action')} failed: "
                           f"{result.get('Message', result)}")
        return result
