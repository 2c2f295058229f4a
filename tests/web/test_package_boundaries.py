"""The web layer's convention, checked on the source (docs/architecture.md, *Web layer*): a
resource package (``web/<resource>/``) imports the shared layer and itself, never another
resource package — shared services go through ``web.keys``, shared reads through the
domain. Only ``web/routes.py`` (the list) and ``web/app.py`` (health) name packages."""

from __future__ import annotations

import ast

from stack.settings import REPO_ROOT

WEB = REPO_ROOT / "web"
# The shared layer: the modules directly under web/, but the two that list packages.
SHARED = frozenset(p.stem for p in WEB.glob("*.py")) - {"__init__", "routes", "app"}


def web_imports(source: str) -> list[tuple[int, str]]:
    """(line, ``web`` submodule) of every absolute import of ``web.<name>`` in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = ([node.module] if node.module != "web"
                     else [f"web.{alias.name}" for alias in node.names])
        else:
            continue
        found += [(node.lineno, n.split(".")[1]) for n in names
                  if n.startswith("web.") and n.count(".") >= 1]
    return found


def test_the_scanner_sees_both_import_forms() -> None:
    source = "from web.kb import routes\nfrom web import keys\nimport web.live.services\n"
    assert web_imports(source) == [(1, "kb"), (2, "keys"), (3, "live")]


def test_no_resource_package_imports_another() -> None:
    packages = sorted(p for p in WEB.iterdir() if (p / "__init__.py").is_file())
    assert len(packages) >= 12, packages   # the whole layer was scanned
    wrong = [f"{path.relative_to(REPO_ROOT)}:{line}: imports web.{target}"
             for package in packages for path in sorted(package.rglob("*.py"))
             for line, target in web_imports(path.read_text(encoding="utf-8"))
             if target not in SHARED and target != package.name]
    assert wrong == []


def test_the_shared_layer_names_no_resource_package() -> None:
    assert {"api", "db", "errors", "keys", "requests"} <= SHARED
    wrong = [f"web/{name}.py:{line}: imports web.{target}" for name in sorted(SHARED)
             for line, target in web_imports((WEB / f"{name}.py").read_text(encoding="utf-8"))
             if target not in SHARED]
    assert wrong == []
