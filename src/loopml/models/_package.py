"""The model package: a folder holding the model in its native format and ``loopml-model.json``.

The manifest records the flavor (its name and what its loader needs), the
signature, a few rows of the input example, the requirements (the
distributions the model's classes and the flavor's serializer come from,
with their versions, found through :mod:`importlib.metadata`), the Python
version, and the BLAKE3 hash and size of every other file. It is JSON with
sorted keys and no timestamps, and every flavor writes deterministic bytes,
so saving the same model twice gives the same folder, byte for byte.

A package is written into a temporary folder beside its destination and
renamed into place, so a crash never leaves half of one; reading one checks
every file against the manifest (:class:`~loopml.errors.CorruptObject`
naming the file when one differs or is missing).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml.errors import Conflict, CorruptObject, InvalidInput, NotFound
from loopml.models._flavors import Flavor, find_flavor, get_flavor
from loopml.models._signature import Signature, example_records, infer_signature

if TYPE_CHECKING:
    from loopml.context import Context

__all__ = ["MANIFEST", "ModelInfo", "read_model_info", "save_model"]

MANIFEST = "loopml-model.json"
FORMAT = 1


@dataclass(frozen=True)
class ModelInfo:
    """A stored model package: where it is (``uri``: its canonical ``runs:/`` URI, or the
    local path; ``run_id`` and ``path`` inside the run), its flavor, signature,
    requirements (``"pkg==version"``), the BLAKE3 hash of its manifest, the stored
    object digests of all of its files (the manifest included) and the manifest itself."""

    uri: str
    run_id: str | None
    path: str
    flavor: str
    signature: Signature | None
    requirements: list[str]
    manifest_digest: str
    digests: frozenset[str]
    metadata: dict[str, Any]


# -- requirements -------------------------------------------------------------------------


#: distributions whose name is not their module's (tried before scanning every distribution)
_KNOWN = {
    "sklearn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "yaml": ("PyYAML",),
    "PIL": ("Pillow",),
    "cv2": ("opencv-python", "opencv-python-headless"),
    "google": (),
}


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return dict(packages_distributions())


def _provides(dist: Any, top: str) -> bool:
    """Whether the installed distribution ``dist`` holds the top-level module ``top``."""
    listed = dist.read_text("top_level.txt")
    if listed is not None:
        return top in listed.split()
    record = dist.read_text("RECORD") or ""
    return f"\n{top}/" in "\n" + record or f"\n{top}.py," in "\n" + record


@functools.lru_cache(maxsize=256)
def _requirement(top: str) -> str | None:
    """``"dist==version"`` of the distribution that installs the module ``top``: the likely
    names are checked first (reading one distribution's metadata each), and only when
    none fits is every installed distribution scanned (packages_distributions)."""
    from importlib.metadata import PackageNotFoundError, distribution

    guesses = _KNOWN.get(top, (top, top.replace("_", "-")))
    for name in guesses:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        if _provides(dist, top):
            return f"{dist.metadata['Name']}=={dist.version}"
    for name in _distributions().get(top, []):
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        return f"{dist.metadata['Name']}=={dist.version}"
    return None


def _model_modules(model: Any) -> set[str]:
    """The top-level modules of the model's class and of the estimators it holds (the steps
    of a scikit-learn pipeline), without importing anything."""
    seen: set[str] = set()
    stack = [model]
    visited: set[int] = set()
    while stack and len(visited) < 1000:
        obj = stack.pop()
        if id(obj) in visited:
            continue
        visited.add(id(obj))
        for cls in type(obj).__mro__:
            seen.add(cls.__module__.split(".", 1)[0])
        get_params = getattr(obj, "get_params", None)
        if callable(get_params) and not isinstance(obj, type):
            with contextlib.suppress(Exception):
                for value in get_params(deep=False).values():
                    if isinstance(value, (list, tuple)):
                        stack.extend(v[-1] if isinstance(v, tuple) else v for v in value)
                    elif hasattr(value, "get_params") or hasattr(value, "predict"):
                        stack.append(value)
    return seen


def requirements(model: Any, flavor: Flavor) -> list[str]:
    """``"distribution==version"`` for each module the model and its flavor need."""
    tops = _model_modules(model) | set(flavor.modules)
    tops -= set(sys.stdlib_module_names) | {"builtins", "__main__", "loopml"}
    found = {r for t in tops if (r := _requirement(t)) is not None}
    return sorted(found, key=str.lower)


# -- writing ------------------------------------------------------------------------------


def _canonical_json(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def build(
    model: Any,
    folder: Path,
    *,
    signature: Signature | dict[str, Any] | None,
    input_example: Any,
    allow_pickle: bool,
    flavor: str | None,
    ctx: Context | None = None,
) -> dict[str, Any]:
    """Write the package of ``model`` into the empty ``folder``; returns its manifest."""
    chosen = (
        get_flavor(flavor, ctx)
        if flavor is not None
        else find_flavor(model, ctx, allow_pickle=allow_pickle)
    )
    if flavor is not None:
        from loopml.models._flavors import check_pickle

        if not chosen.handles(model):
            cls = type(model)
            raise InvalidInput(
                f"flavor {flavor!r} does not handle a {cls.__module__}.{cls.__qualname__}; "
                "leave flavor=None to let loopml choose."
            )
        check_pickle(chosen, allow_pickle, "save")
    sig = _signature(model, chosen, signature, input_example)
    info = chosen.save(model, folder)
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        from loopml.store.artifacts import hash_file

        digest, size = hash_file(path)
        files[path.relative_to(folder).as_posix()] = {"blake3": digest, "size": size}
    if MANIFEST in files:
        raise InvalidInput(f"the {chosen.name} flavor wrote a file named {MANIFEST}, loopml's own.")
    manifest = {
        "format": FORMAT,
        "flavor": {"name": chosen.name, "info": info},
        "signature": sig.to_dict() if sig is not None else None,
        "input_example": example_records(input_example) if input_example is not None else None,
        "requirements": requirements(model, chosen),
        "python": ".".join(map(str, sys.version_info[:3])),
        "files": files,
    }
    (folder / MANIFEST).write_bytes(_canonical_json(manifest))
    return manifest


def _signature(model: Any, flavor: Flavor, signature: Any, input_example: Any) -> Signature | None:
    if isinstance(signature, Signature):
        return signature
    if isinstance(signature, dict):
        return Signature.from_dict(signature)
    if signature is not None:
        raise InvalidInput(
            f"signature must be a loopml.models.Signature or its dict, got "
            f"{type(signature).__name__} {_validate.shown(signature)}."
        )
    if input_example is None:
        return None
    sig = infer_signature(input_example)
    frame = sig.conform(input_example)
    try:
        output = flavor.predict(model, frame)
    except Exception:  # a model that cannot predict on its example keeps the input side
        return sig
    from loopml.models._signature import infer_output

    return Signature(sig.inputs, infer_output(output))


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    signature: Signature | dict[str, Any] | None = None,
    input_example: Any = None,
    allow_pickle: bool = False,
    flavor: str | None = None,
    overwrite: bool = False,
) -> ModelInfo:
    """Write ``model`` as a package folder at ``path`` (see the module docstring).

    ``flavor`` names the flavor (default: the first that handles the model);
    ``allow_pickle=True`` is needed for the pickle-based ones. An existing,
    non-empty ``path`` is a Conflict unless ``overwrite=True``.

    Example::

        loopml.save_model(clf, "out/churn", input_example=X_train.head())
        loopml.load_model("out/churn").predict(X_test)
    """
    dest = _validate.path(path, "model path")
    if ":/" in str(path):
        raise InvalidInput(
            f"save_model writes a local folder, got the URI {str(path)!r}: pass a folder "
            "path, or log the model in a run with loopml.log_model."
        )
    _check_flags(allow_pickle=allow_pickle, overwrite=overwrite)
    if flavor is not None:
        _validate.text(flavor, "flavor")
    if dest.exists() and not dest.is_dir():
        raise Conflict(f"model path {str(dest)!r} is a file: pass a folder path.")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise Conflict(
            f"model path {str(dest)!r} already holds files: pass overwrite=True to replace "
            "it, or choose another path."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        manifest = build(
            model,
            tmp,
            signature=signature,
            input_example=input_example,
            allow_pickle=allow_pickle,
            flavor=flavor,
        )
        _place(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _local_info(dest.resolve(), manifest, (dest / MANIFEST).read_bytes())


def _check_flags(**flags: Any) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be True or False, got {_validate.shown(value)}.")


def _place(tmp: Path, dest: Path) -> None:
    """Rename the finished folder ``tmp`` to ``dest``, replacing what is there."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- reading ------------------------------------------------------------------------------


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """The manifest in ``data``, checked against its schema: a flavor named by text, a file
    list of relative names inside the package (no ``..``, not absolute) each with a
    BLAKE3 hash and a size, requirements as a list of text. Anything else (damaged,
    truncated, or edited by hand) is :class:`CorruptObject` naming what is wrong, so no
    name in it reaches outside the package and no loader meets a value of the wrong type."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        manifest = None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("files"), dict)
        or not isinstance(manifest.get("flavor"), dict)
    ):
        raise CorruptObject(
            f"{where}: {MANIFEST} is not a loopml model manifest (damaged or truncated). "
            "Save or log the model again."
        )
    flavor = manifest["flavor"]
    if not isinstance(flavor.get("name"), str) or not isinstance(flavor.get("info", {}), dict):
        _bad_manifest(where, f"its flavor {_validate.shown(flavor)} is not a name and a dict")
    for name, entry in manifest["files"].items():
        if not _validate.inside(name) or name == MANIFEST:
            _bad_manifest(
                where,
                f"it lists the file {_validate.shown(name)}, which is not a path inside "
                "the package",
            )
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("blake3"), str)
            or len(entry["blake3"]) != 64
            or type(entry.get("size")) is not int
            or entry["size"] < 0
        ):
            _bad_manifest(
                where,
                f"the entry of file {name!r} is {_validate.shown(entry)}, not "
                "{'blake3': <64 hex digits>, 'size': <bytes>}",
            )
    requirements = manifest.get("requirements")
    if requirements is not None and (
        not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements)
    ):
        _bad_manifest(where, f"its requirements {_validate.shown(requirements)} are not a list")
    if not isinstance(manifest.get("signature"), (dict, type(None))):
        _bad_manifest(
            where, f"its signature {_validate.shown(manifest['signature'])} is not a dict"
        )
    return manifest


def _bad_manifest(where: str, what: str) -> None:
    raise CorruptObject(
        f"{where}: {MANIFEST} is damaged or was edited: {what}. Do not load it; save or log "
        "the model again."
    )


def verify_folder(folder: Path, manifest: dict[str, Any], where: str) -> None:
    """CorruptObject naming the first file of ``folder`` that differs from ``manifest``, or
    that the manifest does not list (a file the manifest leaves out would load unchecked)."""
    from loopml.store.artifacts import hash_file

    listed = manifest["files"]
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if name != MANIFEST and name not in listed and not path.is_dir():
            raise CorruptObject(
                f"{where}: file {name!r} of the model package is not listed in its "
                f"{MANIFEST}, so nothing vouches for its bytes. Remove it, or save or log the "
                "model again."
            )
    for name, info in sorted(listed.items()):
        path = folder / name
        try:
            digest, size = hash_file(path)
        except OSError:
            raise CorruptObject(
                f"{where}: file {name!r} of the model package is missing. The package was "
                "damaged: save or log the model again."
            ) from None
        if digest != info.get("blake3") or size != info.get("size"):
            raise CorruptObject(
                f"{where}: file {name!r} of the model package does not match the hash its "
                f"manifest records ({size} bytes, expected {info.get('size')}): it was "
                "changed or truncated. Do not load it; save or log the model again."
            )


def _local_info(folder: Path, manifest: dict[str, Any], raw: bytes) -> ModelInfo:
    from loopml.store.artifacts import hash_bytes

    digest = hash_bytes(raw)
    digests = frozenset({digest, *(f["blake3"] for f in manifest["files"].values())})
    return info_from(str(folder), None, str(folder), manifest, digest, digests)


def info_from(
    uri: str,
    run_id: str | None,
    path: str,
    manifest: dict[str, Any],
    digest: str,
    digests: frozenset[str],
) -> ModelInfo:
    sig = manifest.get("signature")
    return ModelInfo(
        uri=uri,
        run_id=run_id,
        path=path,
        flavor=str(manifest["flavor"].get("name")),
        signature=Signature.from_dict(sig) if sig else None,
        requirements=list(manifest.get("requirements") or []),
        manifest_digest=digest,
        digests=digests,
        metadata=manifest,
    )


def read_local(path: Path) -> tuple[ModelInfo, Path]:
    """The ModelInfo of the package folder at ``path`` (its manifest only)."""
    raw_path = path / MANIFEST
    if not path.is_dir() or not raw_path.is_file():
        raise NotFound(
            f"no model package at {str(path)!r} (no {MANIFEST} there). Save one with "
            "loopml.save_model(model, path)."
        )
    raw = raw_path.read_bytes()
    manifest = parse_manifest(raw, str(path))
    return _local_info(path.resolve(), manifest, raw), path


def clean_name(name: Any, what: str) -> str:
    """``name`` as a relative POSIX path inside a run: no ``..``, not absolute, no NUL."""
    text = _validate.text(name, what)
    if text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise InvalidInput(
            f"{what} {text!r} is absolute: pass a relative path inside the run, e.g. 'model'."
        )
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidInput(
            f"{what} {text!r} must be a relative path inside the run such as 'model' or "
            "'models/churn' (no '..', not empty)."
        )
    return "/".join(parts)


def read_run_package(run_id: str, path: str) -> tuple[ModelInfo, list[Any]]:
    """The ModelInfo of the package logged at ``path`` of run ``run_id`` and its entries."""
    from loopml.context import current
    from loopml.tracking import list_artifacts
    from loopml.uri import RunURI

    entries = list_artifacts(run_id, path)
    prefix = path + "/"
    mine = [e for e in entries if e.path.startswith(prefix)]
    head = next((e for e in mine if e.path == prefix + MANIFEST), None)
    if head is None:
        shown_id = entries[0].run_id if entries else run_id
        raise NotFound(f"run {shown_id} has no model at {path} (log one with loopml.log_model).")
    full_id = head.run_id
    raw = current().artifacts.get_bytes(head.digest)
    uri = str(RunURI(full_id, path))
    manifest = parse_manifest(raw, uri)
    recorded = {e.path[len(prefix) :]: e for e in mine if e.path != head.path}
    listed = manifest["files"]
    for name, info in sorted(listed.items()):
        entry = recorded.get(name)
        if entry is None or entry.digest != info.get("blake3"):
            state = "is missing from the run" if entry is None else "differs from the manifest"
            raise CorruptObject(
                f"{uri}: file {name!r} of the model package {state}. The package was "
                "damaged: log the model again."
            )
    digests = frozenset({head.digest, *(e.digest for e in recorded.values())})
    return info_from(uri, full_id, path, manifest, head.digest, digests), mine


def read_model_info(uri: str) -> ModelInfo:
    """The :class:`ModelInfo` of the package at ``runs:/<id>/<path>`` or a local folder.

    Example::

        info = loopml.models.read_model_info(f"runs:/{run.id}/model")
        info.flavor, info.requirements
    """
    text = _validate.text(uri, "model URI")
    if text.startswith("runs:/"):
        from loopml.uri import parse_run_uri

        parsed = parse_run_uri(text)
        path = clean_name(parsed.path or "model", "model path")
        return read_run_package(parsed.run_id, path)[0]
    if ":/" in text and not Path(text).exists():
        raise InvalidInput(
            f"read_model_info takes 'runs:/<run_id>/<path>' or a local folder, got {text!r}."
        )
    return read_local(_validate.path(text, "model path"))[0]
