"""An access rule (访问规则): which roles may call a route, or public. Declared with the
route (``routes.get(..., access=roles(Role.SUPERVISOR))``) or in the table of
:mod:`web.access_rules`; enforced by :func:`web.access_rules.gate`."""

from __future__ import annotations

from dataclasses import dataclass

from hotline_core.access import Role


@dataclass(frozen=True)
class Access:
    """One route's rule: ``roles`` None means public (anonymous allowed)."""

    roles: frozenset[Role] | None
    # The web socket takes its token as ?token= (browsers cannot set its headers).
    query_token: bool = False

    @property
    def public(self) -> bool:
        return self.roles is None


PUBLIC = Access(roles=None)


def roles(*allowed: Role, query_token: bool = False) -> Access:
    """The rule "only these roles" (signed in or with a token)."""
    return Access(roles=frozenset(allowed), query_token=query_token)


ANY_ROLE = roles(*Role)
