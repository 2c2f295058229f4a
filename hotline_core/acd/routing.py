"""Skills routing (技能路由): which skill queue a call of a line waits in, today.

Special seats (专席: 12351, 12338, 12328, 12366, 12348 ...) are ordinary skills held by their
dedicated agents, with an overflow rule (溢出) to the general pool after a configured wait.
The leader seat (领导接听专席) replaces a line's skills with the leader's skill on scheduled
days only.
"""

from __future__ import annotations

from hotline_core.acd.config import DistributionConfig


def skills_for_call(config: DistributionConfig, line: str, skills: tuple[str, ...],
                    now: float) -> tuple[str, ...]:
    """The skills a call on ``line`` needs at ``now``: the leader's on a leader day."""
    day = config.local_date(now)
    for seat in config.leader_seats:
        if seat.line == line and seat.scheduled(day):
            return (seat.skill,)
    return skills
