"""Privacy (隐私保护): masked phone numbers and hidden identities.

The citizen's identity is never disclosed to the party complained about (hebei art. 36):
for a confidential order a unit sees neither name nor number. Phone numbers are masked
(:func:`hotline_core.masking.mask_phone`) in every listing; only roles that must call the
citizen back see them in full, and only in an order's detail.
"""

from __future__ import annotations

from hotline_core.access import AccessPolicy, Principal, Role
from hotline_core.masking import mask_phone


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``: enough for an agent to greet, not to identify."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


def caller_view(
    *, number: str, name: str, confidential: bool, who: Principal, policy: AccessPolicy,
    listing: bool,
) -> dict[str, object]:
    """The caller fields one principal may see for one order."""
    if confidential and who.role is Role.UNIT:
        return {"caller_number": None, "caller_name": None, "caller_hidden": True}
    full = policy.sees_full_number(who) and not listing
    return {
        "caller_number": number if full else mask_phone(number),
        "caller_name": name if full or who.role is not Role.UNIT else mask_name(name),
        "caller_hidden": False,
    }
