"""Phone numbers in one form (号码规范化): what the carrier sends becomes one canonical string.

A citizen's number arrives as ``13800138000``, ``+8613800138000``, ``008613800138000`` or
``013800138000`` depending on the carrier and the route. Restrictions, priorities, caller
history and callbacks all look numbers up by string, so every intake point normalises once
with :func:`canonical_number` and everything downstream compares canonical strings: a
restricted caller cannot slip past the list by dialling in as ``+86…``.

Canonical form, decided with Google's libphonenumber metadata (the ``phonenumbers`` package):

* a mainland number: its national dialling form, digits only — ``13800138000`` for a mobile,
  ``01012345678`` for a Beijing fixed line (trunk prefix 0 kept, as it is dialled);
* a number of another country or region: E.164, ``+85291234567``;
* anything else (``anonymous``, a short service code, garbage): at most
  :data:`MAX_NUMBER_CHARS` of its ASCII letters and digits, or ``unknown``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

MAINLAND = "CN"
MAINLAND_CODE = 86
# ITU-T E.164 allows 15 digits; 20 leaves room for an international prefix.
MAX_DIALLED_DIGITS = 20
MAX_NUMBER_CHARS = 32
UNKNOWN = "unknown"

_SEPARATORS = re.compile(r"[\s\-().]")
_DIALLED = re.compile(r"\+?[0-9]{1,20}\Z")
_KEEP = re.compile(r"[^0-9A-Za-z]")


def parse(raw: str) -> phonenumbers.PhoneNumber | None:
    """The number ``raw`` names, read as dialled in mainland China; None if it is none."""
    text = _SEPARATORS.sub("", raw)
    # ASCII digits only: "１３８" or "²" are not numbers a switch can dial.
    if not _DIALLED.match(text) or not text.isascii():
        return None
    try:
        return phonenumbers.parse(text, MAINLAND)
    except phonenumbers.NumberParseException:
        return None


def national_digits(number: phonenumbers.PhoneNumber) -> str:
    """``010 1234 5678`` → ``01012345678``: the mainland dialling form, digits only."""
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return re.sub(r"[^0-9]", "", formatted)


# Memoised: one inbound call asks for the same caller's form about six times (restriction,
# priority, overdue orders, history ...), and libphonenumber's parse and format cost ~0.1 ms
# each (issue 14 item 3, profiled at 50 calls/s). The function is pure; 4096 recent numbers.
@lru_cache(maxsize=4096)
def canonical_number(raw: str) -> str:
    """The one form every lookup uses (see the module docstring)."""
    number = parse(raw.strip())
    if number is not None:
        if number.country_code != MAINLAND_CODE:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_possible_number(number):
            return national_digits(number)
        return str(number.national_number)
    kept = _KEEP.sub("", raw)[:MAX_NUMBER_CHARS]
    return kept or UNKNOWN
