"""The dependency direction of docs/architecture.md ("Parts and dependency direction"), checked
on the source: every ``import`` of every module (including imports inside functions and under
``TYPE_CHECKING``) may only reach the packages its package is allowed to use.

    hotline_core  ← speech ← ivr ← stack        web ← stack
    testkit (tests' and benchmarks' kit) may use every shipped package; nothing shipped uses it.
"""

from __future__ import annotations

import ast

from stack.settings import REPO_ROOT

SHIPPED = ("hotline_core", "ivr", "speech", "web", "stack")
# package → the other top-level packages of this repository it may import
MAY_IMPORT: dict[str, frozenset[str]] = {
    "hotline_core": frozenset(),
    "speech": frozenset({"hotline_core"}),
    "ivr": frozenset({"hotline_core", "speech"}),
    "web": frozenset({"hotline_core"}),
    "stack": frozenset({"hotline_core", "ivr", "speech", "web"}),
    "testkit": frozenset(SHIPPED),
    "bench": frozenset({*SHIPPED, "testkit"}),
    "tests": frozenset({*SHIPPED, "testkit"}),
}
OURS = frozenset(MAY_IMPORT)


def imported_packages(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``source`` of one of OURS."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in OURS]
    return found


def test_the_scanner_sees_imports_anywhere_in_a_module() -> None:
    source = ("import os\nfrom web.app import create_app\n"
              "def f():\n    import ivr.ami as ami\n"
              "if TYPE_CHECKING:\n    from stack.core import Core\n"
              "from . import sibling\n")
    assert imported_packages(source) == [(2, "web"), (4, "ivr"), (6, "stack")]


def test_every_package_imports_only_what_it_may() -> None:
    wrong: list[str] = []
    scanned = 0
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            scanned += 1
            rel = path.relative_to(REPO_ROOT)
            for line, target in imported_packages(path.read_text(encoding="utf-8"), str(rel)):
                if target != package and target not in allowed:
                    wrong.append(f"{rel}:{line} imports {target}")
    assert scanned > 100  # the packages were found where the check looks
    assert wrong == [], "\n".join(wrong)


def test_testkit_is_not_shipped() -> None:
    """setuptools packages exactly the shipped ones (testkit, tests and bench stay out)."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("include = "))
    assert line == 'include = ["hotline_core*", "ivr*", "speech*", "web*", "stack*"]'
