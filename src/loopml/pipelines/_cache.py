"""The step cache: keys, lookups, entries and the reasons a step hit or missed.

A step's cache key is the BLAKE3 hash of its :class:`KeyParts`:

``source``     the hash of the step function's source;
``code``       ``module.qualname → source hash`` of the project-local functions
               and classes it calls, transitively (constants of project
               modules by value) — see :mod:`loopml.pipelines._code`;
``params``     the hash of each argument that is a plain value;
``inputs``     the content hash of each argument that is another step's
               output (its stored digest) or a dataset version (its manifest
               digest, for a ``DatasetVersion`` or a ``data:/...`` URI);
``libraries``  Python, loopml, NumPy, pandas and scikit-learn versions (those
               installed), plus ``__version__`` of installed packages the
               step's code uses.

An entry is a hit only when every output object it lists is still in the
artifact store and its bytes match its hash. On a miss, the parts are
compared with the newest entry for the same step to say what changed.
Entries are stored by ``_repository``; ``cache:/<key>`` names one in the URI
registry (:func:`resolve`, :func:`describe`).
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3
import orjson

from loopml.context import Context
from loopml.errors import NotFound
from loopml.lineage import Node
from loopml.pipelines import _repository
from loopml.store.artifacts import ArtifactStore
from loopml.store.metadata import MetadataStore
from loopml.tracking import environment
from loopml.uri import CacheURI, parse_cache_uri

__all__ = [
    "CacheEntry",
    "KeyParts",
    "Lookup",
    "OutputRecord",
    "describe",
    "explain_miss",
    "library_versions",
    "lookup",
    "resolve",
    "save_entry",
]

_KEY_LIBRARIES = ("numpy", "pandas", "scikit-learn")


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

    def key(self, step: str) -> str:
        payload = orjson.dumps({"step": step, **asdict(self)}, option=orjson.OPT_SORT_KEYS)
        return blake3.blake3(payload).hexdigest()

    def to_json(self) -> str:
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str) -> KeyParts:
        data = orjson.loads(text)
        return cls(
            source=data.get("source", ""),
            code=data.get("code", {}),
            params=data.get("params", {}),
            inputs=data.get("inputs", {}),
            libraries=data.get("libraries", {}),
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


@dataclass
class Lookup:
    """The result of a lookup: the usable entry (a hit) or None, and why."""

    entry: CacheEntry | None
    reason: str


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
    """A stable hash of a parameter value: its JSON when it has one, else the bytes its
    materializer stores (a DataFrame, an estimator...), else its type and repr."""
    try:
        payload = orjson.dumps(
            value,
            option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        )
    except TypeError:
        from loopml.pipelines._materializers import find_materializer

        mat = find_materializer(value)
        kind = f"{type(value).__module__}.{type(value).__qualname__}:".encode()
        payload = kind + (mat.save(value) if mat is not None else repr(value).encode())
    return blake3.blake3(payload).hexdigest()


def lookup(
    store: MetadataStore,
    artifacts: ArtifactStore,
    step: str,
    key: str,
    parts: KeyParts,
) -> Lookup:
    """Find the entry for ``key`` and check its outputs; on a miss, say why."""
    found, previous = _repository.find_entry(store, key, step)
    entry = _entry(found)
    if entry is not None:
        for out in entry.outputs:
            problem = artifacts.check(out.digest)
            if problem:
                return Lookup(None, f"artifact {problem}: {out.name} ({out.digest[:12]})")
        return Lookup(entry, f"hit: key {key[:12]} from run {entry.run_id or '?'}")
    before = _entry(previous)
    if before is None:
        return Lookup(None, "no entry")
    return Lookup(None, explain_miss(before.parts, parts))


def explain_miss(before: KeyParts, now: KeyParts) -> str:
    """Which parts of the key changed since ``before``."""
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
) -> None:
    """Store (or replace) the entry for ``key``, with references to its outputs."""
    _repository.save_entry(
        store,
        key,
        step,
        parts.to_json(),
        orjson.dumps([asdict(o) for o in outputs]).decode(),
        run_id,
        [o.digest for o in outputs],
    )


def _entry(row: _repository.EntryRow | None) -> CacheEntry | None:
    if row is None:
        return None
    key, step, components, outputs, run_id, created = row
    return CacheEntry(
        key=key,
        step=step,
        parts=KeyParts.from_json(components),
        outputs=[OutputRecord(**o) for o in orjson.loads(outputs)],
        run_id=run_id,
        created_at=created,
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
