"""Imports go one way (docs/architecture.md, "Layers"): no cycles, no upward imports, no private
names across modules.

The check reads the source (every ``import``, module-level or inside a function) without
importing anything, so it runs where GNU Radio or torch are missing. It is also run on the tree
as it was before the layers were straightened (commit daade45), where it must find the cycles
and the upward imports that were there then.
"""
from __future__ import annotations

import ast
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import REPO

#: importable package -> folder of the repository (pyproject.toml's package-dir)
PACKAGES = {"semcom_blocks": "semcom_blocks", "semcom_client": "client", "semcom_host": "host",
            "semcom_models": "models"}

#: layer -> module prefixes in it (the longest matching prefix decides a module's layer)
LAYERS = {
    "phy": ("semcom_blocks.phy",),
    "models": ("semcom_models",),
    "client": ("semcom_client",),
    "blocks": ("semcom_blocks",),
    "host-core": ("semcom_host", "semcom_host.schemes", "semcom_host.eval", "semcom_host.references"),
    "service": ("semcom_host.service",),
    "apps": ("semcom_host.run", "semcom_host.demo", "semcom_host.link", "semcom_host.sweep",
             "semcom_host.experiments"),
    "cli": ("semcom_host.cli", "semcom_host.commands"),
}

#: layer -> the layers its modules may import (its own included)
ALLOWED = {
    "phy": {"phy"},
    "models": {"models", "phy"},
    "client": {"client", "phy"},
    "blocks": {"blocks", "client", "models", "phy"},
    "host-core": {"host-core", "models", "phy"},
    "service": {"service", "host-core", "client", "models", "phy"},
    "apps": {"apps", "service", "host-core", "blocks", "client", "models", "phy"},
    "cli": set(LAYERS),
}

BASELINE = "daade45"  # the last commit before the layers were straightened


def layer_of(module: str) -> str:
    best, best_len = None, -1
    for layer, prefixes in LAYERS.items():
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = layer, len(p)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def find_modules(root: Path, packages: dict[str, str]) -> dict[str, Path]:
    """Importable module name -> source file, for every .py file of the packages under ``root``."""
    modules = {}
    for pkg, folder in packages.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([pkg, *parts])] = path
    return modules


def imports_of(module: str, path: Path, modules: dict[str, Path]):
    """(imported module, imported name or None, line) for each import in the file that reaches
    one of ``modules``; ``from pkg import sub`` counts as importing the module ``pkg.sub``."""
    is_pkg = path.name == "__init__.py"
    here = module if is_pkg else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target not in modules:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub, None, node.lineno) if sub in modules else (target, alias.name, node.lineno)


def check(root: Path, packages: dict[str, str] = PACKAGES) -> list[str]:
    """Every violation in the tree under ``root``: upward imports, private names imported from
    another module, and import cycles (each once, as a path of modules)."""
    modules = find_modules(root, packages)
    problems, graph = [], {m: set() for m in modules}
    for module, path in modules.items():
        rel = path.relative_to(root)
        for target, name, line in imports_of(module, path, modules):
            if target == module:
                continue
            graph[module].add(target)
            src, dst = layer_of(module), layer_of(target)
            if dst not in ALLOWED[src]:
                problems.append(f"{rel}:{line}: {module} ({src}) imports {target} ({dst}), a layer it may not use")
            if name and name.startswith("_") and not name.startswith("__"):
                problems.append(f"{rel}:{line}: {module} imports the private name {target}.{name}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per strongly connected component of more than one module."""
    index, low, stack, on_stack, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's algorithm, iterative enough for a few hundred modules
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in comps:
        members, start = set(comp), min(comp)
        path, seen = [start], {start}
        while True:  # walk inside the component until a module repeats
            nxt = min(w for w in graph[path[-1]] if w in members)
            if nxt in seen:
                out.append(path[path.index(nxt):] + [nxt])
                break
            path.append(nxt)
            seen.add(nxt)
    return out


def test_imports_go_one_way():
    problems = check(REPO)
    assert not problems, "\n".join(problems)


def test_every_module_is_in_a_layer():
    for module in find_modules(REPO, PACKAGES):
        layer_of(module)


def test_the_check_finds_the_old_cycles_and_upward_imports(tmp_path):
    """The layers as they were at BASELINE: the registry/schemes/raw-analog cycle, the blocks
    importing the host's client, private names crossing modules. The check must see them all."""
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", BASELINE,
                                  "semcom_blocks", "host", "models"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"commit {BASELINE} is not in this checkout's history")
    tar_path = tmp_path / "baseline.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(tmp_path / "tree")  # our own git archive
    old = {k: v for k, v in PACKAGES.items() if k != "semcom_client"}
    problems = "\n".join(check(tmp_path / "tree", old))
    assert "import cycle: semcom_host.schemes.common -> semcom_host.service.registry" in problems
    assert "semcom_blocks.semantic_sink (blocks) imports semcom_host.service.client (service)" in problems
    assert "semcom_host.schemes.common (host-core) imports semcom_host.service.registry (service)" in problems
    assert "imports the private name semcom_blocks.phy.channel._check_finite" in problems
