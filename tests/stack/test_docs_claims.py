"""README, docs and docstrings describe only what runs (issue 9, item 15).

On 4b97079 the README sent live transcripts "to the agent desktop", supervision's docstring
said "the outbound dialer acts on" reminders, and speech/grammar.py said IVR flows such as
the satisfaction callback used it: this test failed on each. Those now run (issue 11: the
dialer, reminder calls and the satisfaction callback; issue 12: the agent desktop at /desk),
so their phrases left the list (the voice-message inbox on the desk too, once it ran,
listening, whispering or barging into a call from the console once web/spy ran, and the
unit portal once /unit ran); the list keeps the phrases of what still does not run.
"""

from __future__ import annotations

import re

from stack.settings import REPO_ROOT

FILES = [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md"),
         *(p for top in ("hotline_core", "ivr", "speech", "web", "stack")
           for p in (REPO_ROOT / top).rglob("*.py"))]
# Phrases that present something that does not run as if it did.
CLAIMS = [
    r"`agi_scripts/`.*process AGI scripts",
]


def test_no_text_claims_what_does_not_run() -> None:
    found = []
    for path in FILES:
        text = " ".join(path.read_text(errors="replace").split())   # join wrapped lines
        for claim in CLAIMS:
            if re.search(claim, text, re.I):
                found.append(f"{path.relative_to(REPO_ROOT)}: {claim}")
    assert found == []
