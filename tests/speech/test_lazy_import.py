"""A core with speech off never loads Vosk (issue 10): the core's modules reach speech only
through ``speech.interface``; ``speech.live`` (and with it the recogniser) is imported when
``[speech]`` turns live transcripts on.

Each check runs in a fresh interpreter, since this test process may already hold Vosk.
"""

from __future__ import annotations

import subprocess
import sys

from stack.settings import REPO_ROOT

# Every module the core process (python -m stack.core) and the `hotline` command (stack.cli,
# which registers the speech subcommands) import, plus the web and telephony packages, then
# the module the core uses when speech is on.
_CHECK = """
import importlib, pkgutil, sys
import stack.core, stack.cli
import ivr, web
for pkg in (ivr, web):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(info.name)
print("core-loaded-vosk" if "vosk" in sys.modules else "core-without-vosk")
import speech.live
print("live-loaded-vosk" if "vosk" in sys.modules else "live-without-vosk")
from speech import runtime
print("runtime-loaded-vosk" if "vosk" in sys.modules else "runtime-without-vosk")
"""


def _run(code: str) -> list[str]:
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.split()


def test_the_core_and_its_modules_do_not_import_vosk() -> None:
    lines = _run(_CHECK)
    assert lines[0] == "core-without-vosk"
    # speech.live itself defers the recogniser to its host processes ...
    assert lines[1] == "live-without-vosk"
    # ... and the check is able to see Vosk when it is loaded.
    assert lines[2] == "runtime-loaded-vosk"
