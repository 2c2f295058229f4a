"""The live figures as JSON (enum values in lower case), for the route and the socket."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from hotline_core.acd.figures import Figures, QueueFigures


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return str(value.value).lower()
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def figures_json(fig: Figures) -> dict[str, Any]:
    data = {k: _plain(v) for k, v in dataclasses.asdict(fig).items()}
    data["service_level"] = fig.service_level
    data["average_speed_of_answer"] = fig.average_speed_of_answer
    return data


def snapshot_json(snap: QueueFigures) -> dict[str, Any]:
    return {
        "at": snap.at,
        "service_level_seconds": snap.service_level_seconds,
        "lines": {k: figures_json(v) for k, v in snap.lines.items()},
        "skills": {k: figures_json(v) for k, v in snap.skills.items()},
        "agents_by_state": _plain(snap.agents_by_state),
        "agents_by_group": snap.agents_by_group,
    }
