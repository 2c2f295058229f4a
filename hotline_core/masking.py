"""Masking of citizens' phone numbers (脱敏): one rule for every view, export and log.

Call records, work orders, the restriction audit, API answers and INFO logs all show a
citizen's number through :func:`mask_phone`; only roles that must call citizens back
(``unmasked_roles`` in the access configuration) see it in full, and never in a log.
"""

from __future__ import annotations

HIDDEN_AT_LEAST = 4  # digits that every masked number keeps hidden


def mask_phone(number: str) -> str:
    """The masked form of ``number``; at least four of its characters are always hidden.

    - 11 characters or more (a mobile, or a landline with its area code): the first 3 and
      the last 4 are kept, ``13800138000`` → ``138****8000``;
    - 8 to 10 characters (a landline without area code): the last 4 are kept,
      ``12345678`` → ``****5678``;
    - shorter: nothing is kept, ``95588`` → ``*****``.

    Surrounding white space is dropped; an empty number stays empty.
    """
    n = number.strip()
    if len(n) >= 7 + HIDDEN_AT_LEAST:
        return n[:3] + "*" * (len(n) - 7) + n[-4:]
    if len(n) >= 4 + HIDDEN_AT_LEAST:
        return "*" * (len(n) - 4) + n[-4:]
    return "*" * len(n)
