"""``log_model``, ``load_model`` and the :class:`Model` they give back.

``load_model`` takes a local package folder, ``runs:/<run_id>/<path>`` or a
``models:/name/3`` / ``models:/name@alias`` URI. A ``models:/`` URI is
resolved through the URI registry (whatever serves that scheme returns a
version with ``.source``, a ``runs:/`` URI, and ``.version``), so this
package never imports the registry. Every file is checked against the
manifest, and for a run's package the manifest against the run's artifact
records, before the model is loaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from loopml import _validate
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.models._flavors import Flavor, check_pickle, get_flavor
from loopml.models._package import (
    MANIFEST,
    ModelInfo,
    _check_flags,
    build,
    clean_name,
    info_from,
    parse_manifest,
    read_local,
    read_run_package,
    verify_folder,
)
from loopml.models._signature import Signature, to_frame

__all__ = ["Model", "load_model", "log_model"]


class Model:
    """A loaded model: ``predict(data)`` (and ``predict_proba(data)`` where its flavor has
    it) with the signature enforced, plus ``signature``, ``metadata`` (the manifest),
    ``uri``, ``version`` (set when loaded through ``models:/``), ``flavor`` (its name)
    and ``native`` (the library's own object)."""

    def __init__(
        self,
        native: Any,
        flavor: Flavor,
        info: ModelInfo,
        *,
        uri: str,
        version: int | None = None,
    ) -> None:
        self.native = native
        self._flavor = flavor
        self.info = info
        self.signature: Signature | None = info.signature
        self.metadata = info.metadata
        self.uri = uri
        self.version = version
        self.flavor = flavor.name
        self._predict = flavor.predict

    def __repr__(self) -> str:
        return f"Model({self.uri!r}, flavor={self.flavor!r}, version={self.version!r})"

    def _frame(self, data: Any) -> Any:
        sig = self.signature
        if sig is None:
            return to_frame(data)
        return sig.conform(data)

    def conform(self, data: Any) -> Any:
        """``data`` as the pandas frame the model is given: checked against the signature
        (InvalidInput naming the column and row when it is broken) and cast to its dtypes.
        Pass the result to ``predict(frame, conformed=True)`` to check once, not twice."""
        return self._frame(data)

    def predict(self, data: Any, *, conformed: bool = False) -> Any:
        """Predictions for ``data``: a pandas, polars or pyarrow table, a 2-D NumPy array
        (columns in the signature's order) or a list of records. The signature is
        enforced first (InvalidInput naming the column and row when it is broken), unless
        ``conformed`` says ``data`` is what :meth:`conform` returned."""
        return self._predict(self.native, data if conformed else self._frame(data))

    @property
    def has_predict_proba(self) -> bool:
        """Whether :meth:`predict_proba` can answer (the flavor has it and so does the
        model: a regressor has none)."""
        return getattr(self._flavor, "predict_proba", None) is not None and hasattr(
            self.native, "predict_proba"
        )

    def predict_proba(self, data: Any, *, conformed: bool = False) -> Any:
        """Class probabilities for ``data``, where the model's flavor has them
        (``conformed`` as in :meth:`predict`)."""
        proba = getattr(self._flavor, "predict_proba", None)
        if proba is None:
            raise InvalidInput(
                f"the {self.flavor} flavor has no predict_proba: call predict(data) instead."
            )
        return proba(self.native, data if conformed else self._frame(data))


def _cache_root() -> Path:
    from loopml.context import current

    return current().settings.state_dir / "cache" / "models"


def load_model(uri: str | os.PathLike[str], *, allow_pickle: bool = False) -> Model:
    """The model at ``uri``: a local package folder, ``runs:/<run_id>/<path>``,
    ``models:/<name>/<version>`` or ``models:/<name>@<alias>``.

    Every file is checked against the package's manifest (CorruptObject when
    one was changed or truncated). A pickle-based flavor (``python_function``,
    ``pickle``) loads only with ``allow_pickle=True`` or ``trust_pickle`` set.

    Example::

        model = loopml.load_model("models:/churn@champion")
        model.predict(frame)
    """
    _check_flags(allow_pickle=allow_pickle)
    if isinstance(uri, os.PathLike):
        return _load_local(_validate.path(uri, "model path"), allow_pickle)
    text = _validate.text(uri, "model URI").strip()
    if text.startswith("models:/"):
        from loopml.lineage import resolve

        found = resolve(text)
        source = getattr(found, "source", None)
        if not isinstance(source, str):
            raise NotFound(f"{text} names no model source; the registry returned {found!r}.")
        version = getattr(found, "version", None)
        name = getattr(found, "name", None)
        shown = text
        if isinstance(name, str) and isinstance(version, int):
            from loopml.uri import ModelURI

            shown = str(ModelURI(name, version))
        digest = getattr(found, "manifest_digest", None)
        if isinstance(digest, str) and source.startswith("runs:/"):
            # the version pins its package by the manifest's hash and holds references on
            # every file, so it loads even after its run was deleted and purged
            model = _load_stored(source, digest, allow_pickle)
        else:
            model = load_model(source, allow_pickle=allow_pickle)
        model.uri = shown
        model.version = version if isinstance(version, int) else None
        return model
    if text.startswith("runs:/"):
        return _load_run(text, allow_pickle)
    if ":/" in text and not Path(text).exists():
        raise InvalidInput(
            f"load_model takes a local folder, 'runs:/<run_id>/<path>', 'models:/<name>/"
            f"<version>' or 'models:/<name>@<alias>', got {text!r}."
        )
    return _load_local(_validate.path(text, "model path"), allow_pickle)


def _allowed(allow_pickle: bool) -> bool:
    if allow_pickle:
        return True
    from loopml.context import current

    return bool(current().settings.store.trust_pickle)


def _load_local(path: Path, allow_pickle: bool) -> Model:
    info, folder = read_local(path)
    flavor = get_flavor(info.flavor)
    check_pickle(flavor, _allowed(allow_pickle), str(path))
    verify_folder(folder, info.metadata, str(path))
    return Model(flavor.load(folder, info.metadata), flavor, info, uri=info.uri)


def _load_run(text: str, allow_pickle: bool) -> Model:
    from loopml.uri import parse_run_uri

    parsed = parse_run_uri(text)
    path = clean_name(parsed.path or "model", "model path")
    info, entries = read_run_package(parsed.run_id, path)
    base = len(path) + 1
    files = {e.path[base:]: e.digest for e in entries if e.path[base:] != MANIFEST}
    return _load_fetched(info, files, allow_pickle)


def _load_stored(source: str, manifest_digest: str, allow_pickle: bool) -> Model:
    """The package whose manifest is the stored object ``manifest_digest`` (a registered
    version's pin), fetched by the hashes its manifest lists; ``source`` names it."""
    from loopml.context import current
    from loopml.uri import parse_run_uri

    parsed = parse_run_uri(source)
    path = clean_name(parsed.path or "model", "model path")
    try:
        raw = current().artifacts.get_bytes(manifest_digest)
    except NotFound:
        raise NotFound(
            f"the model package of {source} (manifest {manifest_digest[:12]}…) is no longer "
            "stored: restore the store from a backup, or register the model again."
        ) from None
    manifest = parse_manifest(raw, source)
    files = {name: str(entry.get("blake3")) for name, entry in manifest["files"].items()}
    digests = frozenset({manifest_digest, *files.values()})
    info = info_from(source, parsed.run_id, path, manifest, manifest_digest, digests)
    return _load_fetched(info, files, allow_pickle)


def _load_fetched(info: ModelInfo, files: dict[str, str], allow_pickle: bool) -> Model:
    """Load ``info``'s package from the local model cache, fetching ``files`` (name →
    stored object) into it first when the cached copy is missing or was changed."""
    from loopml.context import current

    flavor = get_flavor(info.flavor)
    check_pickle(flavor, _allowed(allow_pickle), info.uri)
    folder = _cache_root() / info.manifest_digest[:32]
    try:
        verify_folder(folder, info.metadata, info.uri)
    except Exception:  # not fetched yet, or the copy was changed: fetch it anew
        artifacts = current().artifacts
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fetch.", dir=folder.parent))
        try:
            for name, digest in files.items():
                clean_name(name, "model file")
                artifacts.get_file(digest, tmp / name)
            (tmp / MANIFEST).write_bytes(artifacts.get_bytes(info.manifest_digest))
            verify_folder(tmp, info.metadata, info.uri)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Model(flavor.load(folder, info.metadata), flavor, info, uri=info.uri)


def log_model(
    model: Any,
    name: str = "model",
    *,
    signature: Signature | dict[str, Any] | None = None,
    input_example: Any = None,
    allow_pickle: bool = False,
    flavor: str | None = None,
) -> ModelInfo:
    """Store ``model`` as a package in the active run's artifact folder ``name`` (so
    ``runs:/<run_id>/<name>`` names it) and return its :class:`ModelInfo`.

    Example::

        with loopml.start_run(experiment="churn"):
            clf.fit(X, y)
            info = loopml.log_model(clf, input_example=X.head())
        loopml.load_model(info.uri).predict(X)
    """
    from loopml.tracking import active_run

    dest = clean_name(name, "model name")
    _check_flags(allow_pickle=allow_pickle)
    if flavor is not None:
        _validate.text(flavor, "flavor")
    run = active_run()
    if run is None:
        raise NotFound(
            "log_model needs an active run: use `with loopml.start_run():` or "
            "save_model(model, path)."
        )
    from loopml.tracking import list_artifacts

    taken = list_artifacts(run.id, dest)
    if taken:
        raise Conflict(
            f"run {run.id} already has artifacts at {dest!r} ({taken[0].path}, ...): log the "
            "model under another name, e.g. log_model(model, name='model-2')."
        )
    parent, _, leaf = dest.rpartition("/")
    with tempfile.TemporaryDirectory(prefix=".loopml-model.") as tmp:
        folder = Path(tmp) / leaf
        folder.mkdir()
        build(
            model,
            folder,
            signature=signature,
            input_example=input_example,
            allow_pickle=allow_pickle,
            flavor=flavor,
        )
        run.log_artifact(folder, parent or None)
    return read_run_package(run.id, dest)[0]
