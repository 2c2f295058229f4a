"""Live queue figures (实时排队指标) per line and per skill queue, and the estimated wait.

Definitions (T = ``service_level_seconds``, 15 s by default; counters run since the last
:meth:`Distributor.reset_figures`, e.g. the start of the day):

- waiting: calls now in the line (not yet ringing at an agent).
- longest wait: now − enqueue time of the oldest call in the line (0 when none).
- answered: calls an agent answered; the wait of a call is answer time − enqueue time
  (ringing time included; a ring-no-answer does not restart it).
- abandoned (呼损): callers who hung up before an agent answered, while in the line or while
  an agent's phone rang. "abandoned after T": those who had waited more than T.
- service level (服务水平, 15 s): answered within T / (answered + abandoned after T).
  Callers who hang up within T are left out of numerator and denominator — the usual
  call-centre definition ("x % of the calls offered answered within T s", short abandons
  not counted). The text of GB/T 33358 could not be checked here; if a deployment's
  standard counts short abandons too, the formula is in one place:
  :attr:`Figures.service_level`. ``None`` when nothing answered or abandoned after T.
- average speed of answer (平均应答速度, ASA): sum of the waits of answered calls / answered.
- agents by state: every known agent (per skill: every agent holding that skill).
- A call counts under the line it came in on and under its first skill (its skill queue),
  even when an overflow agent answered it. A virtual-hold call is "answered" when the
  agent picks up the callback (the citizen is dialled next).

Estimated wait (预计等待时长, for announcements): with k calls ahead of it in its skill
queue, N agents holding that skill who are not paused or logged out, and AHT = mean talk time
of the last ``handle_time_samples`` calls of that skill (``default_handle_seconds`` before
any) + ``wrapup_seconds``: EWT = (k + 1) × AHT / N; ``None`` when N = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline_core.acd.agents import AgentState


@dataclass(frozen=True)
class Figures:
    """Figures of one line (线路) or one skill queue (技能队列)."""

    name: str
    waiting: int = 0
    longest_wait: float = 0.0
    answered: int = 0
    abandoned: int = 0
    answered_within_target: int = 0
    abandoned_after_target: int = 0
    total_answer_wait: float = 0.0
    agents_by_state: dict[AgentState, int] = field(default_factory=dict)

    @property
    def service_level(self) -> float | None:
        """Answered within T / (answered + abandoned after T)."""
        denominator = self.answered + self.abandoned_after_target
        if denominator == 0:
            return None
        return self.answered_within_target / denominator

    @property
    def average_speed_of_answer(self) -> float | None:
        """Mean wait of the answered calls, seconds."""
        if self.answered == 0:
            return None
        return self.total_answer_wait / self.answered


@dataclass(frozen=True)
class QueueFigures:
    """A snapshot of all figures at ``at`` (the distributor's clock)."""

    at: float
    service_level_seconds: float
    lines: dict[str, Figures]
    skills: dict[str, Figures]
    agents_by_state: dict[AgentState, int]
    agents_by_group: dict[str, int]


def estimated_wait(calls_ahead: int, serving_agents: int, talk_seconds: list[float],
                   default_handle_seconds: float, wrapup_seconds: float) -> float | None:
    """EWT = (k + 1) × AHT / N, AHT = mean recent talk time + wrap-up (see module doc)."""
    if serving_agents <= 0:
        return None
    talk = sum(talk_seconds) / len(talk_seconds) if talk_seconds else default_handle_seconds
    return (calls_ahead + 1) * (talk + wrapup_seconds) / serving_agents
