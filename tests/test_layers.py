"""The package's shape: one-way imports, small modules, SimPy only where the SimPy engine runs.

The import graph is built from the source (every ``import`` statement, at module level, in a
function or under ``TYPE_CHECKING``), so a cycle hidden in a local import counts too.
"""

import ast
import subprocess
import sys
from pathlib import Path

import satsim

PACKAGE = Path(satsim.__file__).parent
MAX_LINES = 500
# The layers of the timing stack, bottom first: a module may import its own layer and those
# below, never one above (docs/design.md).
LAYERS = ("satsim.machine", "satsim.timing", "satsim.schedule", "satsim.search")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a package's ``__init__`` excluded: it only
    gathers names, and importing a submodule runs it anyway)."""
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                prefix = node.module or ""
                if node.level:
                    parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                    prefix = ".".join([*parts, *([node.module] if node.module else [])])
                targets = [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and modules[target].name != "__init__.py":
                    edges[name].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack, on_stack, found = [], set(), []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
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
                    work.append((child, iter(sorted(edges[child]))))
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


def test_the_cycle_finder_finds_a_cycle():
    """The check below can fail: a two-module loop and a three-module one are found."""
    edges = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(_cycles(edges)) == [["a", "b"], ["c", "d", "e"]]


def test_no_import_cycle_inside_satsim():
    """No module of satsim imports, directly or through others, a module that imports it."""
    assert _cycles(_graph()) == []


def test_the_timing_stack_imports_downward_only():
    """The machine (costs, Program contract) imports no clock, builder or search; the clocks
    no builder or search; the builder no search."""
    upward = []
    for module, imported in _graph().items():
        level = next((i for i, layer in enumerate(LAYERS)
                      if module == layer or module.startswith(layer + ".")), None)
        if level is None:
            continue
        upward += [(module, target) for target in sorted(imported)
                   for above in LAYERS[level + 1:]
                   if target == above or target.startswith(above + ".")]
    assert upward == []


def test_no_module_over_500_lines():
    """Every module is at most 500 lines: one concept each."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in _modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_a_run_does_not_import_simpy():
    """``satsim run``'s path (configs, the offline scheduler, the one-pass clock, pricing,
    the report) never imports SimPy: only the SimPy engine does (timelines, tests)."""
    code = ("import sys\n"
            "from satsim.api import run\n"
            "report = run('resnet9-cifar', 'sat-small', 'sat')\n"
            "report.text()\n"
            "print(report.result.cycles > 0, 'simpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"SATSIM_CACHE_DIR": "off", "OMP_NUM_THREADS": "1",
                                          "PATH": ""})
    assert out.stdout.split() == ["True", "False"]
