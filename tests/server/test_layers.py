"""server/ uses only the public surface of policy/ (style note 10; tests/test_layers.py
checks the other direction)."""

from __future__ import annotations

import ast
import importlib
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: Public names the server needs that their module does not list in ``__all__`` yet.
NOT_YET_EXPORTED: set[tuple[str, str]] = set()


def _policy_imports() -> set[tuple[str, str, str]]:
    """(file, module, name) of every ``from policy... import name`` in server/."""
    found = set()
    for path in (ROOT / "server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("policy") for a in node.names), path
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("policy"):
                for alias in node.names:
                    found.add((str(path.relative_to(ROOT)), str(node.module), alias.name))
    return found


def test_server_imports_only_public_policy_names() -> None:
    imports = _policy_imports()
    assert imports, "the check must see the server's imports"
    private = sorted(
        (f, m, n) for f, m, n in imports if any(p.startswith("_") for p in [*m.split("."), n])
    )
    assert private == []
    unlisted = sorted(
        (f, m, n)
        for f, m, n in imports
        if (m, n) not in NOT_YET_EXPORTED and n not in importlib.import_module(m).__all__
    )
    assert unlisted == []
