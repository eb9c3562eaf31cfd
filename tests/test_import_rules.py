"""The layer rules of the design, checked over every import in the tree.

Every `import` and `from ... import` of every module is read with `ast` (module
level, inside functions and under `if TYPE_CHECKING:` alike: an import hidden
from the interpreter is still a dependency), resolved to a first-party module
where it names one, and held against the rules below. The rules are data, so a
rule changes in one place; each is shown to catch what it forbids on a small
synthetic tree at the end of this file.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The packages of the tree, bottom to top; each may import only the first-party
# packages named here (DESIGN section 1). `tests` is not checked: tests may reach
# anything, and production never reaches them.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "protocol": frozenset({"protocol"}),
    "conflict": frozenset({"conflict", "protocol"}),
    "inventory": frozenset({"inventory", "protocol"}),
    "loyalty": frozenset({"loyalty", "protocol"}),
    "shared_tables": frozenset({"shared_tables", "conflict", "loyalty", "protocol"}),
    # Drivers: their refusals hang from the one error root (protocol.errors).
    "devices": frozenset({"devices", "protocol"}),
    "node": frozenset({"node", "protocol", "conflict", "inventory", "loyalty", "shared_tables", "devices"}),
    "hq": frozenset({"hq", "protocol", "conflict", "inventory", "loyalty", "shared_tables"}),
    "launch": frozenset({"launch"}),
    # The simulator runs the production code and may import any of it, but not the
    # CLI: what both need lives below them (launch/).
    "simulations": frozenset(
        {
            "simulations",
            "protocol",
            "conflict",
            "inventory",
            "loyalty",
            "shared_tables",
            "devices",
            "node",
            "hq",
            "launch",
        }
    ),
    "branchline": frozenset(
        {
            "branchline",
            "protocol",
            "conflict",
            "inventory",
            "loyalty",
            "shared_tables",
            "devices",
            "node",
            "hq",
            "launch",
            "simulations",
        }
    ),
    # Benchmarks measure anything, with the tests' servers.
    "benchmarks": frozenset(
        {"benchmarks", "protocol", "conflict", "inventory", "loyalty", "shared_tables"}
        | {"node", "hq", "launch", "simulations", "tests"}
    ),
}
FIRST_PARTY = frozenset(MAY_IMPORT) | {"tests"}

# The pure core is sans-IO: bytes in, values out (DESIGN section 1). These modules
# would give it sockets, files, threads, a database, an event loop or a clock.
IO_MODULES = frozenset(
    {
        "aiohttp",
        "aiosqlite",
        "asyncio",
        "os",
        "selectors",
        "serial",
        "socket",
        "sqlite3",
        "subprocess",
        "threading",
        "time",
    }
)
PURE = frozenset({"protocol", "conflict", "inventory", "loyalty"})
# Third-party packages the pure core may use besides the standard library.
PURE_THIRD_PARTY: dict[str, frozenset[str]] = {
    # argon2 hashes passwords as cryptography signs and nacl (libsodium) verifies:
    # bytes in, bytes out, no I/O.
    "protocol": frozenset({"msgpack", "cryptography", "nacl", "argon2"}),
    "conflict": frozenset(),
    "inventory": frozenset(),
    "loyalty": frozenset(),
}

# A node in layers that import one way: a module may import its own layer or any
# below it, never above. errors.py and config.py are leaves every layer may use;
# they import no other node module.
NODE_LAYERS: dict[str, int] = {"app": 4, "routes": 3, "sync": 2, "peripherals": 2, "services": 1, "store": 0}
NODE_LEAVES = frozenset({"node.errors", "node.config"})
# Business services and the store know nothing of HTTP.
NO_HTTP_LAYERS = frozenset({"services", "store", "peripherals"})
HTTP_MODULES = frozenset({"aiohttp"})


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (the longest first-party module it names)
    line: int
    path: Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path) -> Iterator[Path]:
    for package in sorted(FIRST_PARTY - {"tests"}):
        folder = root / package
        if folder.is_dir():
            yield from sorted(folder.rglob("*.py"))


def imports_in(path: Path, root: Path) -> Iterator[Import]:
    source = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, alias.name, node.lineno, path)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(source, is_package, node.module, node.level)
            # `from pkg import mod` imports pkg.mod when mod is a module of pkg.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                target = candidate if _is_module(candidate, root) else base
                yield Import(source, target, node.lineno, path)


def _resolve_from(source: str, is_package: bool, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = source.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


def _is_module(dotted: str, root: Path) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def top(dotted: str) -> str:
    return dotted.split(".")[0]


def node_layer(module: str) -> str | None:
    """The node layer a node module belongs to: app, routes, sync, services, store;
    "leaf" for errors and config; None for a module outside every layer."""
    parts = module.split(".")
    if module in NODE_LEAVES or module == "node":
        return "leaf"
    if len(parts) >= 2 and parts[1] in NODE_LAYERS:
        return parts[1]
    return None


def violations(root: Path) -> list[str]:
    """Every import in the tree at `root` that breaks a rule, as `path:line: rule`."""
    found: list[str] = []
    graph: dict[str, set[str]] = {}
    modules = {module_name(path, root) for path in source_files(root)}
    for path in source_files(root):
        source = module_name(path, root)
        graph.setdefault(source, set())
        package = top(source)
        if package == "node" and node_layer(source) is None:
            found.append(
                f"{_where(path, 1, root)}: {source} is outside node's layers ({', '.join(NODE_LAYERS)})"
            )
        for imp in imports_in(path, root):
            found.extend(_check(imp, root))
            if top(imp.target) in FIRST_PARTY and imp.target in modules and imp.target != source:
                graph[source].add(imp.target)
    for cycle in import_cycles(graph):
        found.append(f"import cycle among {', '.join(cycle)}")
    return found


def _check(imp: Import, root: Path) -> Iterator[str]:
    where = _where(imp.path, imp.line, root)
    package, target_package = top(imp.source), top(imp.target)
    if target_package in FIRST_PARTY:
        if target_package not in MAY_IMPORT[package]:
            yield f"{where}: {package}/ may not import {target_package}/ ({imp.source} imports {imp.target})"
    elif package in PURE:
        if target_package in IO_MODULES:
            yield f"{where}: {package}/ is pure and may not import {target_package} (I/O)"
        elif (
            target_package not in sys.stdlib_module_names and target_package not in PURE_THIRD_PARTY[package]
        ):
            yield f"{where}: {package}/ is pure and may not import the third-party {target_package}"
    if package == "node":
        yield from _check_node(imp, where)


def _check_node(imp: Import, where: str) -> Iterator[str]:
    layer = node_layer(imp.source)
    if layer in NO_HTTP_LAYERS and top(imp.target) in HTTP_MODULES:
        yield f"{where}: node's {layer} know no HTTP, but {imp.source} imports {imp.target}"
    if top(imp.target) != "node" or layer is None:
        return
    target_layer = node_layer(imp.target)
    if layer == "leaf":
        if target_layer != "leaf":
            yield f"{where}: {imp.source} is a leaf of node and may import only other leaves ({imp.target})"
    elif target_layer not in (None, "leaf") and NODE_LAYERS[target_layer] > NODE_LAYERS[layer]:
        yield f"{where}: node's {layer} may not import the {target_layer} layer above it ({imp.target})"


def _where(path: Path, line: int, root: Path) -> str:
    return f"{path.relative_to(root)}:{line}"


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted:
    the modules to untangle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        # Iterative, so a deep import chain cannot hit the recursion limit.
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(components)


# -- the tree itself ---------------------------------------------------------------------


def test_the_tree_keeps_every_layer_rule() -> None:
    found = violations(ROOT)
    assert not found, "imports that break the design's layer rules:\n" + "\n".join(found)


def test_the_check_reads_the_whole_tree() -> None:
    """A check that read nothing would pass anything: it sees each package and the
    edges the design relies on."""
    files = list(source_files(ROOT))
    packages = {top(module_name(path, ROOT)) for path in files}
    assert {"protocol", "conflict", "inventory", "loyalty", "shared_tables", "node", "hq"} <= packages
    assert "simulations" in packages
    edges = {(imp.source, imp.target) for path in files for imp in imports_in(path, ROOT)}
    assert ("protocol.entry", "protocol.codec") in edges
    assert any(source.startswith("hq.") and target.startswith("shared_tables.") for source, target in edges)


# -- each rule catches what it forbids, on a synthetic tree ----------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in root.rglob("*.py")}:
        if folder != root:
            (folder / "__init__.py").touch()
    return root


CLEAN = {
    "protocol/codec.py": "import hashlib\nimport msgpack\n",
    "protocol/entry.py": "from protocol import codec\nfrom . import codec as again\n",
    "conflict/ledger.py": "from protocol.entry import codec\n",
    "shared_tables/directory_store.py": "import sqlite3\nfrom conflict import ledger\n",
    "node/errors.py": "from protocol import codec\n",
    "node/config.py": "from node.errors import codec\n",
    "node/store/writer.py": "import sqlite3\nimport threading\nfrom node.errors import codec\n",
    "node/services/checkout.py": "from node.store import writer\nfrom shared_tables import directory_store\n",
    "node/sync/replicator.py": "import aiohttp\nfrom node.services import checkout\n",
    "node/routes/checkout.py": (
        "from aiohttp import web\nfrom node.services import checkout\nfrom node.sync import replicator\n"
    ),
    "node/app.py": "from node.routes import checkout\n",
    "hq/service.py": "from shared_tables.directory_store import sqlite3\n",
    "simulations/engine.py": "from node.app import checkout\nfrom hq import service\n",
    "branchline/cli.py": "def main():\n    from simulations import engine\n",
}


def test_a_clean_synthetic_tree_passes(tmp_path: Path) -> None:
    assert violations(_tree(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    ("file", "text", "rule"),
    [
        ("protocol/clock.py", "import time\n", "protocol/ is pure and may not import time (I/O)"),
        ("conflict/merge.py", "import sqlite3\n", "conflict/ is pure and may not import sqlite3 (I/O)"),
        (
            "inventory/costing.py",
            "import numpy\n",
            "inventory/ is pure and may not import the third-party numpy",
        ),
        ("protocol/wire.py", "from node import errors\n", "protocol/ may not import node/"),
        ("hq/service.py", "from node.services import checkout\n", "hq/ may not import node/"),
        ("node/services/members.py", "from hq import service\n", "node/ may not import hq/"),
        ("hq/plan.py", "def f():\n    from simulations import engine\n", "hq/ may not import simulations/"),
        ("simulations/real.py", "from branchline import cli\n", "simulations/ may not import branchline/"),
        (
            "node/services/holds.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from aiohttp import ClientSession\n",
            "node's services know no HTTP, but node.services.holds imports aiohttp",
        ),
        (
            "node/services/members.py",
            "from node.sync import replicator\n",
            "node's services may not import the sync layer above it",
        ),
        (
            "node/store/schema.py",
            "from node.routes import checkout\n",
            "node's store may not import the routes",
        ),
        (
            "node/errors.py",
            "from node.store import writer\n",
            "is a leaf of node and may import only other leaves",
        ),
        ("node/catalogue.py", "import sqlite3\n", "node.catalogue is outside node's layers"),
        (
            "protocol/entry.py",
            "from protocol import codec\nfrom protocol import signing\n",
            "import cycle among protocol.entry, protocol.signing",
        ),
    ],
)
def test_each_rule_catches_what_it_forbids(tmp_path: Path, file: str, text: str, rule: str) -> None:
    files = dict(CLEAN)
    files[file] = text
    if "cycle" in rule:
        files["protocol/signing.py"] = "from protocol.entry import codec\n"
    found = violations(_tree(tmp_path, files))
    assert any(rule in line for line in found), f"expected {rule!r} among {found}"


def test_a_cycle_through_several_modules_is_named_whole(tmp_path: Path) -> None:
    files = dict(CLEAN)
    files["node/services/a.py"] = "from node.services import b\n"
    files["node/services/b.py"] = "from node.services import c\n"
    files["node/services/c.py"] = "def later():\n    from node.services import a\n"
    found = violations(_tree(tmp_path, files))
    assert "import cycle among node.services.a, node.services.b, node.services.c" in found
