"""Every runtime dependency pinned in pyproject.toml is used by the code, and every package
directory setuptools is told to ship has code in it (issue 9, item 12).

On 4b97079 pyproject pinned pyst2 (module ``asterisk``), which nothing imported, and
shipped ``agi_scripts/``, an empty package that README and the design described as the
process-AGI scripts: this test failed on both.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from stack.settings import REPO_ROOT

CODE = ("hotline_core", "ivr", "speech", "web", "stack")
# Used without an import statement, and where it is named instead.
NAMED_ELSEWHERE = {"psycopg": "postgresql+psycopg"}   # SQLAlchemy's dialect in database URLs


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _source() -> str:
    return "\n".join(p.read_text(errors="replace")
                     for top in CODE for p in (REPO_ROOT / top).rglob("*.py"))


def test_every_runtime_dependency_is_used() -> None:
    modules_of: dict[str, list[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(dist.lower().replace("_", "-"), []).append(module)
    source = _source()
    unused = []
    for requirement in _pyproject()["project"]["dependencies"]:
        dist = re.split(r"[\[=<>!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        modules = modules_of.get(dist)
        assert modules, f"{dist} is not installed in this environment"
        imported = any(re.search(rf"^\s*(import|from) {re.escape(m)}\b", source, re.M)
                       for m in modules)
        named = any(NAMED_ELSEWHERE.get(m, "\0") in source for m in modules)
        if not (imported or named):
            unused.append(dist)
    assert unused == [], f"pinned but used nowhere: {unused}"


def test_every_shipped_package_has_code() -> None:
    patterns = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in patterns:
        top = REPO_ROOT / pattern.rstrip("*")
        modules = [p for p in top.rglob("*.py") if p.name != "__init__.py"]
        assert modules, f"{pattern}: no module beyond __init__.py"


def test_readme_layout_names_existing_directories() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1]
    named = re.findall(r"`([a-z_]+)/`", layout)
    assert "hotline_core" in named
    for directory in named:
        assert (REPO_ROOT / directory).is_dir(), directory
        assert any(Path(REPO_ROOT / directory).iterdir()), directory
