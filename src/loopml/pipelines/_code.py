"""Fingerprints of code: a step's source and the project code it calls.

Starting from the step function, every name its bytecode uses (including
nested functions and comprehensions) is looked up in its globals and
closure. Functions and classes defined in a file under the project root
(and not in an installed package) are followed transitively, and so are
attributes used on project modules (``helpers.clean`` after
``import helpers``), including modules a function imports in its own body
(``from helpers import clean`` inside a step, to keep start-up light).
Simple module-level constants of project modules (numbers, strings, tuples
of them) count too, by value. Each followed
object contributes ``module.qualname → hash of its source``.

Modules from installed packages that the step's code uses contribute their
``__version__`` instead (see :func:`library_versions`).

Reading source is the slow part, so each function's source hash is kept per
function object while it lives; the other memos (names and imports per code
object, which files are project files) hold at most :data:`_MEMO_LIMIT`
entries each, so a long-lived process that defines code on the fly does
not grow without bound.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import types
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3

__all__ = ["CodeFingerprint", "fingerprint"]

_LOOPML_DIR = str(Path(__file__).resolve().parents[1])
_SIMPLE = (int, float, str, bytes, bool, type(None))
_MEMO_LIMIT = 4096
_source_hashes: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_names_of: dict[types.CodeType, frozenset[str]] = {}
_local_files: dict[tuple[str, str], bool] = {}


class CodeFingerprint:
    """The step's own source hash, the project code it reaches, and the libraries it uses."""

    __slots__ = ("code", "libraries", "source")

    def __init__(self, source: str, code: dict[str, str], libraries: dict[str, str]) -> None:
        self.source = source
        self.code = code
        self.libraries = libraries


def fingerprint(fn: Any, root: Path) -> CodeFingerprint:
    """Hash ``fn``'s source and the project-local code reachable from it."""
    root_text = str(root)
    code: dict[str, str] = {}
    libraries: dict[str, str] = {}
    seen: set[int] = {id(fn)}
    todo = list(_references(fn, root_text))
    while todo:
        name, obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            if _is_local(getattr(obj, "__file__", None), root_text):
                continue  # its used attributes are followed by _references
            top = obj.__name__.split(".", 1)[0]
            version = getattr(sys.modules.get(top), "__version__", None)
            if isinstance(version, str):
                libraries[top] = version
            continue
        if isinstance(obj, (types.FunctionType, type)):
            if not _is_local(_file_of(obj), root_text):
                continue
            code[_qualified(obj)] = source_hash(obj)
            todo.extend(_references(obj, root_text))
        elif isinstance(obj, _SIMPLE) or _simple_tuple(obj):
            code[name] = blake3.blake3(repr(obj).encode()).hexdigest()
    return CodeFingerprint(source_hash(fn), dict(sorted(code.items())), libraries)


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


def _bytecode(obj: Any) -> bytes:
    code = getattr(obj, "__code__", None)
    if code is None:
        return repr(obj).encode()
    return code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()


def _references(obj: Any, root: str) -> Iterator[tuple[str, Any]]:
    """``(name, value)`` of every global, closure value and project-module attribute
    that ``obj`` (a function, or a class's functions) may use."""
    if isinstance(obj, type):
        for value in vars(obj).values():
            func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            if isinstance(func, property):
                func = func.fget
            if isinstance(func, types.FunctionType):
                yield from _references(func, root)
        return
    func = inspect.unwrap(obj)
    code = getattr(func, "__code__", None)
    if code is None:
        return
    names = _names(code)
    module_name = getattr(func, "__module__", None) or "?"
    namespace: dict[str, Any] = getattr(func, "__globals__", {})
    cells: dict[str, Any] = {}
    closure = getattr(func, "__closure__", None) or ()
    for var, cell in zip(code.co_freevars, closure, strict=False):
        try:
            cells[var] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    for name in names:
        if name in cells:
            value = cells[name]
        elif name in namespace:
            value = namespace[name]
        else:
            continue
        yield f"{module_name}.{name}", value
        if isinstance(value, types.ModuleType) and _is_local(
            getattr(value, "__file__", None), root
        ):
            # only project modules: their functions are what the key follows, and
            # touching an installed package's attributes could import its heavy parts
            yield from _members(value, names)
    package = namespace.get("__package__") or module_name.rpartition(".")[0]
    for imported, level in _imports(code):
        module = _project_module(imported, level, package, root)
        if module is not None:
            yield module.__name__, module
            yield from _members(module, names)


def _members(module: types.ModuleType, names: frozenset[str]) -> Iterator[tuple[str, Any]]:
    for attr in names:
        member = getattr(module, attr, None)
        if member is not None and not isinstance(member, types.ModuleType):
            yield f"{module.__name__}.{attr}", member


_imports_of: dict[types.CodeType, tuple[tuple[str, int], ...]] = {}


def _imports(code: types.CodeType) -> tuple[tuple[str, int], ...]:
    """``(module, level)`` of every import statement in ``code`` and its nested code."""
    found = _imports_of.get(code)
    if found is None:
        import dis

        collected: list[tuple[str, int]] = []
        stack = [code]
        while stack:
            c = stack.pop()
            level = 0
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


def _project_module(name: str, level: int, package: str, root: str) -> types.ModuleType | None:
    """The module an import names when it is project code (imported now if need be,
    which for project code is cheap); None for installed packages, which are not
    imported here."""
    import importlib
    import importlib.util

    if not root:
        return None
    try:
        full = importlib.util.resolve_name("." * level + name, package) if level else name
    except (ImportError, ValueError):
        return None
    module = sys.modules.get(full)
    if module is None:
        top = full.split(".", 1)[0]
        loaded = sys.modules.get(top)
        if loaded is not None:
            origin = getattr(loaded, "__file__", None)
        else:
            try:
                spec = importlib.util.find_spec(top)
            except (ImportError, ValueError):
                return None
            origin = spec.origin if spec is not None else None
        if not _is_local(origin, root):
            return None
        try:
            module = importlib.import_module(full)
        except Exception:
            return None
    return module if _is_local(getattr(module, "__file__", None), root) else None


def _names(code: types.CodeType) -> frozenset[str]:
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
