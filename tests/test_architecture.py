"""The package's layout as docs/architecture.md draws it: no import cycle between its
modules (imports inside functions included), no module over 300 lines, Hydra and
OmegaConf imported by the command line only. `make lint` checks the layers themselves
with import-linter (.importlinter)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "axtrain_cli"
MAX_LINES = 300


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known) -> tuple[set[str], set[str]]:
    """(the package's modules `name` imports, the top-level packages it imports from
    elsewhere), every import statement counted wherever it stands. `from pkg import x`
    imports the module pkg.x where there is one, else pkg (as import-linter reads it)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    inside, outside = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + (
                [node.module] if node.module else [])) if node.level else node.module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != PACKAGE:
                outside.add(target.split(".")[0])
                continue
            while target not in known:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target != name:
                inside.add(target)
    return inside, outside


def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    edges = {name: inside for name, (inside, _) in graph().items()}
    assert cycles(edges) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_300_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_hydra_and_omegaconf_only_in_the_command_line():
    users = {name for name, (_, outside) in graph().items()
             if outside & {"hydra", "omegaconf"}}
    assert users and all(name.startswith(f"{PACKAGE}.cli") for name in users), users


def test_the_library_never_imports_the_command_line():
    up = {name: sorted(w for w in inside if w.startswith(f"{PACKAGE}.cli"))
          for name, (inside, _) in graph().items()
          if not name.startswith(f"{PACKAGE}.cli")}
    assert {k: v for k, v in up.items() if v} == {}


def test_every_package_is_installed():
    """pyproject.toml names every package of src (a plain `pip install .` ships them)."""
    import tomllib

    conf = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    listed = set(conf["tool"]["setuptools"]["packages"]) - {f"{PACKAGE}.conf"}
    found = {".".join(p.parent.relative_to(SRC).parts)
             for p in (SRC / PACKAGE).rglob("__init__.py")}
    assert listed == found
