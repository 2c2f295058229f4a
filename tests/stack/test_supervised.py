"""`hotline up`'s restart policy for a child (issue 9, item 9), on a hand-moved clock.

On the starting main (4b97079) the stack restarted the core, Asterisk and the speech workers
at once, every 0.5 s loop, with a line per restart and no pause; redis-server was not
restarted at all, and a core that failed to start ended the whole stack (the StartError left
the loop). ``Supervised`` did not exist. Expected pauses below are the rule written in its
docstring: at once after a steady run; after the k-th failure in a row a pause of
min(cap, first · 2^(k−1)) s — with first = 1 and cap = 8: 1, 2, 4, 8, 8 s.
"""

from __future__ import annotations

from stack.services import StartError, Supervised


class Child:
    def __init__(self) -> None:
        self.running = True
        self.starts = 0
        self.fail_next = 0

    def start(self) -> None:
        self.starts += 1
        if self.fail_next:
            self.fail_next -= 1
            raise StartError("port in use")
        self.running = True

    def alive(self) -> bool:
        return self.running


def test_restarts_back_off_and_report_once_per_outage() -> None:
    now = [1000.0]
    child, lines = Child(), []
    sup = Supervised("redis-server", child.start, child.alive, lines.append, first=1.0,
                     cap=8.0, steady_after=60.0, clock=lambda: now[0])
    sup._started_at = 0.0                  # it has run steadily for long

    child.running = False                   # dies after a steady run: restarted at once
    sup.check()
    assert child.starts == 1 and child.running

    # It dies 10 s after its start (failure 1), then five starts fail (failures 2-6):
    # tries at 1, 1+2, 3+4, 7+8, 15+8, 23+8 s after it died.
    now[0] += 10                             # died 10 s after its start: not steady
    child.running, child.fail_next = False, 5
    tries_at = []
    for _ in range(40 * 2):                  # 40 s of the stack's checks, every 0.5 s
        before = child.starts
        sup.check()
        if child.starts != before:
            tries_at.append(now[0] - 1010.0)
        now[0] += 0.5
    assert tries_at == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]
    assert child.running and child.starts == 1 + 6
    reported = [line for line in lines if "redis-server" in line]
    # One line when it first exits, one when it died again soon (with its pause), one when
    # restarts start failing, one each time it runs again: never one per try.
    assert len(reported) == 5, reported
    assert sum("did not start" in line for line in reported) == 1
