"""The import layering the folder table in README.md promises, checked on the source with ``ast``.

``chargewatch`` (the contracts) is the base and imports no component; each component imports
only the contracts, itself and the lower layers listed here; ``evaluation``, ``demo`` and the
``chargewatch`` command (``chargewatch_cli``) sit on top and may use everything. Across packages
nothing imports a ``_private`` module or name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: package -> the first-party packages it may import besides itself
ALLOWED: dict[str, frozenset[str]] = {
    "chargewatch": frozenset(),
    "firmware_sim": frozenset({"chargewatch"}),
    "edge_agent": frozenset({"chargewatch"}),
    "analytics": frozenset({"chargewatch"}),
    "gateway": frozenset({"chargewatch", "analytics"}),
    "evaluation": frozenset({"chargewatch", "firmware_sim", "edge_agent", "analytics"}),
    "demo": frozenset({"chargewatch", "firmware_sim", "edge_agent", "analytics", "gateway"}),
    "chargewatch_cli": frozenset(
        {"chargewatch", "firmware_sim", "edge_agent", "analytics", "gateway", "evaluation", "demo"}
    ),
}


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute import in ``tree`` as (line, dotted name), ``from a.b import c`` as ``a.b.c``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(package: str, root: Path = REPO) -> list[str]:
    """Imports in ``package`` that break the layering, as ``file:line -> name (why)``."""
    bad: list[str] = []
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imported_names(tree):
            top, *rest = name.split(".")
            if top not in ALLOWED or top == package:
                continue
            where = f"{path.relative_to(root)}:{line} -> {name}"
            if top not in ALLOWED[package]:
                bad.append(f"{where} ({package} may not import {top})")
            elif any(part.startswith("_") and not part.startswith("__") for part in rest):
                bad.append(f"{where} (private across packages)")
    return bad


def test_every_package_is_in_the_table() -> None:
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert on_disk == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_layers(package: str) -> None:
    assert violations(package) == []


def test_the_check_catches_an_upward_and_a_private_import(tmp_path: Path) -> None:
    pkg = tmp_path / "edge_agent"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        "from gateway.app import Gateway\nimport chargewatch._hidden\nfrom chargewatch import errors\n"
    )
    assert violations("edge_agent", tmp_path) == [
        "edge_agent/bad.py:1 -> gateway.app.Gateway (edge_agent may not import gateway)",
        "edge_agent/bad.py:2 -> chargewatch._hidden (private across packages)",
    ]
