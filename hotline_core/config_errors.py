"""The one error type for bad configuration (配置错误): it names the file, the setting and,
where the text shows it, the line — and the one line finder every reader uses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the file and the setting."""

    def __init__(self, source: str | Path, setting: str, problem: str,
                 line: int | None = None) -> None:
        self.source = str(source)
        self.setting = setting
        self.problem = problem
        self.line = line
        where = f"{source}:{line}" if line is not None else f"{source}"
        super().__init__(f"{where}: setting '{setting}': {problem}")


def read_config_text(path: Path, file_setting: str) -> str:
    """A configuration file's text; a missing file or invalid UTF-8 names ``file_setting``
    (and, for bad UTF-8, the line of the first bad byte)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(path, file_setting, "file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(path, file_setting, "is a directory, not a file") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(path, file_setting,
                          f"not valid UTF-8 (byte {exc.start}: {exc.reason})", line) from exc


def line_of(text: str, section: str, key: str | None = None) -> int | None:
    """The line of ``[section]`` (or of ``key`` inside it) in a TOML text; None when the
    text does not show it. ``section`` is dotted (``years.2099.holidays``)."""
    parts = dotted_parts(section) or ()
    found = line_at(text, [*parts, key] if key is not None else list(parts))
    if found is None:
        return None
    line, matched = found
    return line if matched == len(parts) + (key is not None) else None


def setting_line(text: str, loc: Sequence[str | int], yaml_text: bool = False) -> int | None:
    """The line that best shows setting ``loc`` (``("agent", 3, "skills", "tax")``): the key
    itself, else the nearest table or key above it that the text writes (tomllib keeps no
    lines, so the text is scanned: tables, ``[[arrays of tables]]``, dotted and quoted keys).
    A YAML text (``yaml_text``) is read by its composer, which keeps each node's line."""
    if yaml_text:
        return _yaml_line(text, loc)
    found = line_at(text, loc)
    return found[0] if found is not None else None


def _yaml_line(text: str, loc: Sequence[str | int]) -> int | None:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line: int | None = None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line, child = key.start_mark.line + 1, value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def line_at(text: str, loc: Sequence[str | int]) -> tuple[int, int] | None:
    """(line, how many leading parts of ``loc`` it matches) of the best-matching line."""
    want = tuple(str(part) for part in loc)
    best: tuple[int, int] | None = None
    for number, path in _written_paths(text):
        size = len(path)
        if size and path == want[:size] and (best is None or size > best[1]):
            best = (number, size)
    return best


def _written_paths(text: str) -> list[tuple[int, tuple[str, ...]]]:
    """Each table header and key line of a TOML text with the full path it writes; an
    array of tables counts its entries (``agent``, ``0``), ``agent``, ``1``, …)."""
    out: list[tuple[int, tuple[str, ...]]] = []
    table: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}
    in_string = False
    for number, content in enumerate(text.splitlines(), start=1):
        stripped = content.strip()
        if content.count('"""') % 2 or content.count("'''") % 2:
            in_string = not in_string          # a multi-line string opens or closes here
            if not in_string:
                continue
        elif in_string:
            continue
        if stripped.startswith("["):
            is_array = stripped.startswith("[[")
            inner = stripped[2:stripped.find("]]")] if is_array else stripped[1:stripped.find("]")]
            parts = dotted_parts(inner)
            if parts is None:
                continue
            table = _resolve(parts, arrays, is_array)
            out.append((number, table))
            continue
        key = _key_of(stripped)
        if key is not None:
            out.append((number, table + key))
    return out


def _resolve(parts: tuple[str, ...], arrays: dict[tuple[str, ...], int],
             is_array: bool) -> tuple[str, ...]:
    """A header's full path: a parent that is an array of tables gets its current index."""
    path: tuple[str, ...] = ()
    for i, part in enumerate(parts):
        path += (part,)
        last = i == len(parts) - 1
        if last and is_array:
            arrays[path] = arrays.get(path, -1) + 1
            path += (str(arrays[path]),)
        elif path in arrays:
            path += (str(arrays[path]),)
    return path


def _key_of(stripped: str) -> tuple[str, ...] | None:
    """The (dotted) key a ``key = value`` line writes, or None for other lines."""
    if not stripped or stripped.startswith("#"):
        return None
    quote = ""
    for i, ch in enumerate(stripped):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return dotted_parts(stripped[:i])
        elif ch in ",]}#":
            return None                       # an array item or a comment, not a key
    return None


def dotted_parts(raw: str) -> tuple[str, ...] | None:
    """``a."b.c".d`` → ``("a", "b.c", "d")``; None when a part is empty."""
    parts: list[str] = []
    current, quote, quoted = "", "", False
    for ch in raw.strip():
        if quote:
            if ch == quote:
                quote = ""
            else:
                current += ch
        elif ch in "\"'":
            quote, quoted = ch, True
        elif ch == ".":
            parts.append(current if quoted else current.strip())
            current, quoted = "", False
        elif not (quoted and ch.isspace()):   # blanks around a quoted part are not in it
            current += ch
    parts.append(current if quoted else current.strip())
    return tuple(parts) if all(parts) else None
