"""The step cache: keys, lookups, entries and the reasons a step hit or missed.

A step's cache key is the BLAKE3 hash of its :class:`KeyParts`:

``source``     the hash of the step function's source;
``code``       ``module.qualname → source hash`` of the project-local functions
               and classes it calls, transitively, and of the module-level
               assignments they use — read from the files, nothing imported
               (see :mod:`loopml.pipelines._code`);
``params``     the hash of each argument that is a plain value, of an encoding
               that keeps its type and value (:func:`canonical`);
``inputs``     the content hash of each argument that is another step's
               output (its stored digest) or a dataset version (its manifest
               digest, for a ``DatasetVersion`` or a ``data:/...`` URI);
``libraries``  Python, loopml, NumPy, pandas and scikit-learn versions (those
               installed), plus the installed version of each package the
               step's code uses;
``scheme``     the version of this recipe (:data:`KEY_SCHEME`).

Stored outputs are a function of their value (each built-in materializer
writes equal values as equal bytes), so a step that recomputes an equal
output leaves the keys of the steps after it unchanged.

An entry is a hit only when every output object it lists is still in the
artifact store and its bytes match its hash. On a miss, the parts are
compared with the closest earlier entry of the same step (the one whose
parts differ least, one of the same pipeline first, then the newest) to say
what changed, and which entry that was. Entries are stored by
``_repository``; ``cache:/<key>`` names one in the URI registry
(:func:`resolve`, :func:`describe`).
"""

from __future__ import annotations

import functools
import pickle
import platform
import struct
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3
import orjson

from loopml.context import Context
from loopml.errors import InvalidInput, NotFound
from loopml.lineage import Node
from loopml.pipelines import _repository
from loopml.pipelines._materializers import PACKAGES, package_files
from loopml.store.artifacts import ArtifactStore
from loopml.store.metadata import MetadataStore
from loopml.tracking import environment
from loopml.uri import CacheURI, parse_cache_uri

__all__ = [
    "KEY_SCHEME",
    "CacheEntry",
    "KeyParts",
    "Lookup",
    "OutputRecord",
    "canonical",
    "closest",
    "describe",
    "explain_miss",
    "hash_value",
    "library_versions",
    "lookup",
    "resolve",
    "save_entry",
]

_KEY_LIBRARIES = ("numpy", "pandas", "scikit-learn")
#: The version of the key recipe; entries written under another one never match.
KEY_SCHEME = 2
#: How many of a step's newest entries a miss is compared with, to find the closest.
_EXPLAIN_CANDIDATES = 200


@dataclass(frozen=True)
class OutputRecord:
    """A stored output: its name, object hash, size, materializer and artifact path."""

    name: str
    digest: str
    size: int
    materializer: str
    path: str


@dataclass
class KeyParts:
    """What a step's cache key is made of (see the module docstring)."""

    source: str
    code: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    scheme: int = KEY_SCHEME

    def key(self, step: str) -> str:
        payload = orjson.dumps({"step": step, **asdict(self)}, option=orjson.OPT_SORT_KEYS)
        return blake3.blake3(payload).hexdigest()

    def to_json(self, **extra: str) -> str:
        """The parts as JSON, with ``extra`` fields that are not part of the key (the
        pipeline that stored the entry)."""
        return orjson.dumps({**extra, **asdict(self)}, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str) -> KeyParts:
        data = orjson.loads(text)
        return cls(
            source=data.get("source", ""),
            code=data.get("code", {}),
            params=data.get("params", {}),
            inputs=data.get("inputs", {}),
            libraries=data.get("libraries", {}),
            scheme=data.get("scheme", 1),
        )

    def distance(self, other: KeyParts) -> int:
        """How many parts differ from ``other`` (each code, param, input and library
        entry counts once)."""
        if self.scheme != other.scheme:
            return 1_000_000
        return (
            (self.source != other.source)
            + len(_changed(self.code, other.code))
            + len(_changed(self.params, other.params))
            + len(_changed(self.inputs, other.inputs))
            + len(_changed(self.libraries, other.libraries))
        )


@dataclass
class CacheEntry:
    """A stored cache entry."""

    key: str
    step: str
    parts: KeyParts
    outputs: list[OutputRecord]
    run_id: str | None
    created_at: float
    pipeline: str = ""

    @property
    def uri(self) -> str:
        """``cache:/<key>``."""
        return str(CacheURI(self.key))


@dataclass
class Lookup:
    """The result of a lookup: the usable entry (a hit) or None, and why; for a miss,
    the earlier entry the key was compared with (``compared``), if any."""

    entry: CacheEntry | None
    reason: str
    compared: CacheEntry | None = None

    @property
    def compared_with(self) -> str | None:
        """``cache:/<key> (run <id>)`` of the entry a miss was explained against."""
        found = self.compared
        if found is None:
            return None
        return f"{found.uri} (run {found.run_id})" if found.run_id else found.uri


@functools.lru_cache(maxsize=1)
def _base_libraries() -> tuple[tuple[str, str], ...]:
    from loopml import __version__

    # every run records these versions already (see loopml.tracking._capture)
    installed = dict(environment())
    found = [("python", platform.python_version()), ("loopml", __version__)]
    found += [(name, installed[name]) for name in _KEY_LIBRARIES if name in installed]
    return tuple(found)


def library_versions(used: Mapping[str, str]) -> dict[str, str]:
    """The key's library versions: the base set plus the packages the step uses."""
    versions = dict(_base_libraries())
    for name, version in used.items():
        versions.setdefault(name, version)
    return dict(sorted(versions.items()))


def hash_value(value: Any) -> str:
    """The BLAKE3 hash of :func:`canonical` ``(value)``: equal only for values of the
    same type and the same value (see there)."""
    return blake3.blake3(canonical(value)).hexdigest()


def canonical(value: Any) -> bytes:
    """A byte encoding of a parameter value that keeps its type and its value.

    Each value is a type tag and its content, lengths first, so no two
    different values encode alike: ``None``, ``nan``, ``inf`` and ``-inf``
    differ; ``1``, ``1.0``, ``True`` and ``"1"`` differ; so do a tuple and a
    list, ``{1: x}`` and ``{"1": x}``, ``b"a"`` and ``"a"``. Integers of any
    size are kept exactly; floats by their 64 bits (``0.1`` is not
    ``0.1000000000000000055511151231257827``, and ``-0.0`` is not ``0.0``,
    since ``1 / x`` tells them apart). A dict keeps its order (a step may
    iterate it); a set is sorted. NumPy values keep their dtype, shape and
    bytes; an enum member its class and name; a dataclass its fields;
    functions and classes their qualified name and source. A value with a
    materializer (a DataFrame, an estimator, a registered type) is keyed by
    the bytes it would be stored as; anything else by its pickle, else its
    ``repr``.
    """
    out = bytearray()
    _encode(value, out, 0)
    return bytes(out)


_MAX_DEPTH = 256
_PACK_LEN = struct.Struct(">Q").pack
_PACK_FLOAT = struct.Struct(">d").pack


def _encode(value: Any, out: bytearray, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidInput(
            f"a step argument nests more than {_MAX_DEPTH} levels deep (or contains itself); "
            "pass a flatter value, or store it as a step output."
        )
    cls = type(value)
    if value is None:
        out += b"N"
    elif cls is bool:
        out += b"T" if value else b"F"
    elif cls is int:
        data = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
        out += b"i" + _PACK_LEN(len(data)) + data
    elif cls is float:
        out += b"f" + _PACK_FLOAT(value)
    elif cls is str:
        data = value.encode("utf-8", "surrogatepass")
        out += b"s" + _PACK_LEN(len(data)) + data
    elif cls is bytes or cls is bytearray:
        out += (b"b" if cls is bytes else b"a") + _PACK_LEN(len(value)) + value
    elif cls is list or cls is tuple:
        out += (b"l" if cls is list else b"t") + _PACK_LEN(len(value))
        for item in value:
            _encode(item, out, depth + 1)
    elif cls is dict:
        out += b"d" + _PACK_LEN(len(value))
        for key, item in value.items():
            _encode(key, out, depth + 1)
            _encode(item, out, depth + 1)
    elif cls is set or cls is frozenset:
        items = sorted(_encoded(v, depth + 1) for v in value)
        out += (b"S" if cls is set else b"Z") + _PACK_LEN(len(items))
        for item in items:
            out += item
    elif cls is complex:
        out += b"c" + _PACK_FLOAT(value.real) + _PACK_FLOAT(value.imag)
    else:
        _encode_object(value, out, depth)


def _encoded(value: Any, depth: int) -> bytes:
    part = bytearray()
    _encode(value, part, depth)
    return bytes(part)


_BUILTIN_BASES: tuple[type, ...] = (bool, int, float, complex, str, bytes, bytearray, list)
_BUILTIN_BASES += (tuple, dict, set, frozenset)
_REPR_KEYED = {
    "datetime.date",
    "datetime.datetime",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
    "builtins.range",
    "builtins.slice",
}


def _encode_object(value: Any, out: bytearray, depth: int) -> None:
    """Anything but the plain built-in types: tagged with its type's qualified name."""
    import dataclasses
    import enum
    import types

    cls = type(value)
    name = f"{cls.__module__}.{cls.__qualname__}"
    out += b"o"
    _encode(name, out, depth + 1)
    from loopml.pipelines._materializers import find_materializer, registered_materializer

    mat = registered_materializer(value)
    if mat is not None:
        _encode(mat.save(value), out, depth + 1)
    elif isinstance(value, enum.Enum):
        _encode((value.name, value.value), out, depth + 1)
    elif cls.__module__ == "numpy" and hasattr(value, "dtype") and hasattr(value, "tobytes"):
        if value.dtype.hasobject:
            _encode((value.shape, value.tolist()), out, depth + 1)
        else:  # tobytes() is in C order whatever the layout
            _encode((value.dtype.str, value.shape, value.tobytes()), out, depth + 1)
    elif isinstance(value, types.FunctionType):
        _encode(_code_identity(value), out, depth + 1)
        _encode_function_state(value, out, depth + 1)
    elif isinstance(value, type):
        _encode(_code_identity(value), out, depth + 1)
    elif isinstance(value, types.MethodType):
        _encode((value.__self__, value.__func__), out, depth + 1)
    elif dataclasses.is_dataclass(value):
        fields = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
        _encode(fields, out, depth + 1)
    elif name in _REPR_KEYED or _is_path(value):
        _encode(repr(value), out, depth + 1)
    elif isinstance(value, _BUILTIN_BASES):
        base: Any = next(b for b in _BUILTIN_BASES if isinstance(value, b))
        _encode(base(value), out, depth + 1)
        _encode(getattr(value, "__dict__", None), out, depth + 1)
    else:
        mat = find_materializer(value)
        if mat is not None:
            _encode(mat.save(value), out, depth + 1)
        else:
            _encode(_pickled(value), out, depth + 1)


_ACTIVE = threading.local()  # ids of the functions being encoded, by thread


def _encode_function_state(fn: Any, out: bytearray, depth: int) -> None:
    """What a function holds beyond its source: its default values (``k=K`` names a
    global whose value the source does not show) and the values its closure captured
    (``make_scaler(2)`` and ``make_scaler(3)`` share their source). A function met again
    inside its own state (a recursive closure) is written as a reference."""
    active: set[int] = getattr(_ACTIVE, "ids", None) or set()
    _ACTIVE.ids = active
    if id(fn) in active:
        out += b"R"
        return
    active.add(id(fn))
    try:
        cells = []
        for cell in fn.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # a cell not yet filled
                cells.append(_EMPTY_CELL)
        _encode(
            (fn.__defaults__, fn.__kwdefaults__, tuple(cells)),
            out,
            depth,
        )
    finally:
        active.discard(id(fn))


class _EmptyCell:
    def __repr__(self) -> str:
        return "<empty cell>"


_EMPTY_CELL = _EmptyCell()


def _is_path(value: Any) -> bool:
    from pathlib import PurePath

    return isinstance(value, PurePath)


def _pickled(value: Any) -> bytes | str:
    """``value``'s pickle, with functions and classes by their source, not their name;
    its ``repr`` when it cannot be pickled."""
    import io

    buf = io.BytesIO()
    try:
        _KeyPickler(buf, protocol=5).dump(value)
    except Exception:
        return repr(value)
    return buf.getvalue()


class _KeyPickler(pickle.Pickler):
    """Pickles for keys only: a function or class is written as its qualified name and
    source hash, so an edit to it changes the key (a plain pickle names it only)."""

    def reducer_override(self, obj: Any) -> Any:
        import types

        if obj is _code_marker:
            return NotImplemented  # pickled by reference
        if isinstance(obj, (types.FunctionType, type)):
            identity = _code_identity(obj)
            if isinstance(obj, types.FunctionType):
                state = bytearray()
                _encode_function_state(obj, state, 0)  # closures and defaults (see there)
                return _code_marker, (*identity, bytes(state))
            if identity[1]:
                return _code_marker, identity
        return NotImplemented


def _code_marker(
    qualified: str, digest: str, state: bytes = b""
) -> None:  # pragma: no cover - never loaded
    """Stands for a function or class in a key's pickle (see :class:`_KeyPickler`)."""


def _code_identity(obj: Any) -> tuple[str, str]:
    """A function's or class's qualified name, and for project code the hash of its
    source (an installed package's code is covered by its version)."""
    from loopml.context import current
    from loopml.pipelines._code import is_project_code, source_hash

    qualified = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
    if not is_project_code(obj, current().settings.project_root):
        return qualified, ""
    return qualified, source_hash(obj)


def lookup(
    store: MetadataStore,
    artifacts: ArtifactStore,
    step: str,
    key: str,
    parts: KeyParts,
    pipeline: str = "",
) -> Lookup:
    """Find the entry for ``key`` and check its outputs; on a miss, say why, against the
    closest earlier entry of ``step`` (see :func:`closest`)."""
    found, candidates = _repository.find_entry(store, key, step, _EXPLAIN_CANDIDATES)
    entry = _entry(found)
    if entry is not None:
        for out in entry.outputs:
            problem = artifacts.check(out.digest)
            if problem:
                return Lookup(None, f"artifact {problem}: {out.name} ({out.digest[:12]})", entry)
            if out.materializer in PACKAGES:  # and every file its manifest names
                for file, (digest, _) in package_files(out.digest, artifacts).items():
                    problem = artifacts.check(digest)
                    if problem:
                        return Lookup(
                            None, f"artifact {problem}: {out.name}/{file} ({digest[:12]})", entry
                        )
        return Lookup(entry, f"hit: key {key[:12]} from run {entry.run_id or '?'}")
    before = closest([e for e in map(_entry, candidates) if e is not None], parts, pipeline)
    if before is None:
        return Lookup(None, "no entry")
    return Lookup(None, explain_miss(before.parts, parts), before)


def closest(entries: list[CacheEntry], parts: KeyParts, pipeline: str = "") -> CacheEntry | None:
    """The entry to explain a miss against: the one whose parts differ least from
    ``parts``; among equals, one stored by ``pipeline``, then the newest."""
    if not entries:
        return None
    return min(
        entries,
        key=lambda e: (parts.distance(e.parts), e.pipeline != pipeline, -e.created_at),
    )


def explain_miss(before: KeyParts, now: KeyParts) -> str:
    """Which parts of the key changed since ``before``."""
    if before.scheme != now.scheme:
        return f"the cache key recipe changed (scheme {before.scheme} -> {now.scheme})"
    reasons = []
    if before.source != now.source:
        reasons.append("source changed")
    code = _changed(before.code, now.code)
    if code:
        reasons.append(f"project code changed: {', '.join(code)}")
    params = _changed(before.params, now.params)
    if params:
        reasons.append(f"params changed: {', '.join(params)}")
    inputs = _changed(before.inputs, now.inputs)
    if inputs:
        reasons.append(f"inputs changed: {', '.join(inputs)}")
    libs = [
        f"{k} {before.libraries.get(k, '-')} -> {now.libraries.get(k, '-')}"
        for k in _changed(before.libraries, now.libraries)
    ]
    if libs:
        reasons.append(f"library versions changed: {', '.join(libs)}")
    return "; ".join(reasons) or "no entry for this key"


def save_entry(
    store: MetadataStore,
    key: str,
    step: str,
    parts: KeyParts,
    outputs: list[OutputRecord],
    run_id: str,
    pipeline: str = "",
    digests: list[str] | None = None,
) -> None:
    """Store (or replace) the entry for ``key``, with references to its outputs (``digests``:
    every object they are made of, when an output is a model package of several files;
    default their digests); the ``pipeline`` that stored it is kept beside the parts, to
    explain later misses."""
    _repository.save_entry(
        store,
        key,
        step,
        parts.to_json(pipeline=pipeline),
        orjson.dumps([asdict(o) for o in outputs]).decode(),
        run_id,
        digests if digests is not None else [o.digest for o in outputs],
    )


def _entry(row: _repository.EntryRow | None) -> CacheEntry | None:
    if row is None:
        return None
    key, step, components, outputs, run_id, created = row
    pipeline = orjson.loads(components).get("pipeline", "")
    return CacheEntry(
        key=key,
        step=step,
        parts=KeyParts.from_json(components),
        outputs=[OutputRecord(**o) for o in orjson.loads(outputs)],
        run_id=run_id,
        created_at=created,
        pipeline=pipeline if isinstance(pipeline, str) else "",
    )


def _changed(before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


# -- cache:/ in the URI registry ---------------------------------------------------------


def resolve(ctx: Context, uri: CacheURI) -> Node:
    """The cache entry ``cache:/<key>`` names."""
    rows = _repository.entries(ctx.metadata, [uri.key])
    entry = _entry(rows[0]) if rows else None
    if entry is None:
        raise NotFound(f"no step cache entry {uri}; it was replaced or never stored.")
    return Node(str(uri), entry)


def describe(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``cache of step <name>, N outputs`` for each entry that exists."""
    keys = {parse_cache_uri(u).key: u for u in uris}
    labels: dict[str, str] = {}
    for row in _repository.entries(ctx.metadata, sorted(keys)):
        entry = _entry(row)
        if entry is not None:
            labels[keys[entry.key]] = f"cache of step {entry.step}, {len(entry.outputs)} output(s)"
    return labels
