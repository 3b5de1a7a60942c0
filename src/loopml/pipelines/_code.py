"""Fingerprints of code: a step's source and the project code it calls, read from source.

Nothing is imported or run to compute a fingerprint: the step function's
file is parsed (:mod:`ast`), and every name its body uses is looked up
among the module's top-level definitions, imports and assignments. What a
name leads to is followed transitively, through other project modules too,
whose files are found on ``sys.path`` the way ``import`` would find them
(without executing them, not even a package's ``__init__``):

- a function or class defined in a project file contributes
  ``module.qualname → hash of its source``, then the names it uses;
- a module-level assignment (``LIMIT = 2``, ``FORESTS = {...}``)
  contributes ``module.NAME → hash of the statement``, then the names it
  uses; it is named after the module the step's code looked it up in
  (``helpers.LIMIT`` for ``from consts import LIMIT`` in ``helpers.py``);
- ``import helpers`` / ``from helpers import clean`` at module level or in
  a function's body (``from models import make_estimator`` inside a step,
  to keep start-up light) lead into ``helpers.py``; for a module, the
  attributes the code uses (``helpers.clean``, ``pkg.tools.twice``) are
  followed, submodules included;
- a module of an installed package contributes the version of its
  distribution (see :func:`loopml.pipelines._cache.library_versions`), read
  from its metadata, never from the module, so the key does not depend on
  what this process happens to have imported.

A project file is one under the project root, outside ``site-packages``
and loopml itself. Values only a live function has (its closure cells) are
read from it: functions and classes by their source, simple values (numbers,
strings, tuples of them) by value. A step whose file is not a project file
(a notebook cell, ``exec``, ``python -c``) falls back to its live globals,
read the same way.

Parsed files are kept by content hash: each fingerprint reads the files it
visits (a few microseconds each), so an edit is always seen; memos hold at
most :data:`_MEMO_LIMIT` entries each.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import inspect
import linecache
import sys
import types
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3

__all__ = ["CodeFingerprint", "fingerprint", "is_project_code", "source_hash"]

_LOOPML_DIR = str(Path(__file__).resolve().parents[1])
_SIMPLE = (int, float, str, bytes, bool, type(None))
_MEMO_LIMIT = 4096
_source_hashes: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_local_files: dict[tuple[str, str], bool] = {}
#: distribution names of modules whose import name differs (the rest are looked up as is)
_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "PyYAML",
    "PIL": "Pillow",
    "cv2": "opencv-python",
    "dateutil": "python-dateutil",
}
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)


class CodeFingerprint:
    """The step's own source hash, the project code it reaches, and the libraries it uses."""

    __slots__ = ("code", "libraries", "source")

    def __init__(self, source: str, code: dict[str, str], libraries: dict[str, str]) -> None:
        self.source = source
        self.code = code
        self.libraries = libraries


def fingerprint(fn: Any, root: Path) -> CodeFingerprint:
    """Hash ``fn``'s source and the project code reachable from it (see the module
    docstring); nothing is imported."""
    walker = _Walker(str(root))
    walker.function(inspect.unwrap(fn) if isinstance(fn, types.FunctionType) else fn)
    return CodeFingerprint(
        source_hash(fn), walker.digests(), dict(sorted(walker.libraries.items()))
    )


def source_hash(obj: Any) -> str:
    """The BLAKE3 hash of ``obj``'s source (of its bytecode when there is no source)."""
    target = inspect.unwrap(obj) if isinstance(obj, types.FunctionType) else obj
    try:
        return _source_hashes[target]
    except (KeyError, TypeError):
        pass
    try:
        text = inspect.getsource(target).encode()
    except (OSError, TypeError):
        text = _bytecode(target)
    digest = blake3.blake3(text).hexdigest()
    with contextlib.suppress(TypeError):  # not weak-referenceable: hash it again next time
        _source_hashes[target] = digest
    return digest


def is_project_code(obj: Any, root: Path) -> bool:
    """Whether a function or class is defined in a project file (see the module docstring)."""
    return _is_local(_file_of(obj), str(root))


# -- parsed files -----------------------------------------------------------------------


@dataclass(eq=False)
class _Binding:
    """What a module-level statement binds a name to."""

    kind: str  # "def" (function or class), "assign", "module" or "from"
    node: ast.AST | None = None
    module: str = ""  # "module": the module; "from": the module named (maybe relative)
    level: int = 0  # "from": the leading dots
    name: str = ""  # "from": the name imported


@dataclass(eq=False)
class _Parsed:
    """A parsed source file: its top-level bindings and memos per node."""

    digest: str
    lines: list[str]
    tree: ast.Module
    bindings: dict[str, list[_Binding]]
    stars: list[tuple[int, str]]
    scans: dict[int, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    imports: dict[int, list[ast.Import | ast.ImportFrom]] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    functions: dict[tuple[str, int], list[ast.AST]] | None = None

    def text_hash(self, node: ast.AST) -> str:
        found = self.texts.get(id(node))
        if found is None:
            start = _first_line(node)
            end = getattr(node, "end_lineno", None) or start
            text = "".join(self.lines[start - 1 : end])
            found = self.texts[id(node)] = blake3.blake3(text.encode()).hexdigest()
        return found

    def scan(self, node: ast.AST) -> tuple[frozenset[str], frozenset[str]]:
        """``(free, names)`` of ``node`` (see :func:`_scan`)."""
        found = self.scans.get(id(node))
        if found is None:
            found = self.scans[id(node)] = _scan(node)
        return found

    def imports_in(self, node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
        found = self.imports.get(id(node))
        if found is None:
            found = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
            self.imports[id(node)] = found
        return found

    def function_nodes(self, code: types.CodeType) -> list[ast.AST]:
        """The ``def`` (or ``lambda``) nodes a code object was compiled from."""
        if self.functions is None:
            index: dict[tuple[str, int], list[ast.AST]] = {}
            for node in ast.walk(self.tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    index.setdefault((node.name, _first_line(node)), []).append(node)
                elif isinstance(node, ast.Lambda):
                    index.setdefault(("<lambda>", node.lineno), []).append(node)
            self.functions = index
        return self.functions.get((code.co_name, code.co_firstlineno), [])


_parsed: dict[str, _Parsed] = {}


def _parse(path: str) -> _Parsed | None:
    """The parsed file at ``path`` (from the memo when its bytes are unchanged)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        lines = linecache.getlines(path)  # a notebook cell, say: no file, but its source
        if not lines:
            return None
        data = "".join(lines).encode()
    digest = blake3.blake3(data).hexdigest()
    found = _parsed.get(path)
    if found is not None and found.digest == digest:
        return found
    try:
        text = data.decode("utf-8")
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return None
    bindings, stars = _bindings(tree)
    parsed = _Parsed(digest, text.splitlines(keepends=True), tree, bindings, stars)
    _remember(_parsed, path, parsed)
    return parsed


def _bindings(tree: ast.Module) -> tuple[dict[str, list[_Binding]], list[tuple[int, str]]]:
    """Top-level names and what binds them (inside ``if``/``try``/``with``/``for`` blocks
    too, not inside functions or classes); and the modules of ``from x import *``."""
    found: dict[str, list[_Binding]] = {}
    stars: list[tuple[int, str]] = []

    def add(name: str, binding: _Binding) -> None:
        found.setdefault(name, []).append(binding)

    def targets(node: ast.AST, stmt: ast.stmt) -> None:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                add(n.id, _Binding("assign", stmt))

    def visit(body: Iterable[ast.stmt]) -> None:
        for st in body:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                add(st.name, _Binding("def", st))
            elif isinstance(st, ast.Import):
                for alias in st.names:
                    if alias.asname:
                        add(alias.asname, _Binding("module", st, module=alias.name))
                    else:
                        top = alias.name.split(".", 1)[0]
                        add(top, _Binding("module", st, module=top))
            elif isinstance(st, ast.ImportFrom):
                for alias in st.names:
                    if alias.name == "*":
                        stars.append((st.level, st.module or ""))
                    else:
                        binding = _Binding(
                            "from", st, module=st.module or "", level=st.level, name=alias.name
                        )
                        add(alias.asname or alias.name, binding)
            elif isinstance(st, (ast.Assign, ast.AugAssign)):
                for target in st.targets if isinstance(st, ast.Assign) else [st.target]:
                    targets(target, st)
            elif isinstance(st, ast.AnnAssign):
                if st.value is not None:
                    targets(st.target, st)
            elif isinstance(st, (ast.For, ast.AsyncFor)):
                targets(st.target, st)
                visit(st.body)
                visit(st.orelse)
            elif isinstance(st, (ast.With, ast.AsyncWith)):
                for item in st.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars, st)
                visit(st.body)
            elif isinstance(st, (ast.If, ast.While)):
                visit(st.body)
                visit(st.orelse)
            elif isinstance(st, ast.Try) or type(st).__name__ == "TryStar":
                visit(st.body)  # type: ignore[attr-defined]
                for handler in st.handlers:  # type: ignore[attr-defined]
                    visit(handler.body)
                visit(st.orelse)  # type: ignore[attr-defined]
                visit(st.finalbody)  # type: ignore[attr-defined]
            elif type(st).__name__ == "Match":
                for case in st.cases:  # type: ignore[attr-defined]
                    visit(case.body)

    visit(tree.body)
    return found, stars


def _scan(node: ast.AST) -> tuple[frozenset[str], frozenset[str]]:
    """``(free, names)`` of a top-level statement: the names it looks up in its module
    (not its parameters or locals), and every name and attribute name it mentions
    (the attributes it may use of a module). Annotations are left out: they do not
    run."""
    names: set[str] = set()
    free = _free_in([node], set(), names, False)
    return frozenset(free), frozenset(names)


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _free_in(nodes: list[ast.AST], params: set[str], names: set[str], is_class: bool) -> set[str]:
    """The free names of a scope made of ``nodes`` (Python's rules, simplified: a name
    assigned anywhere in a function is local to it; a class body's names are not seen
    by its methods)."""
    bound = set(params)
    loads: set[str] = set()
    declared: set[str] = set()
    inner: set[str] = set()
    stack = list(nodes)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name):
            names.add(n.id)
            (loads if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.Attribute):
            names.add(n.attr)
            stack.append(n.value)
        elif isinstance(n, ast.Global):
            declared.update(n.names)
            names.update(n.names)
        elif isinstance(n, ast.Nonlocal):
            bound.update(n.names)
        elif isinstance(n, ast.alias):
            if n.name != "*":
                dotted = n.name.split(".")
                names.update(dotted)
                if n.asname:
                    names.add(n.asname)
                bound.add(n.asname or dotted[0])
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if not isinstance(n, ast.Lambda):
                bound.add(n.name)
                stack.extend(n.decorator_list)
            stack.extend(n.args.defaults)
            stack.extend(d for d in n.args.kw_defaults if d is not None)
            body: list[ast.AST] = [n.body] if isinstance(n, ast.Lambda) else list(n.body)
            inner |= _free_in(body, _params(n.args), names, False)
        elif isinstance(n, ast.ClassDef):
            bound.add(n.name)
            stack.extend(n.decorator_list)
            stack.extend(n.bases)
            stack.extend(k.value for k in n.keywords)
            inner |= _free_in(list(n.body), set(), names, True)
        elif isinstance(n, _COMPREHENSIONS):
            gens = n.generators
            stack.append(gens[0].iter)
            parts: list[ast.AST] = [n.key, n.value] if isinstance(n, ast.DictComp) else [n.elt]
            parts += [g.target for g in gens] + [g.iter for g in gens[1:]]
            parts += [cond for g in gens for cond in g.ifs]
            inner |= _free_in(parts, set(), names, False)
        elif isinstance(n, ast.arg):
            continue
        elif isinstance(n, ast.AnnAssign):
            stack.append(n.target)
            if n.value is not None:
                stack.append(n.value)
        else:
            if isinstance(n, ast.ExceptHandler) and n.name:
                bound.add(n.name)
            captured = getattr(n, "name", None) if type(n).__name__ in _MATCH_NAMES else None
            if isinstance(captured, str):
                bound.add(captured)
            rest = getattr(n, "rest", None) if type(n).__name__ == "MatchMapping" else None
            if isinstance(rest, str):
                bound.add(rest)
            stack.extend(ast.iter_child_nodes(n))
    own = bound - declared
    found = (loads - own) | declared
    return found | (inner if is_class else inner - own)


_MATCH_NAMES = frozenset({"MatchAs", "MatchStar"})


def _params(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", None)
    line: int = getattr(node, "lineno", 1)
    if decorators:
        line = min(line, *(d.lineno for d in decorators))
    return line


# -- finding modules without importing them ----------------------------------------------


@dataclass(eq=False)
class _Module:
    """A project module as the walker sees it: its file (None for a namespace package)."""

    name: str
    package: str
    parsed: _Parsed | None
    is_package: bool
    path: str


def _locate(full: str) -> tuple[str | None, list[str] | None] | None:
    """``(file, submodule search locations)`` of the module ``full``, found the way the
    import system would (``sys.modules``, then ``sys.meta_path`` finders) without
    running it or its parents; None when there is no such module."""
    parts = full.split(".")
    search: list[str] | None = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        module = sys.modules.get(name)
        if module is not None:
            origin = getattr(module, "__file__", None)
            locations = getattr(module, "__path__", None)
        else:
            spec = _find_spec(name, search)
            if spec is None:
                return None
            origin = spec.origin if spec.has_location else None
            locations = spec.submodule_search_locations
        if i == len(parts) - 1:
            return origin, list(locations) if locations is not None else None
        if locations is None:
            return None  # an attribute of a module, not a submodule
        search = list(locations)
    return None


def _find_spec(name: str, path: list[str] | None) -> Any:
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, path)
        except Exception:  # a finder that cannot answer for this name
            continue
        if spec is not None:
            return spec
    return None


@functools.lru_cache(maxsize=512)
def _distribution_version(top: str) -> str | None:
    import importlib.metadata

    for name in (_DISTRIBUTIONS.get(top), top):
        if not name:
            continue
        try:
            return importlib.metadata.version(name)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            continue
    return None


# -- the walk -----------------------------------------------------------------------------


class _Walker:
    """Follows names from a function through the project's code, collecting entries."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.entries: dict[str, list[str]] = {}
        self.libraries: dict[str, str] = {}
        self.modules: dict[str, _Module | None] = {}
        self.files: dict[str, _Parsed | None] = {}
        self.seen: set[Any] = set()

    def digests(self) -> dict[str, str]:
        out = {}
        for name, hashes in sorted(self.entries.items()):
            unique = sorted(set(hashes))
            out[name] = (
                unique[0]
                if len(unique) == 1
                else blake3.blake3("".join(unique).encode()).hexdigest()
            )
        return out

    def record(self, name: str, digest: str) -> None:
        self.entries.setdefault(name, []).append(digest)

    # entry points: live function objects ------------------------------------------------

    def function(self, func: Any) -> None:
        """Follow a live function: from its source when it has a file, else its globals."""
        code = getattr(func, "__code__", None)
        if code is None or ("fn", id(code)) in self.seen:
            return
        self.seen.add(("fn", id(code)))
        module = self.module_of_function(func) if _is_local(code.co_filename, self.root) else None
        nodes = module.parsed.function_nodes(code) if module and module.parsed else []
        if module is not None and module.parsed is not None and nodes:
            for node in nodes:
                self.node(module, node)
        else:  # no project file (a notebook cell, exec): what its globals hold now
            self.live_function(func, code)
        closure = getattr(func, "__closure__", None) or ()
        names = _code_names(code)
        for var, cell in zip(code.co_freevars, closure, strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self.live_value(f"{getattr(func, '__module__', None) or '?'}.{var}", value, names)

    def module_of_function(self, func: Any) -> _Module | None:
        path = func.__code__.co_filename
        if not path or path.startswith("<"):
            return None
        parsed = self.parse(path)
        if parsed is None:
            return None
        name = getattr(func, "__module__", None) or "?"
        globs = getattr(func, "__globals__", {})
        package = globs.get("__package__")
        if not isinstance(package, str):
            package = name.rpartition(".")[0]
        return _Module(name, package, parsed, globs.get("__path__") is not None, path)

    def live_function(self, func: Any, code: types.CodeType) -> None:
        """A function without a parseable source: its names, looked up in its globals."""
        names = _code_names(code)
        module_name = getattr(func, "__module__", None) or "?"
        namespace: dict[str, Any] = getattr(func, "__globals__", {})
        for name in names:
            if name in namespace:
                self.live_value(f"{module_name}.{name}", namespace[name], names)
        package = namespace.get("__package__") or module_name.rpartition(".")[0]
        for imported, level in _code_imports(code):
            full = _absolute(imported, level, package)
            if full is not None:
                self.module_ref(full, names)

    def live_value(self, label: str, value: Any, names: frozenset[str]) -> None:
        if isinstance(value, types.ModuleType):
            self.module_ref(value.__name__, names)
        elif isinstance(value, types.FunctionType):
            target = inspect.unwrap(value)
            if _is_local(_file_of(target), self.root):
                self.record(_qualified(target), self.object_hash(target))
                self.function(target)
        elif isinstance(value, type):
            if _is_local(_file_of(value), self.root):
                self.record(_qualified(value), source_hash(value))
                for member in vars(value).values():
                    func = (
                        member.__func__
                        if isinstance(member, (classmethod, staticmethod))
                        else member
                    )
                    if isinstance(func, property):
                        func = func.fget
                    if isinstance(func, types.FunctionType):
                        self.function(func)
        elif isinstance(value, _SIMPLE) or _simple_tuple(value):
            self.record(label, blake3.blake3(repr(value).encode()).hexdigest())

    def object_hash(self, func: Any) -> str:
        """A live function's hash: its source in its file, as a static walk would see it."""
        module = self.module_of_function(func)
        if module is not None and module.parsed is not None:
            nodes = module.parsed.function_nodes(func.__code__)
            if nodes:
                return blake3.blake3(
                    "".join(module.parsed.text_hash(n) for n in nodes).encode()
                ).hexdigest()
        return source_hash(func)

    # the static walk ------------------------------------------------------------------

    def node(self, module: _Module, node: ast.AST) -> None:
        """Follow the names a function, class or statement of ``module`` uses."""
        assert module.parsed is not None
        if ("node", module.path, id(node)) in self.seen:
            return
        self.seen.add(("node", module.path, id(node)))
        parsed = module.parsed
        free, names = parsed.scan(node)
        for stmt in parsed.imports_in(node):
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    self.module_ref(alias.name, names)
                    self.module_ref(alias.name.split(".", 1)[0], names)
            else:
                base = _absolute(stmt.module or "", stmt.level, module.package)
                if base is None:
                    continue
                for alias in stmt.names:
                    if alias.name == "*":
                        self.module_ref(base, names)
                    else:
                        self.import_from(base, alias.name, names, f"{base}.{alias.name}")
        for name in sorted(free):
            if name in parsed.bindings or parsed.stars:
                self.lookup(module, name, names, f"{module.name}.{name}")

    def lookup(self, module: _Module, name: str, names: frozenset[str], label: str) -> None:
        """Follow what ``name`` is bound to at the top of ``module``."""
        parsed = module.parsed
        if parsed is None or ("name", module.path, name, label) in self.seen:
            return
        self.seen.add(("name", module.path, name, label))
        bindings = parsed.bindings.get(name)
        if not bindings:
            for level, star in parsed.stars:
                base = _absolute(star, level, module.package)
                found = self.module(base) if base else None
                if found is not None:
                    self.lookup(found, name, names, label)
            return
        defs = [b.node for b in bindings if b.kind == "def" and b.node is not None]
        if defs:
            for node in defs:
                self.record(f"{module.name}.{name}", parsed.text_hash(node))
                self.node(module, node)
        assigns = [b.node for b in bindings if b.kind == "assign" and b.node is not None]
        for stmt in dict.fromkeys(assigns):
            self.record(label, parsed.text_hash(stmt))
            self.node(module, stmt)
        for b in bindings:
            if b.kind == "module":
                self.module_ref(b.module, names)
            elif b.kind == "from":
                base = _absolute(b.module, b.level, module.package)
                if base is not None:
                    self.import_from(base, b.name, names, label)

    def import_from(self, base: str, name: str, names: frozenset[str], label: str) -> None:
        """``from base import name``: a name defined in ``base``, or its submodule."""
        module = self.module(base)
        if module is None:
            return
        if module.parsed is not None and (name in module.parsed.bindings or module.parsed.stars):
            self.lookup(module, name, names, label)
        if module.is_package and (name not in (module.parsed.bindings if module.parsed else {})):
            self.module_ref(f"{base}.{name}", names)

    def module_ref(self, full: str, names: frozenset[str]) -> None:
        """A module the code uses: for a project module, the attributes it uses."""
        if ("module", full, names) in self.seen:
            return
        self.seen.add(("module", full, names))
        module = self.module(full)
        if module is None:
            return
        bound = module.parsed.bindings if module.parsed is not None else {}
        for name in sorted(names):
            if name in bound or (module.parsed is not None and module.parsed.stars):
                self.lookup(module, name, names, f"{full}.{name}")
            elif module.is_package:
                self.module_ref(f"{full}.{name}", names)

    def module(self, full: str) -> _Module | None:
        """The project module ``full`` (parsed), or None: an installed package's module
        (whose distribution version is noted), the standard library, or no module."""
        if full in self.modules:
            return self.modules[full]
        found: _Module | None = None
        top = full.split(".", 1)[0]
        if top and top not in _STDLIB and top != "loopml" and top != "__main__":
            located = _locate(full)
            if located is not None:
                origin, locations = located
                if origin is not None:
                    if _is_local(origin, self.root):
                        if origin.endswith(".py"):
                            parsed = self.parse(origin)
                            package = full if locations is not None else full.rpartition(".")[0]
                            found = _Module(full, package, parsed, locations is not None, origin)
                    else:
                        self.library(top)
                elif locations and any(_is_local(p + "/x", self.root) for p in locations):
                    found = _Module(full, full, None, True, locations[0])  # a namespace package
                elif locations:
                    self.library(top)
        self.modules[full] = found
        return found

    def library(self, top: str) -> None:
        version = _distribution_version(top)
        if version is not None:
            self.libraries[_DISTRIBUTIONS.get(top, top)] = version

    def parse(self, path: str) -> _Parsed | None:
        if path not in self.files:
            self.files[path] = _parse(path)
        return self.files[path]


# -- helpers ------------------------------------------------------------------------------


def _absolute(name: str, level: int, package: str) -> str | None:
    if not level:
        return name or None
    try:
        return importlib.util.resolve_name("." * level + name, package)
    except (ImportError, ValueError):
        return None


def _bytecode(obj: Any) -> bytes:
    code = getattr(obj, "__code__", None)
    if code is None:
        return repr(obj).encode()
    return bytes(code.co_code) + repr(code.co_consts).encode() + repr(code.co_names).encode()


_names_of: dict[types.CodeType, frozenset[str]] = {}
_imports_of: dict[types.CodeType, tuple[tuple[str, int], ...]] = {}


def _code_names(code: types.CodeType) -> frozenset[str]:
    """The global and attribute names a code object (and its nested code) uses."""
    found = _names_of.get(code)
    if found is None:
        collected: set[str] = set()
        stack = [code]
        while stack:
            c = stack.pop()
            collected.update(c.co_names)
            collected.update(c.co_freevars)
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        found = _remember(_names_of, code, frozenset(collected))
    return found


def _code_imports(code: types.CodeType) -> tuple[tuple[str, int], ...]:
    """``(module, level)`` of every import statement in ``code`` and its nested code."""
    found = _imports_of.get(code)
    if found is None:
        import dis

        collected: list[tuple[str, int]] = []
        stack = [code]
        while stack:
            c = stack.pop()
            consts: list[Any] = []
            for ins in dis.get_instructions(c):
                if ins.opname == "LOAD_CONST":
                    consts.append(ins.argval)
                elif ins.opname == "IMPORT_NAME":
                    level = consts[-2] if len(consts) >= 2 and isinstance(consts[-2], int) else 0
                    collected.append((str(ins.argval), level))
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        found = _remember(_imports_of, code, tuple(dict.fromkeys(collected)))
    return found


def _file_of(obj: Any) -> str | None:
    if isinstance(obj, type):
        module = sys.modules.get(obj.__module__)
        return getattr(module, "__file__", None)
    code = getattr(inspect.unwrap(obj), "__code__", None)
    return code.co_filename if code is not None else None


def _is_local(path: str | None, root: str) -> bool:
    """Whether ``path`` is a project file: under ``root``, not in an installed package
    and not loopml itself."""
    if not path:
        return False
    key = (path, root)
    found = _local_files.get(key)
    if found is None:
        resolved = str(Path(path).resolve()) if not path.startswith("<") else ""
        found = (
            bool(resolved)
            and resolved.startswith(root.rstrip("/") + "/")
            and "site-packages" not in resolved
            and "dist-packages" not in resolved
            and not resolved.startswith(_LOOPML_DIR + "/")
            and not resolved.startswith(sys.prefix.rstrip("/") + "/")
        )
        _remember(_local_files, key, found)
    return found


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """Store ``value`` in ``memo``, emptying it first when it is full; returns ``value``."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _simple_tuple(obj: Any) -> bool:
    return type(obj) in (tuple, frozenset) and all(isinstance(v, _SIMPLE) for v in obj)
