"""Calling hours (外呼时段): when a campaign kind may ring people.

Windows are wall-clock times in the hotline's zone, every day (``"09:00-12:00"``; ``24:00``
is the end of the day). Nobody is dialled outside them; a target that falls due outside is
dialled at the next opening.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def _minutes(hh: str, mm: str, window: str) -> int:
    h, m = int(hh), int(mm)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"calling hours {window!r}: {hh}:{mm} is not a time of day")
    return h * 60 + m


@dataclass(frozen=True)
class CallingHours:
    windows: tuple[tuple[int, int], ...]   # (start, end) minutes of the day, end exclusive

    @classmethod
    def parse(cls, texts: tuple[str, ...] | list[str]) -> CallingHours:
        windows = []
        for text in texts:
            match = _WINDOW.match(text)
            if match is None:
                raise ValueError(f"calling hours {text!r}: write HH:MM-HH:MM, e.g. 09:00-12:00")
            start = _minutes(match[1], match[2], text)
            end = _minutes(match[3], match[4], text)
            if end <= start:
                raise ValueError(f"calling hours {text!r}: the end must be after the start")
            windows.append((start, end))
        if not windows:
            raise ValueError("calling hours: at least one window (\"00:00-24:00\": always)")
        return cls(tuple(sorted(windows)))

    def open_at(self, instant: datetime, zone: tzinfo) -> bool:
        local = instant.astimezone(zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.windows)

    def next_open(self, instant: datetime, zone: tzinfo) -> datetime:
        """``instant`` itself when open, else the start of the next window (aware)."""
        if self.open_at(instant, zone):
            return instant
        local = instant.astimezone(zone)
        for day in range(0, 3):
            date = (local + timedelta(days=day)).date()
            for start, _ in self.windows:
                opening = datetime.combine(date, time(start // 60, start % 60), zone)
                if opening > local:
                    return opening.astimezone(instant.tzinfo)
        raise AssertionError("a window opens every day")   # windows are never empty
