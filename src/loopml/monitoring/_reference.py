"""What a monitor compares its windows with: the reference dataset version, its stored
profile, the served model's predictions on it, and the estimators fitted there.

The reference is the monitor's ``reference`` setting, or else the training data of the
model version the deployment serves, found by walking lineage up from
``models:/<name>/<version>`` to the nearest ``data:/`` versions (a pipeline's step run
that read them, or the run that logged the model). The label column is ``target``, or
else the one column of the reference the model's signature does not take.

The model is loaded once per reference and model version (per process) to predict the
reference: the profile of those predictions is what prediction drift compares with,
and, with the reference's labels, it fits the estimators of performance before labels
arrive (:class:`ConfidenceEstimator` for a classifier with probabilities,
:class:`LossEstimator` for a regressor).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidInput, LoopmlError, NotFound

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from loopml.models import Model
    from loopml.monitoring._profile import ReferenceProfile

__all__ = ["Reference", "reference_for", "training_data_of"]

_LINEAGE_DEPTH = 4
_MAX_REFERENCE_ROWS = 200_000
#: the loss model of a regressor learns from at most this many reference rows (two
#: gradient-boosted models: a larger sample costs seconds and gains little)
_MAX_LOSS_ROWS = 20_000
_cache: dict[tuple[str, str, str, int, str | None], Reference] = {}
_lock = threading.Lock()


@dataclass
class Reference:
    """A monitor's reference: the dataset version (``uri``), the profile of its input
    columns, the label column (``target``), the ``task``, the profile of the model's
    predictions on it, the fitted estimators, the loaded ``model`` (None when it could not
    be loaded) and ``notes`` on what could not be prepared and why."""

    uri: str
    profile: ReferenceProfile
    target: str | None
    task: str | None
    model: Model | None = None
    positive: Any = None
    predictions: ReferenceProfile | None = None
    confidence: Any = None
    loss: Any = None
    notes: list[str] = field(default_factory=list)
    model_uri: str | None = None

    def served_model(self) -> Model | None:
        """The served model, loaded on first use (a reference read back from the store
        does not load it until a window needs it: rows logged without probabilities)."""
        if self.model is None and self.model_uri is not None:
            self.model = _load(self.model_uri, self.notes)
            self.model_uri = None
        return self.model

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "inputs": list(self.profile.columns),
            "target": self.target,
            "task": self.task,
            "positive": self.positive,
            "predictions": None if self.predictions is None else self.predictions.to_dict(),
            "confidence": None if self.confidence is None else self.confidence.to_dict(),
            "notes": list(self.notes),
        }


def training_data_of(model_uri: str) -> list[str]:
    """The dataset versions nearest to ``model_uri`` upstream in lineage (the data its
    training run read), nearest first."""
    from loopml.lineage import upstream

    seen = {model_uri}
    level = [model_uri]
    for _ in range(_LINEAGE_DEPTH):
        found: list[str] = []
        upper: list[str] = []
        for uri in level:
            for edge in upstream(uri):
                if edge.src in seen:
                    continue
                seen.add(edge.src)
                (found if edge.src.startswith("data:/") else upper).append(edge.src)
        if found:
            return found
        level = upper
        if not level:
            break
    return []


def _reference_uri(setting: str | None, model_uri: str, deployment: str) -> str:
    if setting is not None:
        return setting
    found = training_data_of(model_uri)
    if not found:
        raise InvalidInput(
            f"monitor of deployment {deployment!r} has no reference: lineage shows no dataset "
            f"version upstream of {model_uri}. Give one: loopml monitor add NAME --deployment "
            f"{deployment} --reference data:/<dataset>@<version>"
        )
    if len(found) > 1:
        raise InvalidInput(
            f"{model_uri} was trained on several dataset versions ({', '.join(found)}): "
            f"choose the reference with --reference (or reference = ... in loopml.toml)."
        )
    return found[0]


def _target(setting: str | None, profile: ReferenceProfile, model: Model | None) -> str | None:
    columns = list(profile.columns)
    if setting is not None:
        if setting not in columns:
            raise InvalidInput(
                f"the monitor's target {setting!r} is not a column of the reference (its "
                f"columns: {', '.join(columns[:20])})."
            )
        return setting
    if model is None or model.signature is None:
        return None
    inputs = {c.name for c in model.signature.inputs}
    rest = [c for c in columns if c not in inputs]
    if len(rest) == 1:
        return rest[0]
    classes = {str(c) for c in classes_of(model)}
    if not classes:
        return None
    fits = [c for c in rest if _holds_only(profile.columns[c], classes)]
    return fits[0] if len(fits) == 1 else None


def _holds_only(feature: Any, classes: set[str]) -> bool:
    """Whether a reference column's values are all among a classifier's classes."""
    if feature.kind == "numeric":
        values = {feature.min, feature.max}
        shown = {str(int(v)) if float(v).is_integer() else str(v) for v in values}
        return feature.n_distinct <= len(classes) and shown <= classes
    return feature.other_count == 0 and {str(c) for c in feature.categories} <= classes


def reference_for(
    setting: str | None,
    deployment: str,
    model_name: str,
    model_version: int,
    *,
    target: str | None = None,
    task: str | None = None,
) -> Reference:
    """The prepared reference of a monitor of ``deployment`` serving
    ``models:/<model_name>/<model_version>`` (cached per process)."""
    from loopml.uri import ModelURI

    model_uri = str(ModelURI(model_name, model_version))
    uri = _reference_uri(setting, model_uri, deployment)
    from loopml.context import current

    # per store: two projects of one process have their own dataset and model versions
    key = (current().settings.store.artifact_uri, uri, model_name, model_version, target)
    with _lock:
        found = _cache.get(key)
    if found is not None and (task is None or found.task == task):
        return found
    ref = _stored(uri, model_uri, target, task)
    if ref is None:
        ref = _prepare(uri, model_uri, target, task)
        _store(ref, model_uri, target)
    with _lock:
        _cache[key] = ref
    return ref


def _prepared_path(uri: str, model_uri: str, target: str | None) -> str:
    """Where a classifier's prepared reference is kept: beside the dataset version's
    profile, one file per model version and label column."""
    import hashlib

    from loopml.data import get_dataset
    from loopml.monitoring._store import profile_path
    from loopml.uri import parse_model_uri

    model = parse_model_uri(model_uri)
    key = hashlib.blake2b(f"{model.name}\0{model.version}\0{target}".encode(), digest_size=8)
    base = profile_path(get_dataset(uri)).removesuffix(".json")
    return f"{base}.prepared/{key.hexdigest()}.json"


def _stored(uri: str, model_uri: str, target: str | None, task: str | None) -> Reference | None:
    """The prepared reference stored by an earlier process, or None (none, another
    task asked, or a damaged file: prepared again)."""
    import json

    from loopml.context import current
    from loopml.monitoring._estimate import ConfidenceEstimator
    from loopml.monitoring._profile import ReferenceProfile
    from loopml.monitoring._store import profile_of_dataset

    try:
        raw = json.loads(current().artifacts.read_path(_prepared_path(uri, model_uri, target)))
        if task is not None and raw["task"] != task:
            return None
        full = profile_of_dataset(uri, None)
        return Reference(
            raw["uri"],
            full.select(raw["inputs"]),
            raw["target"],
            raw["task"],
            positive=raw["positive"],
            predictions=None
            if raw["predictions"] is None
            else ReferenceProfile.from_dict(raw["predictions"]),
            confidence=None
            if raw["confidence"] is None
            else ConfidenceEstimator.from_dict(raw["confidence"]),
            notes=list(raw["notes"]),
            model_uri=model_uri,
        )
    except (LoopmlError, ValueError, KeyError, TypeError):
        return None


def _store(ref: Reference, model_uri: str, target: str | None) -> None:
    """Keep a classifier's prepared reference (a regressor's loss model is not JSON: it is
    fitted again by each process that needs it)."""
    import json

    from loopml.context import current

    if ref.model is None or ref.loss is not None or ref.task != "classification":
        return
    try:
        data = json.dumps(ref.to_dict(), sort_keys=True, default=str).encode()
        current().artifacts.write_path(_prepared_path(ref.uri, model_uri, target), data)
    except (LoopmlError, OSError, TypeError, ValueError):
        return


def _load(model_uri: str, notes: list[str]) -> Model | None:
    from loopml import load_model

    try:
        return load_model(model_uri)
    except LoopmlError as exc:
        notes.append(f"the served model {model_uri} could not be loaded ({exc})")
        return None


def _prepare(uri: str, model_uri: str, target: str | None, task: str | None) -> Reference:
    from loopml.data import get_dataset
    from loopml.monitoring._store import profile_of_dataset

    try:
        version = get_dataset(uri)
    except NotFound as exc:
        raise InvalidInput(f"the monitor's reference {uri} does not exist: {exc}") from None
    notes: list[str] = []
    model = _load(model_uri, notes)
    full = profile_of_dataset(version.uri, None)
    names = list(full.columns)
    label = _target(target, full, model)
    inputs = [c for c in names if c != label]
    if model is not None and model.signature is not None:
        wanted = [c.name for c in model.signature.inputs if c.name in full.columns]
        inputs = wanted or inputs
    ref = Reference(version.uri, full.select(inputs), label, task, model, notes=notes)
    if model is None:
        return ref
    try:
        _fit_on_reference(ref, version)
    except (LoopmlError, ValueError, TypeError) as exc:
        notes.append(f"the model's predictions on the reference could not be made ({exc})")
    return ref


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) <= _MAX_REFERENCE_ROWS:
        return frame
    return frame.sample(_MAX_REFERENCE_ROWS, random_state=0).sort_index()


def _fit_on_reference(ref: Reference, version: Any) -> None:
    import numpy as np

    from loopml.monitoring._profile import profile_table

    assert ref.model is not None
    table = version.to_arrow()
    frame = _sample(table.to_pandas())
    features = frame[[c for c in ref.profile.columns if c in frame.columns]]
    conformed = ref.model.conform(features)
    predicted = np.asarray(ref.model.predict(conformed, conformed=True))
    if predicted.ndim > 1:
        predicted = predicted[:, 0] if predicted.shape[1] == 1 else predicted.argmax(axis=1)
    import pyarrow as pa

    ref.predictions = profile_table(pa.table({"prediction": predicted}), None, ref.uri)
    if ref.task is None:
        kind = ref.predictions.columns["prediction"].kind
        numeric_many = kind == "numeric" and ref.predictions.columns["prediction"].n_distinct > 20
        ref.task = "regression" if numeric_many else "classification"
    if ref.target is None:
        ref.notes.append(
            "the reference has no label column the model does not take (set target = ...), so "
            "performance is not estimated before labels arrive"
        )
        return
    truth = frame[ref.target].to_numpy()
    if ref.task == "classification" and ref.model.has_predict_proba:
        _fit_confidence(ref, conformed, truth)
    elif ref.task == "regression":
        from loopml.monitoring._estimate import LossEstimator

        n = min(len(features), _MAX_LOSS_ROWS)
        ref.loss = LossEstimator.fit(features.iloc[:n], predicted[:n], truth[:n])


def classes_of(model: Model) -> list[Any]:
    """The classes of a classifier, in the order of its probability columns."""
    found = getattr(model.native, "classes_", None)
    if found is None:
        return []
    return list(found)


def _fit_confidence(ref: Reference, conformed: Any, truth: Any) -> None:
    import numpy as np

    from loopml.monitoring._estimate import ConfidenceEstimator

    assert ref.model is not None
    classes = classes_of(ref.model)
    proba = np.asarray(ref.model.predict_proba(conformed, conformed=True), dtype=float)
    if len(classes) != 2 or proba.ndim != 2 or proba.shape[1] != 2:
        ref.notes.append(
            f"performance is estimated for binary classifiers only; this one has "
            f"{len(classes) or 'unknown'} classes"
        )
        return
    ref.positive = classes[1]
    labels = (truth == classes[1]).astype(int)
    ref.confidence = ConfidenceEstimator.fit(labels, proba[:, 1])
