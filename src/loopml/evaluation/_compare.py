"""A candidate against a champion: metric deltas, and which version the champion is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopml import _validate
from loopml.errors import InvalidInput, NotFound
from loopml.evaluation._records import METRICS, Evaluation

__all__ = ["CHAMPION", "MetricDelta", "champion_uri", "compare"]

#: the alias that names a model's champion unless an environment is given
CHAMPION = "champion"


@dataclass(frozen=True)
class MetricDelta:
    """One metric of a candidate and a champion: ``delta = candidate - champion``;
    ``higher_is_better`` from :data:`METRICS`; ``improved`` says whether the candidate is
    better (None when they are equal or one lacks the metric)."""

    metric: str
    candidate: float | None
    champion: float | None
    delta: float | None
    higher_is_better: bool
    improved: bool | None

    def to_dict(self) -> dict[str, Any]:
        """The delta as JSON values."""
        return {
            "metric": self.metric,
            "candidate": self.candidate,
            "champion": self.champion,
            "delta": self.delta,
            "higher_is_better": self.higher_is_better,
            "improved": self.improved,
        }


def compare(candidate: Evaluation, champion: Evaluation) -> list[MetricDelta]:
    """The deltas of every metric either evaluation has, in :data:`METRICS` order.

    Both must be of the same data and target (the same ``data_digest``) and
    task, so the comparison is fair; ``loopml evaluate --against champion`` makes sure
    of it.

    Example::

        cand = loopml.evaluate("models:/churn/4", "data:/holdout", target="churned")
        champ = loopml.evaluate("models:/churn@champion", "data:/holdout", target="churned")
        [(d.metric, d.delta) for d in loopml.evaluation.compare(cand, champ)]
    """
    for value, what in ((candidate, "candidate"), (champion, "champion")):
        if not isinstance(value, Evaluation):
            raise InvalidInput(
                f"the {what} must be an Evaluation (from loopml.evaluate), got "
                f"{type(value).__name__}."
            )
    if candidate.data_digest != champion.data_digest or candidate.target != champion.target:
        raise InvalidInput(
            f"the candidate ({candidate.model_uri}) and the champion ({champion.model_uri}) "
            "were evaluated on different data or targets: evaluate both on the same frame or "
            "data:/ version."
        )
    if candidate.task != champion.task:
        raise InvalidInput(
            f"the candidate ({candidate.model_uri}) is a {candidate.task} and the champion "
            f"({champion.model_uri}) a {champion.task}: their metrics do not compare; compare "
            "two models of the same task."
        )
    names = [m for m in METRICS if m in candidate.metrics or m in champion.metrics]
    out = []
    for name in names:
        a, b = candidate.metrics.get(name), champion.metrics.get(name)
        higher = METRICS[name] == "higher"
        delta = None if a is None or b is None else a - b
        improved = None if delta is None or delta == 0 else (delta > 0) == higher
        out.append(MetricDelta(name, a, b, delta, higher, improved))
    return out


def champion_uri(model: Any, environment: str | None = None) -> str:
    """``models:/<name>/<version>`` of the champion of the model ``model`` names (a
    ``models:/`` URI): the version the ``champion`` alias points at, or with
    ``environment`` the version that environment holds. NotFound, saying how to set
    one, when there is none.

    Example::

        loopml.evaluation.champion_uri("models:/churn/4", environment="prod")  # 'models:/churn/3'
    """
    from loopml.registry import environments, get_model_version
    from loopml.uri import ModelURI, parse_model_uri

    text = _validate.text(str(model) if hasattr(model, "__fspath__") else model, "model")
    if not text.startswith("models:/"):
        raise InvalidInput(
            f"a champion is a registered model's: {text!r} is not a models:/ URI. Compare "
            "with another model by its URI instead (--against models:/NAME/VERSION)."
        )
    name = parse_model_uri(text).name
    alias = CHAMPION
    if environment is not None:
        known = environments()
        if environment not in known:
            raise InvalidInput(
                f"unknown environment {_validate.shown(environment)}: expected one of "
                f"{', '.join(known)}."
            )
        alias = environment
    try:
        found = get_model_version(name, alias=alias)
    except NotFound:
        get_model_version(name)  # an unknown model is its own NotFound
        how = (
            f"promote one (loopml models promote {name}/VERSION --to {alias})"
            if environment is not None
            else f"set it (loopml models alias {name} {CHAMPION} VERSION), or pass --env ENV"
        )
        raise NotFound(
            f"model {name!r} has no champion: no version is under {alias!r}; {how}, or "
            f"compare with a version by its URI (--against models:/{name}/VERSION)."
        ) from None
    return str(ModelURI(name, found.version))
