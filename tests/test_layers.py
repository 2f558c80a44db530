"""The package's layers only point down, and no modules import each other in a loop.

Every import of the package (at the top of a module or inside a function: both run) is read with ``ast``
and held against the layer table below. A module may import from its own layer and the layers under it;
an import of a higher layer, a module in no layer, or a cycle of imports fails with the modules named.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = "agentops_kit"

# Lowest first. Names are module paths inside the package; an entry covers a module and everything under it
# (the longest entry that matches wins). "" is the package's own __init__ (the front door).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "model", "weeks", "config", "resources", "terminal", "schema_json", "version",
                    "spark_session")),  # starting Spark (PySpark imported lazily)
    # draw frames they are given and know nothing of traces: every result renders itself with them
    ("presentation", ("rendering", "charts", "results", "runs_behind")),
    ("inputs", ("files", "tableset", "mapping", "conventions", "pricing", "labels", "scope", "sample")),
    ("readers", ("readers", "_otlp_columns")),  # _otlp_columns: the compiled decoder (absent without a C compiler)
    # store: the trace store, (store/objstore.py) a store read by its URL on object storage, (store/spark_read.py)
    # Spark scanning its files
    ("canonical tables", ("assemble", "red_team_marks", "traceset", "load", "store")),
    ("receiver", ("collect",)),  # the OTLP/HTTP receiver: readers in, the store out
    ("analytics", ("analytics", "inventory", "inventory_store", "inventory_reality", "approvals", "inspection",
                   "tracing_defaults")),  # the agent side's OpenTelemetry defaults, beside the approval decorator
    ("views", ("widgets", "report", "incident")),  # incident: postmortems written from a run (markdown)
    ("command line", ("cli", "__main__")),
    ("front door", ("", "templates")),  # templates: the example agent, which uses the front door
)
OPTIONAL = {"_otlp_columns"}


def modules(package_dir: Path) -> dict[str, Path]:
    """Dotted name inside the package ('' for its __init__) -> file."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str], package: str) -> set[str]:
    """The package's modules that ``name`` imports (a name taken from a package's __init__ counts as that package)."""
    here = name.split(".") if name else []
    if path.name != "__init__.py":
        here = here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join([package, *base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}".removeprefix(package + ".") in known
                       else module for a in node.names]
        else:
            continue
        for target in targets:
            if target == package or target.startswith(package + "."):
                inner = target.removeprefix(package).removeprefix(".")
                while inner and inner not in known:  # `import pkg.mod.Name`-like paths: the module holding them
                    inner = inner.rpartition(".")[0]
                if inner != name:
                    found.add(inner)
    return found


def layer_of(module: str, layers) -> int | None:
    best, rank = -1, None
    for i, (_, entries) in enumerate(layers):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".") or entry == "") and len(entry) > best:
                if entry == "" and module != "":
                    continue
                best, rank = len(entry), i
    return rank


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def problems(package_dir: Path, layers, package: str = PACKAGE, optional=frozenset()) -> list[str]:
    files = modules(package_dir)
    known = set(files) | set(optional)
    graph = {name: imports(name, path, known, package) for name, path in files.items()}
    out = []
    for name in sorted(files):
        if layer_of(name, layers) is None:
            out.append(f"{package}.{name} is in no layer: add it to the layer table")
    for name, targets in sorted(graph.items()):
        mine = layer_of(name, layers)
        for target in sorted(targets):
            theirs = layer_of(target, layers)
            if mine is not None and theirs is not None and theirs > mine:
                out.append(f"{package}.{name} ({layers[mine][0]}) imports {package}.{target or '__init__'} "
                           f"({layers[theirs][0]}), a layer above it")
    for component in cycles(graph):
        out.append("import cycle: " + " -> ".join(f"{package}.{m or '__init__'}" for m in component))
    for _, entries in layers:
        for entry in entries:
            if entry and entry not in optional and not any(m == entry or m.startswith(entry + ".") for m in files):
                out.append(f"the layer table names {entry}, which is no module of the package")
    return out


def test_the_package_imports_only_down_its_layers_and_in_no_cycle():
    assert problems(ROOT / PACKAGE, LAYERS, optional=OPTIONAL) == []


def test_the_check_catches_an_upward_import_a_cycle_and_a_module_in_no_layer(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "readers").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "readers" / "__init__.py").write_text("")
    (pkg / "model.py").write_text("X = 1\n")
    (pkg / "readers" / "csv.py").write_text("from ..model import X\n\ndef read():\n    from ..load import go\n")
    (pkg / "load.py").write_text("from .readers import csv\nfrom . import model\n")
    (pkg / "stray.py").write_text("import pkg.model\n")
    layers = (("foundation", ("model",)), ("readers", ("readers",)), ("tables", ("load",)), ("front", ("",)))
    assert problems(pkg, layers, package="pkg") == [
        "pkg.stray is in no layer: add it to the layer table",
        "pkg.readers.csv (readers) imports pkg.load (tables), a layer above it",
        "import cycle: pkg.load -> pkg.readers.csv",
    ]
