"""Recording file names (录音文件名) built from call data, confined to their directory.

A recording's name comes from the call (``YYYYMMDD/<uniqueid>.wav``, set by the dialplan,
carried through the AGI URL, the CDR file and the call record). Whatever carried it, a name
is used only when it is relative, plain and stays inside the recordings directory: no
``..``, no absolute path, no control character, no shell or AGI quoting character.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

_NAME = re.compile(r"(?:[0-9]{8}/)?[0-9A-Za-z][0-9A-Za-z._-]{0,127}\.wav\Z")


def recording_name(name: str | None) -> str | None:
    """``name`` when it is a plain recording name (``20261130/1700000000.1.wav``), else None."""
    if not name or not _NAME.match(name) or ".." in name:
        return None
    return name


def confined(root: Path, name: str) -> Path:
    """``root / name``, refusing any name that would leave ``root`` (ValueError)."""
    if recording_name(name) is None:
        raise ValueError(f"not a recording name: {name[:80]!r}")
    path = (root / PurePosixPath(name)).resolve()
    if root.resolve() not in path.parents:
        raise ValueError(f"recording name leaves its directory: {name[:80]!r}")
    return path
