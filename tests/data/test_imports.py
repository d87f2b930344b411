"""The data layer has no import cycle: types live in a leaf module (data/types.py), each format in its own
file, and config / formats / build import downwards only (module-level imports, read with ast)."""
import ast
from pathlib import Path

import detector

PKG = Path(detector.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target + "." + a.name for a in node.names] if not node.module else []
            out |= {target, *names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("detector"):
            out.add(node.module)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d in graph and d not in state and (c := visit(d)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_data_layer_has_no_import_cycle():
    files = sorted((PKG / "data").rglob("*.py"))
    mods = {_module(p): p for p in files}
    # a package's own __init__ is where its submodules are gathered: edges into it from its children are not cycles
    graph = {m: {d for d in _imports(p) if d in mods and d != m and not m.startswith(d + ".")} for m, p in mods.items()}
    assert "detector.data.types" in graph and graph["detector.data.types"] <= {"detector.data.records"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_function_level_imports_between_data_modules():
    """Cycles hidden by imports inside functions are what this layout removed."""
    hidden = []
    for p in sorted((PKG / "data").rglob("*.py")):
        for fn in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and node.level:
                        hidden.append(f"{p.relative_to(PKG)}:{node.lineno} from {'.' * node.level}{node.module or ''}")
    assert hidden == []


def test_one_file_per_format():
    from detector.data.formats import FORMATS

    for name, fmt in FORMATS.items():
        assert type(fmt).__module__ == f"detector.data.formats.{name}"
