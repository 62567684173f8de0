"""The layers hold without lazy imports: no function body imports another app. A lazy import across
apps is how a cycle hides from both Python and the import-linter contract's reader (pyproject.toml);
work crosses upwards only by a task's name (core.queue). Standard-library and third-party lazy
imports (a heavy library loaded on first use) are fine."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "servicedesk", "governance", "understanding", "agents", "workspace", "insights", "bench")

# Function-level imports across apps allowed by name (none today).
KNOWN: set[tuple[str, str]] = set()


def _lazy_imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every import inside a function body of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                found += [(inner.lineno, alias.name.split(".")[0]) for alias in inner.names]
            elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                found.append((inner.lineno, inner.module.split(".")[0]))
    return found


def test_no_function_level_import_crosses_apps():
    crossing = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = str(path.relative_to(ROOT))
            for line, package in _lazy_imports(path):
                if package in APPS and package != app and (name, package) not in KNOWN:
                    crossing.append(f"{name}:{line} imports {package}")
    assert crossing == []


def test_the_check_finds_a_lazy_import_across_apps(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text("import os\n\n\ndef f():\n    import json\n    from agents.tasks import run\n")
    assert _lazy_imports(module) == [(5, "json"), (6, "agents")]
