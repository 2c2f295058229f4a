"""Answers of the live routes: the queue figures and the web socket's messages."""

from __future__ import annotations

from typing import Any, Literal

from web.api import Out


class FiguresOut(Out):
    """Figures of one line (线路) or one skill queue (技能队列)."""

    name: str
    waiting: int
    longest_wait: float
    answered: int
    abandoned: int
    answered_within_target: int
    abandoned_after_target: int
    total_answer_wait: float
    agents_by_state: dict[str, int]
    service_level: float | None
    average_speed_of_answer: float | None


class QueueFiguresOut(Out):
    at: float
    service_level_seconds: float
    lines: dict[str, FiguresOut]
    skills: dict[str, FiguresOut]
    agents_by_state: dict[str, int]
    agents_by_group: dict[str, int]


class LiveMessage(Out):
    """One web-socket message: ``figures`` on every change, or a speech ``alert`` or a live
    ``transcript`` of a call the socket may see (as published by the speech service), or the
    screen ``pop`` of the call that rings on the socket's agent (once per call), or a
    ``voice_message`` left or turned into an order (call id, line, order id), or a
    ``transfer`` of a call the socket may see whose row changed (call id, transfer id,
    outcome)."""

    type: Literal["figures", "alert", "transcript", "pop", "voice_message", "transfer"]
    figures: QueueFiguresOut | None = None
    alert: dict[str, Any] | None = None
    transcript: dict[str, Any] | None = None
    pop: dict[str, Any] | None = None   # the screen pop of the call ringing on the agent
    voice_message: dict[str, Any] | None = None
    transfer: dict[str, Any] | None = None
