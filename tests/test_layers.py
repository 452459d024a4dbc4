"""Layers depend one way: server/ and sip_edge/ import policy/; policy/ and compiled/ never
import them, and compiled/ imports nothing of policy/ (style note 10). server/ and
sip_edge/ see policy/ only through the names ``policy/__init__.py`` exports."""

from __future__ import annotations

import ast
import pathlib

import pytest

import policy

ROOT = pathlib.Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "policy": {"server", "sip_edge"},
    "compiled": {"server", "sip_edge", "policy"},
}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_depend_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def _beside_the_surface(path: pathlib.Path) -> list[str]:
    """The imports of ``path`` that reach into policy/ past ``policy.__all__``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("policy.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "policy":
                found += [f"policy.{a.name}" for a in node.names if a.name not in policy.__all__]
            elif node.module.startswith("policy."):
                found += [f"{node.module}.{a.name}" for a in node.names]
    return sorted(found)


@pytest.mark.parametrize("package", ["server", "sip_edge"])
def test_outer_layers_import_only_the_policy_package(package: str) -> None:
    offenders = {
        rel: found
        for path in sorted((ROOT / package).rglob("*.py"))
        if (found := _beside_the_surface(path)) and (rel := path.relative_to(ROOT).as_posix())
    }
    assert offenders == {}
