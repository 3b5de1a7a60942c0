"""``loopml.autolog()``: every scikit-learn, XGBoost and LightGBM ``fit`` logs itself.

After ``loopml.autolog()``, a ``fit`` (and ``fit_transform`` / ``fit_predict``)
of a scikit-learn estimator, or of XGBoost's and LightGBM's scikit-learn API,
logs into the active run (or a run named after the estimator's class, started
for the fit and ended when it returns):

- params: ``get_params(deep=False)``; a nested estimator (a pipeline's steps,
  a search's ``estimator``) becomes a mapping ``{"class": ..., <its params>}``
  that the tracking rule flattens to dotted keys (``steps.clf.C``); a search
  adds ``best_<param>`` and the metric ``best_cv_score``;
- training metrics, named as MLflow names them: ``training_score`` and, for
  a classifier, ``training_accuracy_score``, ``training_f1_score``,
  ``training_precision_score``, ``training_recall_score``,
  ``training_log_loss``, ``training_roc_auc``; for a regressor
  ``training_mean_squared_error``, ``training_root_mean_squared_error``,
  ``training_mean_absolute_error``, ``training_r2_score``; XGBoost and
  LightGBM add their eval results per iteration (``validation_0-logloss``,
  ``valid_0-binary_logloss`` ...) as step-indexed metrics when given an
  ``eval_set``;
- the model, as ``runs:/<run_id>/model``, with its signature inferred from
  the training ``X`` (and its first rows as the input example when
  ``log_input_examples=True``).

The native ``xgboost.train`` and ``lightgbm.train`` (the module attributes)
log their params, ``num_boost_round``, eval results per iteration and the
booster, without a signature.

How ``fit`` is patched, cheaply: no estimator module is imported. When
``autolog()`` is called, the classes below ``sklearn.base.BaseEstimator``
already imported (``type.__subclasses__``, a walk of a few hundred classes,
well under a millisecond) get their own ``fit`` wrapped, and a
``__init_subclass__`` hook on ``BaseEstimator`` wraps every class defined
later (an sklearn module imported afterwards, XGBoost's and LightGBM's
estimators, a user's class). When scikit-learn is not imported yet, an import
hook waits for ``sklearn.base`` and does the same then. (Walking
``sklearn.utils.all_estimators`` instead would import every estimator module:
about 0.4 s on a 2-core machine, and it misses classes defined outside
scikit-learn.)

Only the outermost fit logs: a Pipeline or GridSearchCV fitting its inner
estimators, or a subclass's ``fit`` calling ``super().fit``, runs with a
per-thread depth guard that turns logging off. An exception raised while
logging never reaches the caller (it is reported once as an
:class:`AutologWarning`); an exception raised by ``fit`` propagates unchanged
(a run started for the fit ends FAILED). ``autolog(disable=True)`` puts the
original methods back. Patching and unpatching hold a lock, so threads may
fit while another calls ``autolog``.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import inspect
import math
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from loopml.errors import InvalidInput

__all__ = ["AutologWarning", "autolog"]

_METHODS = ("fit", "fit_transform", "fit_predict")
_MARK = "__loopml_autolog__"  # set on a wrapper: the function it wraps
_EXAMPLE_ROWS = 5
_MAX_NESTING = 5


class AutologWarning(UserWarning):
    """Something autolog could not log; the fit itself went on unaffected."""


@dataclass(frozen=True)
class _Config:
    log_models: bool
    log_input_examples: bool
    exclusive: bool
    silent: bool


_lock = threading.RLock()
_config: _Config | None = None
_patched: dict[tuple[Any, str], Any] = {}  # (class or module, name) -> the original it held
_hook_installed = False
_local = threading.local()
_warned: set[tuple[str, str]] = set()


def autolog(
    *,
    log_models: bool = True,
    log_input_examples: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    silent: bool = False,
) -> None:
    """Log params, training metrics and the model of every scikit-learn, XGBoost and
    LightGBM ``fit`` from now on (see :mod:`loopml.models._autolog` for what is logged).

    Inside a run, a fit logs into it; outside one, it starts a run named after
    the estimator's class and ends it when ``fit`` returns. ``log_models=False``
    leaves the model out; ``log_input_examples=True`` stores the first rows of
    ``X`` as the model's input example; ``exclusive=True`` logs only into the
    runs autolog starts itself, never into yours; ``silent=True`` hides the
    warnings about what could not be logged. ``disable=True`` restores the
    original ``fit`` methods. Calling it again replaces the settings; ``fit``
    is never wrapped twice.

    Example::

        loopml.autolog()
        with loopml.start_run(experiment="churn"):
            LogisticRegression().fit(X, y)   # params, training_* metrics, runs:/<id>/model
    """
    options = {
        "log_models": log_models,
        "log_input_examples": log_input_examples,
        "disable": disable,
        "exclusive": exclusive,
        "silent": silent,
    }
    for name, value in options.items():
        if not isinstance(value, bool):
            raise InvalidInput(
                f"autolog's {name} must be True or False, got {type(value).__name__} {value!r}."
            )
    global _config
    with _lock:
        if disable:
            _config = None
            _unpatch()
            return
        _config = _Config(log_models, log_input_examples, exclusive, silent)
        _warned.clear()
        waiting = False
        for name, patch in _TARGETS.items():
            module = sys.modules.get(name)
            if module is not None and _loaded(module):
                patch(module)
            else:
                waiting = True
        if waiting:
            _install_hook()


# ---------------------------------------------------------------- patching


def _patch_sklearn(base: ModuleType) -> None:
    root: type = base.BaseEstimator
    _hook_subclasses(root)
    seen: set[type] = set()
    todo = [root]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        _patch_class(cls)
        todo.extend(type.__subclasses__(cls))


def _patch_class(cls: type) -> None:
    own = cls.__dict__
    for name in _METHODS:
        fn = own.get(name)
        if not inspect.isfunction(fn) or hasattr(fn, _MARK):
            continue
        _patched[(cls, name)] = fn
        setattr(cls, name, _wrap(fn))


def _patch_native(module: ModuleType) -> None:
    """Wrap ``xgboost.train`` / ``lightgbm.train`` (the module attribute: a ``train``
    imported by name before ``autolog()`` stays as it was)."""
    fn = module.__dict__.get("train")
    if not inspect.isfunction(fn) or hasattr(fn, _MARK):
        return
    _patched[(module, "train")] = fn
    module.train = _wrap_train(fn, module.__name__)  # type: ignore[attr-defined]


def _hook_subclasses(root: type) -> None:
    """Wrap the ``fit`` of every class defined below ``root`` from now on."""
    key = (root, "__init_subclass__")
    if key in _patched:
        return
    before = root.__dict__.get("__init_subclass__")
    _patched[key] = before

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if before is not None:
            before.__get__(None, cls)(**kwargs)
        else:
            parent: Any = super(root, cls)
            parent.__init_subclass__(**kwargs)
        if _config is not None:
            with _lock:
                if _config is not None:
                    _patch_class(cls)

    setattr(__init_subclass__, _MARK, before)
    root.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment,method-assign]


def _unpatch() -> None:
    global _hook_installed
    for (cls, name), original in list(_patched.items()):
        current = cls.__dict__.get(name)
        if current is not None and isinstance(current, classmethod):
            current = current.__func__
        if current is not None and hasattr(current, _MARK):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)
        del _patched[(cls, name)]
    if _hook_installed:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ImportHook)]
        _hook_installed = False


def _loaded(module: ModuleType) -> bool:
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


class _ImportHook(importlib.abc.MetaPathFinder):
    """Patch ``sklearn.base``, ``xgboost`` or ``lightgbm`` right after its first import."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _TARGETS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, _TARGETS[fullname])
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create: Callable[[importlib.machinery.ModuleSpec], ModuleType | None] | None
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        with _lock:
            if _config is not None:
                self._patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code... for tools
        return getattr(self._loader, name)


def _install_hook() -> None:
    global _hook_installed
    if not _hook_installed:
        sys.meta_path.insert(0, _ImportHook())
        _hook_installed = True


# ---------------------------------------------------------------- the wrappers


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = _config
        depth = getattr(_local, "depth", 0)
        if config is None or depth:
            _local.depth = depth + 1
            try:
                return original(self, *args, **kwargs)
            finally:
                _local.depth = depth
        return _logged_fit(config, original, self, args, kwargs)

    setattr(fit, _MARK, original)
    return fit


def _wrap_train(original: Callable[..., Any], library: str) -> Callable[..., Any]:
    label = f"{library}.train"

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        config = _config
        depth = getattr(_local, "depth", 0)
        if config is None or depth:  # e.g. XGBModel.fit calling train
            _local.depth = depth + 1
            try:
                return original(*args, **kwargs)
            finally:
                _local.depth = depth
        try:
            sig = inspect.signature(original)
            call = sig.bind(*args, **kwargs)
        except TypeError:  # the library raises its own error for these arguments
            return original(*args, **kwargs)
        bound = call.arguments
        recorded: dict[str, Any] = {}
        if library == "xgboost":
            if bound.get("evals_result") is None:
                bound["evals_result"] = recorded
            else:
                recorded = bound["evals_result"]
        else:
            import lightgbm

            bound["callbacks"] = [
                *(bound.get("callbacks") or []),
                lightgbm.record_evaluation(recorded),
            ]

        def log(run: Any, booster: Any) -> None:
            rounds = bound.get("num_boost_round", sig.parameters["num_boost_round"].default)
            _log_train(config, run, label, bound.get("params"), rounds, recorded, booster)

        return _logged_call(config, label, lambda: original(*call.args, **call.kwargs), log)

    setattr(train, _MARK, original)
    return train


def _log_train(
    config: _Config,
    run: Any,
    label: str,
    params: Any,
    rounds: Any,
    recorded: dict[str, Any],
    booster: Any,
) -> None:
    try:
        values = dict(params or {})
        values.setdefault("num_boost_round", rounds)
        run.log_params({k: _param(v, 1) for k, v in values.items()})
    except Exception as exc:
        _warn(config, "log its params", label, exc)
    try:
        _log_eval_results(run, recorded)
    except Exception as exc:
        _warn(config, "log its eval results", label, exc)
    if config.log_models:
        try:
            from loopml.models._model import log_model

            log_model(booster, name=_free_name(run.id))
        except Exception as exc:
            _warn(config, "log the model", label, exc)


def _logged_fit(
    config: _Config, original: Callable[..., Any], est: Any, args: Any, kwargs: Any
) -> Any:
    return _logged_call(
        config,
        type(est).__name__,
        lambda: original(est, *args, **kwargs),
        lambda run, result: _log_fit(config, run, est, original, args, kwargs),
    )


def _logged_call(
    config: _Config,
    label: str,
    call: Callable[[], Any],
    log: Callable[[Any, Any], None],
) -> Any:
    """``call()`` with the depth guard up, then ``log(run, result)`` into the active run
    (or one named ``label`` started for it and ended after)."""
    from loopml.tracking import active_run, start_run

    run = None
    started = False
    _local.depth = 1
    try:
        try:
            run = active_run()
            if run is None:
                run = start_run(run_name=label[:255])
                started = True
            elif config.exclusive:
                run = None
        except Exception as exc:
            _warn(config, "start a run", label, exc)
            run = None
        try:
            result = call()
        except BaseException as exc:
            if started and run is not None:
                try:
                    run.__exit__(type(exc), exc, exc.__traceback__)
                except Exception as end_exc:
                    _warn(config, "end its run", label, end_exc)
            raise
        if run is not None:
            try:
                log(run, result)
            finally:
                if started:
                    try:
                        run.end()
                    except Exception as exc:
                        _warn(config, "end its run", label, exc)
        return result
    finally:
        _local.depth = 0


def _warn(config: _Config, what: str, est: Any, exc: BaseException) -> None:
    label = est if isinstance(est, str) else type(est).__name__
    key = (what, label)
    if config.silent or key in _warned:
        return
    _warned.add(key)
    warnings.warn(
        f"loopml autolog could not {what} for {label}: "
        f"{type(exc).__name__}: {exc}; the fit itself is unaffected (this is said once).",
        AutologWarning,
        stacklevel=5,
    )


def _fit_args(original: Callable[..., Any], est: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    try:
        bound = inspect.signature(original).bind(est, *args, **kwargs)
    except (TypeError, ValueError):
        return {"X": args[0] if args else kwargs.get("X")}
    found = dict(bound.arguments)
    extra = found.pop("kwargs", None) or found.pop("fit_params", None) or {}
    if isinstance(extra, dict):
        found.setdefault("sample_weight", extra.get("sample_weight"))
    return found


def _log_fit(
    config: _Config,
    run: Any,
    est: Any,
    original: Callable[..., Any],
    args: Any,
    kwargs: Any,
) -> None:
    def attempt(what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:
            _warn(config, what, est, exc)

    found: dict[str, Any] = {}

    def bind() -> None:
        found.update(_fit_args(original, est, args, kwargs))

    attempt("read the fit's arguments", bind)
    X, y, weight = found.get("X"), found.get("y"), found.get("sample_weight")
    attempt("log its params", lambda: run.log_params(_params_of(est, 0)))
    if hasattr(est, "best_params_"):
        attempt("log its best params", lambda: _log_search(run, est))
    if X is not None and y is not None:
        metrics: dict[str, float] = {}

        def failed(key: str, exc: Exception) -> None:
            _warn(config, f"compute {key}", est, exc)

        def compute() -> None:
            metrics.update(_training_metrics(est, X, y, weight, failed))

        attempt("compute its training metrics", compute)
        attempt("log its training metrics", lambda: run.log_metrics(metrics))
    attempt("log its eval results", lambda: _log_evals(run, est))
    if config.log_models:
        attempt("log the model", lambda: _log_model(config, est, X))


# ---------------------------------------------------------------- params


def _params_of(est: Any, depth: int) -> dict[str, Any]:
    return {key: _param(value, depth) for key, value in est.get_params(deep=False).items()}


def _param(value: Any, depth: int) -> Any:
    if depth < _MAX_NESTING and not isinstance(value, type) and hasattr(value, "get_params"):
        try:
            return {"class": type(value).__name__, **_params_of(value, depth + 1)}
        except Exception:
            return type(value).__name__
    if (
        depth < _MAX_NESTING
        and isinstance(value, (list, tuple))
        and value
        and all(
            isinstance(item, tuple) and len(item) in (2, 3) and isinstance(item[0], str)
            for item in value
        )
        and len({item[0] for item in value}) == len(value)
    ):  # a pipeline's steps, a ColumnTransformer's or a VotingClassifier's estimators
        return {item[0]: _param(item[1], depth + 1) for item in value}
    if inspect.isfunction(value) or inspect.isbuiltin(value) or isinstance(value, type):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', value)}"
    if callable(value) and not hasattr(value, "get_params"):
        return type(value).__name__
    return value


def _log_search(run: Any, est: Any) -> None:
    run.log_params({f"best_{k}": _param(v, 1) for k, v in est.best_params_.items()})
    score = getattr(est, "best_score_", None)
    if isinstance(score, (int, float)) and math.isfinite(float(score)):
        run.log_metric("best_cv_score", float(score))


# ---------------------------------------------------------------- metrics


def _kind(est: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(est):
        return "classifier"
    if is_regressor(est):
        return "regressor"
    return "other"


def _training_metrics(
    est: Any, X: Any, y: Any, weight: Any, failed: Callable[[str, Exception], None]
) -> dict[str, float]:
    """The training metrics of ``est`` fitted on ``X, y``. Predictions are made once and
    ``y`` converted to an array once: scikit-learn's input checks, not the arithmetic,
    are most of what a metric costs on a small set. A metric that fails is left out
    (``failed`` says why)."""
    kind = _kind(est)
    if kind == "other":
        return {}
    import numpy as np
    from sklearn import metrics as m
    from sklearn.base import ClassifierMixin, RegressorMixin

    out: dict[str, float] = {}

    def add(key: str, fn: Callable[[], Any]) -> None:
        try:
            value = float(fn())
        except Exception as exc:
            failed(key, exc)
            return
        if math.isfinite(value):
            out[key] = value

    truth = np.asarray(y)
    pred = est.predict(X)
    w = weight
    # the mixins' score is the accuracy / r2 computed below: not worth a second predict
    plain_score = getattr(type(est), "score", None) in (
        getattr(ClassifierMixin, "score", None),
        getattr(RegressorMixin, "score", None),
    )
    if kind == "classifier":
        add("training_accuracy_score", lambda: m.accuracy_score(truth, pred, sample_weight=w))
        binary = len(np.unique(truth)) <= 2
        extra: dict[str, Any] = {"average": "binary" if binary else "weighted"}
        if binary:
            extra["pos_label"] = est.classes_[-1]
        prf: list[Any] = []

        def scores(i: int) -> float:
            if not prf:
                prf.extend(m.precision_recall_fscore_support(truth, pred, sample_weight=w, **extra))
            return float(prf[i])

        add("training_precision_score", lambda: scores(0))
        add("training_recall_score", lambda: scores(1))
        add("training_f1_score", lambda: scores(2))
        if hasattr(est, "predict_proba"):
            proba: list[Any] = []

            def probabilities() -> Any:
                if not proba:
                    proba.append(est.predict_proba(X))
                return proba[0]

            add(
                "training_log_loss",
                lambda: m.log_loss(truth, probabilities(), sample_weight=w, labels=est.classes_),
            )

            def auc() -> float:
                p = probabilities()
                if p.shape[1] == 2:
                    return float(m.roc_auc_score(truth, p[:, 1], sample_weight=w))
                return float(
                    m.roc_auc_score(
                        truth, p, sample_weight=w, multi_class="ovr", labels=est.classes_
                    )
                )

            add("training_roc_auc", auc)
        same = "training_accuracy_score"
    else:
        add(
            "training_mean_squared_error",
            lambda: m.mean_squared_error(truth, pred, sample_weight=w),
        )
        if "training_mean_squared_error" in out:
            out["training_root_mean_squared_error"] = math.sqrt(out["training_mean_squared_error"])
        add(
            "training_mean_absolute_error",
            lambda: m.mean_absolute_error(truth, pred, sample_weight=w),
        )
        add("training_r2_score", lambda: m.r2_score(truth, pred, sample_weight=w))
        same = "training_r2_score"
    if plain_score and same in out:
        out["training_score"] = out[same]
    elif hasattr(est, "score"):
        if w is None:
            add("training_score", lambda: est.score(X, y))
        else:
            add("training_score", lambda: est.score(X, y, sample_weight=w))
    return out


def _log_evals(run: Any, est: Any) -> None:
    """XGBoost's and LightGBM's ``evals_result_``: {dataset: {metric: [per iteration]}}."""
    module = type(est).__module__
    if not module.startswith(("xgboost", "lightgbm")):
        return
    try:
        results = est.evals_result_
    except Exception:  # fitted without an eval_set
        return
    _log_eval_results(run, results)


def _log_eval_results(run: Any, results: Any) -> None:
    if not isinstance(results, dict):
        return
    for dataset, by_metric in results.items():
        for metric, values in dict(by_metric).items():
            key = f"{dataset}-{metric}"
            for step, value in enumerate(values):
                run.log_metric(key, float(value), step)


# ---------------------------------------------------------------- the model


def _log_model(config: _Config, est: Any, X: Any) -> None:
    from loopml.models._model import log_model
    from loopml.models._signature import Signature, infer_output, infer_signature

    name = _free_name(_active_run_id())
    if X is None:
        log_model(est, name=name)
        return
    head = _head(X, _EXAMPLE_ROWS)
    signature = None
    try:
        inputs = infer_signature(X)
        output = None
        if hasattr(est, "predict"):
            output = infer_output(est.predict(head))
        signature = Signature(inputs.inputs, output)
    except Exception as exc:
        _warn(config, "infer the model's signature", est, exc)
    log_model(
        est,
        name=name,
        signature=signature,
        input_example=head if config.log_input_examples else None,
    )


def _active_run_id() -> str:
    from loopml.tracking import active_run

    run = active_run()
    return "" if run is None else run.id


def _free_name(run_id: str) -> str:
    """``model`` for a run's first autologged model, then ``model-2``, ``model-3``, ...: a
    second fit in one run logs its own model, as the first one's stays."""
    from loopml.tracking import list_artifacts

    if not run_id:
        return "model"
    n = 1
    while True:
        name = "model" if n == 1 else f"model-{n}"
        if not list_artifacts(run_id, name):
            return name
        n += 1


def _head(X: Any, rows: int) -> Any:
    if hasattr(X, "head") and callable(X.head):  # pandas, polars
        return X.head(rows)
    if hasattr(X, "slice") and hasattr(X, "num_rows"):  # pyarrow
        return X.slice(0, rows)
    return X[:rows]


_TARGETS: dict[str, Callable[[ModuleType], None]] = {
    "sklearn.base": _patch_sklearn,
    "xgboost": _patch_native,
    "lightgbm": _patch_native,
}
