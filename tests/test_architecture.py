"""The structure rules, checked on the source: one module renames files (the storage layer),
`pipeline/` has no import circles, operators and I/O stay on their side of the boundary, and
modules and functions stay small."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "operators", "storage")
RENAMERS = {("os", "replace"), ("os", "rename"), ("os", "renames")}


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Project modules imported anywhere in the file (top level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def test_only_the_storage_layer_renames() -> None:
    offenders = []
    for package in ("pipeline", "operators"):
        for path in _modules(package):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = node.func.value
                    name = node.func.attr
                    if isinstance(owner, ast.Name) and (owner.id, name) in RENAMERS:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} os.{name}")
                    elif name == "rename" and not (isinstance(owner, ast.Name) and owner.id in ("os", "shutil")):
                        # Path.rename / .rename(...) on a path object (tables use rename_columns)
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .rename()")
                    elif name == "replace" and len(node.args) == 1 and not node.keywords:
                        # Path.replace(target) renames; str/bytes.replace take two arguments
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .replace()")
                    elif (isinstance(owner, ast.Name) and owner.id == "shutil" and name == "move"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} shutil.move")
    assert offenders == [], "rename outside storage/: " + ", ".join(offenders)


def test_boundaries() -> None:
    bad = []
    for path in _modules("operators"):
        bad += [f"{path.relative_to(ROOT)} imports {m}" for m in _imports(path) if m.startswith("pipeline")]
    for path in _modules("pipeline/io"):
        bad += [f"{path.relative_to(ROOT)} imports {m}" for m in _imports(path) if m.startswith("operators")]
    for path in _modules("storage"):
        bad += [f"{path.relative_to(ROOT)} imports {m}" for m in _imports(path) if not m.startswith("storage")]
    assert bad == []


def test_no_import_circles_in_pipeline() -> None:
    modules = {_module_name(p): p for p in _modules("pipeline")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for imported in _imports(path):
            # `from pipeline.x import y` names module pipeline.x (or pipeline.x.y when y is a module)
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                deps.add(imported)
        graph[name] = {d for d in deps if not (d == "pipeline" and name.startswith("pipeline."))}
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                circles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_modules_and_functions_stay_small() -> None:
    long_modules, long_functions = [], []
    for package in PACKAGES:
        for path in _modules(package):
            text = path.read_text(encoding="utf-8")
            if text.count("\n") > 400:
                long_modules.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = node.end_lineno - node.lineno + 1
                    if length > 80:
                        long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert long_modules == [] and long_functions == []
