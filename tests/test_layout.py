"""The package's floors: every import goes down (or sideways within a package), and only
the Flower subpackage knows Flower."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fedrec"
#: Lower floors never import higher ones; a package may import its own floor's others only
#: when listed as a neighbour below.
FLOORS = {
    "errors": -1,
    "notices": -1,
    "files": 0,
    "device": 0,
    "plots": 0,
    "memory": 0,
    "config": 1,
    "data": 2,
    "metrics": 2,
    "baselines": 2,
    "models": 3,
    "training": 4,
    "evaluation": 4,
    "privacy": 5,
    "runs": 6,
    "federated": 7,
    "audit": 8,
    "serving": 9,
    "deploy": 9,
    "cli": 10,
    "__main__": 11,
    "__init__": -1,
}
#: Same-floor imports that are allowed (importer, imported).
NEIGHBOURS = {("evaluation", "baselines"), ("evaluation", "metrics"), ("data", "metrics")}
FLOWER_HOMES = ("fedrec/federated/flower/",)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _room(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down_the_floors(path):
    room = _room(path)
    assert room in FLOORS, f"{room} has no floor: add it to FLOORS in {__file__}"
    for name in _imports(path):
        if not name.startswith("fedrec.") and name != "fedrec":
            continue
        target = name.split(".")[1] if "." in name else room
        if target == room:
            continue
        assert target in FLOORS, f"{path}: imports {name}, which has no floor"
        below = FLOORS[target] < FLOORS[room]
        beside = FLOORS[target] == FLOORS[room] and (room, target) in NEIGHBOURS
        assert below or beside, (
            f"{path} ({room}, floor {FLOORS[room]}) imports {name} (floor {FLOORS[target]})"
        )


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_flower_subpackage_imports_flower(path):
    relative = str(path.relative_to(ROOT))
    if relative.startswith(FLOWER_HOMES):
        return
    flower = [n for n in _imports(path) if n == "flwr" or n.startswith("flwr.")]
    assert not flower, f"{relative} imports {flower}: Flower belongs in fedrec/federated/flower/"


def test_the_flower_apps_stay_thin():
    for app in (ROOT / "clients" / "client_app.py", ROOT / "server" / "server_app.py"):
        code = [
            line
            for line in app.read_text().splitlines()
            if line.strip() and not line.startswith(("#", '"""'))
        ]
        assert len(code) <= 3, f"{app} holds logic: keep it to the import and the app"


def test_no_module_imports_form_a_circle():
    names = {
        ".".join(("fedrec", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): p
        for p in _modules()
    }
    graph = {
        name: {n for n in _imports(path) if n in names and n != name}
        for name, path in names.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1 and not nxt.startswith(name + "."):
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [name, nxt]
                # A package's __init__ re-exporting its own modules is not a circle.
                if not all(m.startswith(nxt) or nxt.startswith(m) for m in cycle):
                    raise AssertionError(f"import circle: {' -> '.join(cycle)}")
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_MODULE_LINES, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it by job (at most {MAX_MODULE_LINES})"
    )
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, (
                f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() has {length} lines "
                f"(at most {MAX_FUNCTION_LINES}): split it"
            )
