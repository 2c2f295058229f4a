"""testkit finds the SIPp scenarios the e2e tests run (they stay in tests/sipp/)."""

from __future__ import annotations

from testkit.sipp import SCENARIOS


def test_the_scenarios_the_kit_reads_by_name_are_there() -> None:
    for name in ("caller.xml", "agent.xml", "register.xml", "rejected.xml"):
        assert (SCENARIOS / name).is_file(), SCENARIOS / name
