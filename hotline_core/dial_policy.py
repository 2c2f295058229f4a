"""The outbound number policy (外呼号码策略): the one gate every number the platform dials
passes, so no flow can be turned into a toll-fraud relay.

Every dial names why it is made (:class:`DialPurpose`), and the number must belong to it:

* ``emergency`` (transfers to the centres): one of ``dialing.emergency_numbers`` (110, 119,
  120, 122 by default), exactly; never rate-capped;
* ``called_in`` (callbacks, virtual hold, missed calls): the number called the hotline within
  ``dialing.called_in_days`` (a call record with that caller), or is the citizen's number
  on a work order (satisfaction callbacks of orders made on the web);
* ``liaison`` (reminder calls): a lead or A/B liaison phone of the unit directory;
* ``configured``: one of ``dialing.destinations``.

The look-ups run against the database (:class:`DatabaseDirectory`, in a worker thread with a
timeout); when they cannot be made the number is refused. Besides, every non-emergency
number must be

* a mainland number (country code 86) that libphonenumber (``phonenumbers``) calls valid,
* of an allowed type (``dialing.allow_types``: mobile and fixed lines by default, so
  premium-rate, shared-cost (400), toll-free (800), VoIP and service numbers are refused), or
  starts, in national form, with one of ``dialing.allow_prefixes``,
* under both rate caps: ``dialing.per_number_per_hour`` calls to the same number in any
  3 600 s and ``dialing.overall_per_minute`` calls in all in any 60 s (sliding windows kept
  in Redis, so several core processes share them; fixed clock-hour windows let a number be
  called twice the cap within a minute across an hour's turn).

What reaches Asterisk is the national form, digits only: nothing a caller put into the
From header (``&``, ``,``, ``/``, a second channel) can reach an AMI variable or ``Dial()``.
Every refusal is logged with its reason and the number masked.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import phonenumbers
import redis.asyncio as aioredis
from phonenumbers import PhoneNumberType
from pydantic import AfterValidator, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_records import CallRecord
from hotline_core.config_schema import ConfigModel, validate_data
from hotline_core.masking import mask_phone
from hotline_core.phone_numbers import MAINLAND_CODE, canonical_number, national_digits, parse
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys
from hotline_core.timeouts import within
from hotline_core.workorders.model import UnitContact, WorkOrder

log = logging.getLogger(__name__)
T = TypeVar("T")

# The names operators write in [dialing] allow_types, in libphonenumber's own terms.
NUMBER_TYPES: dict[str, int] = {
    "mobile": PhoneNumberType.MOBILE,
    "fixed_line": PhoneNumberType.FIXED_LINE,
    "fixed_line_or_mobile": PhoneNumberType.FIXED_LINE_OR_MOBILE,
    "toll_free": PhoneNumberType.TOLL_FREE,
    "premium_rate": PhoneNumberType.PREMIUM_RATE,
    "shared_cost": PhoneNumberType.SHARED_COST,
    "voip": PhoneNumberType.VOIP,
    "personal_number": PhoneNumberType.PERSONAL_NUMBER,
    "pager": PhoneNumberType.PAGER,
    "uan": PhoneNumberType.UAN,
    "voicemail": PhoneNumberType.VOICEMAIL,
}
_TYPE_NAMES = {v: k for k, v in NUMBER_TYPES.items()}


def _number_type(value: str) -> str:
    if value not in NUMBER_TYPES:
        raise ValueError(f"{value!r} is not one of {', '.join(NUMBER_TYPES)}")
    return value


Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]{3,20}$")]
PositiveInt = Annotated[int, Field(gt=0)]


class DialingTable(ConfigModel):
    """``[dialing]``: the outbound number policy (外呼号码策略)."""

    allow_types: list[Annotated[str, AfterValidator(_number_type)]] = [
        "mobile", "fixed_line", "fixed_line_or_mobile"]
    allow_prefixes: list[Annotated[str, StringConstraints(pattern=r"^[0-9]+$")]] = []
    per_number_per_hour: PositiveInt = 3
    overall_per_minute: PositiveInt = 60
    emergency_numbers: list[Digits] = ["110", "119", "120", "122"]
    destinations: list[Digits] = []
    called_in_days: PositiveInt = 30


class _DialingSection(ConfigModel):
    """``[dialing]`` under its own name, so errors say ``dialing.<key>``."""

    dialing: DialingTable


DIRECTORY_TIMEOUT = 5.0


class DialPurpose(StrEnum):
    """Why the platform dials a number; the number must belong to that purpose."""

    EMERGENCY = "emergency"      # a transfer to 110/119/120/122
    CALLED_IN = "called_in"      # a callback to a number that called the hotline
    LIAISON = "liaison"          # a reminder to a unit's lead or A/B liaison
    CONFIGURED = "configured"    # a destination the operator configured


class DialDirectory(Protocol):
    """Who may be dialled for a purpose (blocking calls; the policy runs them in a thread)."""

    def called_in(self, digits: str, since: datetime) -> bool: ...

    def is_liaison(self, digits: str) -> bool: ...


class DialRefused(Exception):
    """The policy refuses to dial a number; ``reason`` says why (for logs and records)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DialPolicySettings:
    allow_types: frozenset[int] = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE,
                                             PhoneNumberType.FIXED_LINE_OR_MOBILE})
    allow_prefixes: tuple[str, ...] = ()
    per_number_per_hour: int = 3
    overall_per_minute: int = 60
    emergency_numbers: tuple[str, ...] = ("110", "119", "120", "122")
    destinations: tuple[str, ...] = ()
    called_in_days: int = 30

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | Path) -> DialPolicySettings:
        """Read the ``[dialing]`` table (validated as :class:`DialingTable`); every problem
        is a :class:`ConfigError` naming ``dialing.<key>``."""
        t = validate_data(source, "", {"dialing": dict(table)}, _DialingSection).dialing
        return cls(allow_types=frozenset(NUMBER_TYPES[name] for name in t.allow_types),
                   allow_prefixes=tuple(t.allow_prefixes),
                   per_number_per_hour=t.per_number_per_hour,
                   overall_per_minute=t.overall_per_minute,
                   emergency_numbers=tuple(t.emergency_numbers),
                   destinations=tuple(t.destinations),
                   called_in_days=t.called_in_days)


class DialPolicy:
    """Decides whether a number may be dialled, and counts the calls against the caps."""

    def __init__(self, settings: DialPolicySettings, redis: aioredis.Redis,
                 namespace: str = DEFAULT_NAMESPACE,
                 clock: Callable[[], float] = time.time,
                 directory: DialDirectory | None = None) -> None:
        """``directory`` None: no membership look-ups (tests of the number rules only); the
        core always gives the database's."""
        self.settings = settings
        self._redis = redis
        self._keys = RedisKeys(namespace).dialing
        self._clock = clock
        self._directory = directory
        self._cap = redis.register_script(_CAP)

    def dialable(self, raw: str, why: DialPurpose = DialPurpose.CALLED_IN) -> str:
        """The digits to dial for ``raw``, or :class:`DialRefused`. Counts nothing, looks
        nothing up (the shape of the number only)."""
        if why is DialPurpose.EMERGENCY:
            digits = raw.strip()
            if digits not in self.settings.emergency_numbers:
                raise DialRefused("not an emergency centre's number (dialing.emergency_numbers)")
            return digits
        if why is DialPurpose.CONFIGURED:
            digits = _plain(raw)
            if digits not in self.settings.destinations:
                raise DialRefused("not a configured destination (dialing.destinations)")
            return digits
        number = parse(raw)
        if number is None:
            raise DialRefused("not a phone number")
        if number.country_code != MAINLAND_CODE:
            raise DialRefused(f"not a mainland number (country code +{number.country_code})")
        digits = national_digits(number)
        if any(digits.startswith(p) for p in self.settings.allow_prefixes):
            return digits
        if not phonenumbers.is_valid_number(number):
            raise DialRefused("not a valid mainland number")
        kind = phonenumbers.number_type(number)
        if kind not in self.settings.allow_types:
            name = _TYPE_NAMES.get(kind, "unknown")
            raise DialRefused(f"number type {name} is not allowed (dialing.allow_types)")
        return digits

    async def authorize(self, raw: str, purpose: str,
                        why: DialPurpose = DialPurpose.CALLED_IN) -> str:
        """The digits to dial for ``why``, counted against the caps (emergency numbers are
        never capped); refusals are logged (number masked) and raised."""
        try:
            digits = self.dialable(raw, why)
            await self._belongs(digits, why)
            if why is not DialPurpose.EMERGENCY:
                await self._count(digits)
        except DialRefused as exc:
            log.warning("%s to %s refused (%s): %s", purpose, mask_phone(raw[:32]), why.value,
                        exc.reason)
            raise
        return digits

    async def _belongs(self, digits: str, why: DialPurpose) -> None:
        directory = self._directory
        if directory is None or why in (DialPurpose.EMERGENCY, DialPurpose.CONFIGURED):
            return
        try:
            if why is DialPurpose.CALLED_IN:
                since = datetime.fromtimestamp(self._clock(), UTC) - timedelta(
                    days=self.settings.called_in_days)
                ok = await within(
                    asyncio.to_thread(directory.called_in, digits, since), DIRECTORY_TIMEOUT)
                problem = (f"this number has not called the hotline in the last "
                           f"{self.settings.called_in_days} days (dialing.called_in_days)")
            else:
                ok = await within(asyncio.to_thread(directory.is_liaison, digits),
                                  DIRECTORY_TIMEOUT)
                problem = "not a liaison phone of the unit directory"
        except (TimeoutError, SQLAlchemyError, OSError) as exc:
            raise DialRefused(f"the directory could not be read ({exc.__class__.__name__})"
                              ) from exc
        if not ok:
            raise DialRefused(problem)

    async def _count(self, digits: str) -> None:
        """Count the call against both caps, atomically across core processes; a refused
        call counts against neither."""
        s = self.settings
        over = int(await _timed(self._cap(
            keys=[self._keys.per_number(digits), self._keys.overall()],
            args=[repr(self._clock()), s.per_number_per_hour, s.overall_per_minute,
                  uuid.uuid4().hex])))
        if over == 1:
            raise DialRefused(f"rate cap: {s.per_number_per_hour} calls to this number "
                              "per hour (dialing.per_number_per_hour)")
        if over == 2:
            raise DialRefused(f"rate cap: {s.overall_per_minute} calls per minute in all "
                              "(dialing.overall_per_minute)")


# KEYS: the number's calls of the last hour, all calls of the last minute (sorted sets, score
# = when). ARGV: now, per-number cap, overall cap, a unique member. Returns 0 (counted),
# 1 (the number's cap reached) or 2 (the overall cap reached); a refusal adds nothing.
_CAP = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('EXPIRE', KEYS[2], 60)
return 0
"""


async def _timed(awaitable: Awaitable[T]) -> T:
    return await within(awaitable, 5)


def _plain(raw: str) -> str:
    """Digits only, or nothing when ``raw`` holds anything else but separators."""
    text = re.sub(r"[\s\-()]", "", raw)
    return text if text.isascii() and text.isdigit() else ""


class DatabaseDirectory:
    """:class:`DialDirectory` read from the call records and the unit directory."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def called_in(self, digits: str, since: datetime) -> bool:
        """A call from the number since ``since``, or a work order of that citizen still
        on the books (an order made on the web is called back on the number it gave)."""
        number = canonical_number(digits)
        with self._sessions() as s:
            found = s.execute(select(CallRecord.id).where(
                CallRecord.caller == number, CallRecord.offered_at >= since).limit(1)).first()
            if found is not None:
                return True
            # Orders keep the number as typed at intake: compare the canonical forms.
            typed = s.scalars(select(WorkOrder.caller_number).where(
                WorkOrder.caller_number.endswith(number[-4:])).limit(200)).all()
        return any(canonical_number(t) == number for t in typed)

    def is_liaison(self, digits: str) -> bool:
        with self._sessions() as s:
            phones = s.scalars(select(UnitContact.phone)).all()
        return any(canonical_number(p) == digits for p in phones)

