"""The deployments' verbs: deploy (create or update), read, list, delete, history, the
changes a server polls for, and the deployments declared in loopml.toml.

A deployment serves one registered version. ``deploy`` resolves the model URI it is
given (``models:/churn@prod``) to a version, checks that the version is READY, that
its package loads with every file matching its hash, and that every object of the
package is intact in the artifact store itself (not only in the local model cache a
load reads first), and only then changes the record,
by compare-and-set on the deployment's generation: of two deploys of one name at once,
one is stored and the other raises :class:`~loopml.errors.Conflict` and changes
nothing. The deployment holds store references on its version's package, so gc keeps
it and the registry refuses to delete or archive the version while it is served.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from loopml import _validate
from loopml._user import current_user
from loopml.context import current
from loopml.deployments import _repository
from loopml.deployments._records import Deployment, DeploymentChange, RolloutPolicy, Strategy
from loopml.errors import CorruptObject, InvalidInput, LoopmlError, NotFound
from loopml.uri import ModelURI, check_name, parse_model_uri, redact

__all__ = [
    "changes_since",
    "current_generation",
    "declared_deployments",
    "delete_deployment",
    "deploy",
    "deployment_history",
    "get_deployment",
    "list_deployments",
    "sync_deployments",
]

_MAX_CONFIG_BYTES = 64 * 1024
_MAX_GENERATION = 2**31 - 1


def _name(value: Any) -> str:
    return check_name(_validate.text(value, "deployment name"), "deployment name")


def _model(value: Any) -> ModelURI:
    text = _validate.text(value, "model").strip()
    if not text.startswith("models:/"):
        raise InvalidInput(
            f"model must be a models:/ URI, got {_validate.shown(text)}: e.g. "
            "'models:/churn@prod' (an alias, resolved now) or 'models:/churn/3'."
        )
    return parse_model_uri(text)


def _config(value: Any) -> dict[str, Any]:
    """``config`` as stored: a table of text keys and JSON values (checked here, read by
    the server)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(
            f"config must be a dict of settings for the server, got {type(value).__name__} "
            f"{_validate.shown(value)}."
        )
    for key in value:
        _validate.text(key, "config key")
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(
            f"config must hold text, numbers, true/false, lists and tables only ({exc}); "
            "NaN and infinity are not allowed."
        ) from None
    _validate.text(text, "config", empty=True)
    if len(text.encode()) > _MAX_CONFIG_BYTES:
        raise InvalidInput(
            f"config is {len(text.encode())} bytes as JSON; the limit is {_MAX_CONFIG_BYTES}."
        )
    loaded: dict[str, Any] = json.loads(text)
    _check_serving(loaded)
    return loaded


_SERVING_KEYS = {
    "max_batch_size": ("a whole number from 1 to 100000", lambda v: _whole(v, 1, 100_000)),
    "max_batch_wait_ms": (
        "a number of milliseconds from 0 to 10000",
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 10_000,
    ),
    "log_predictions": ("true or false", lambda v: isinstance(v, bool)),
    "log_probabilities": ("true or false", lambda v: isinstance(v, bool)),
}


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_serving(config: dict[str, Any]) -> None:
    """The server's settings in ``config``: known keys (:class:`ServingConfig`), each of
    its type, so a typo is refused at deploy time rather than ignored by a server."""
    for key, value in config.items():
        if key not in _SERVING_KEYS:
            raise InvalidInput(
                f"unknown config key {_validate.shown(key)}: a deployment's config takes "
                f"{', '.join(sorted(_SERVING_KEYS))}."
            )
        what, ok = _SERVING_KEYS[key]
        if not ok(value):
            raise InvalidInput(f"config {key} must be {what}, got {_validate.shown(value)}.")


def _reason(value: Any) -> str | None:
    return None if value is None else _validate.text(value, "reason", empty=True)


def deploy(
    name: str,
    model: str | None = None,
    *,
    strategy: str = "replace",
    candidate: str | None = None,
    steps: str | Sequence[int] | None = None,
    interval: str | float | None = None,
    split: int | None = None,
    sticky: str | None = None,
    policy: dict[str, Any] | RolloutPolicy | None = None,
    reason: str | None = None,
    config: dict[str, Any] | None = None,
) -> Deployment:
    """Create deployment ``name`` serving ``model``, or point it at a new version.

    ``model`` is a ``models:/`` URI; an alias (``models:/churn@prod``) is resolved
    now, and the version it names is recorded (a later move of the alias changes
    nothing until the next deploy). The version must be READY, and its package
    must load with every file matching its hash, and be intact in the artifact store
    itself (:class:`~loopml.errors.CorruptObject` naming the object, suggesting
    ``loopml fsck``), before the record changes: a
    server repeats that check before the new version takes traffic. Deploying
    what the deployment serves already (same version, URI and config) changes
    nothing and returns it with ``changed`` False. ``config`` (the server's settings,
    :class:`~loopml.deployments.ServingConfig`) replaces the deployment's when given and
    is kept when not (``{}`` clears it). Two deploys of one name at
    once: one is stored, the other raises :class:`~loopml.errors.Conflict`.

    ``strategy`` other than ``replace`` (``blue_green``, ``canary``, ``shadow``,
    ``ab``) starts a rollout of ``candidate`` on the deployment instead, ``model`` (or
    the version the deployment serves) being the primary: see
    :mod:`loopml.deployments._rollout` and :func:`~loopml.deployments.get_rollout`.
    ``steps`` (a canary's percents, ``"5,25,50,100"``), ``interval`` (seconds at each
    step, ``"30s"``), ``split`` (an A/B test's percent), ``sticky``
    (``"header:X-User"``) and ``policy`` (the analysis' thresholds,
    :class:`~loopml.deployments.RolloutPolicy`) belong to a rollout.

    Example::

        d = loopml.deploy("churn", "models:/churn@prod", reason="v4 passed the gates")
        d.version_uri, d.generation     # ('models:/churn/4', 1)
        loopml.deploy("churn", strategy="canary", candidate="models:/churn/5")
    """
    kind = _strategy(strategy)
    if kind is not Strategy.REPLACE:
        from loopml.deployments import _rollout

        return _rollout.start(
            name,
            model,
            kind,
            candidate=candidate,
            steps=steps,
            interval=interval,
            split=split,
            sticky=sticky,
            policy=policy,
            reason=reason,
            config=config,
        )
    given = {
        "candidate": candidate,
        "steps": steps,
        "interval": interval,
        "split": split,
        "sticky": sticky,
        "policy": policy,
    }
    for key, value in given.items():
        if value is not None:
            raise InvalidInput(
                f"{key} belongs to a rollout: give strategy='canary' (or blue_green, shadow, "
                f"ab) with it; the replace strategy switches all traffic at once."
            )
    if model is None:
        raise InvalidInput(
            "which model? Give one: loopml.deploy(name, 'models:/churn@prod') (--model URI)."
        )
    name = _name(name)
    uri = _model(model)
    reason = _reason(reason)
    settings = _config(config) if config is not None else None
    ctx = current()
    from loopml import registry

    version = registry.get_model_version(str(uri))
    if version.status != registry.ModelStatus.READY:
        raise InvalidInput(
            f"{version.uri} is {str(version.status).lower()}: only a READY version is served. "
            f"Deploy another version (loopml models show {version.name} lists them)."
        )
    before = _repository.find(ctx.metadata, name)
    if settings is None:  # no config given: keep the deployment's own
        settings = {} if before is None else before.config
    if (
        before is not None
        and (before.model_name, before.version) == (version.name, version.version)
        and before.model_uri == str(uri)
        and before.config == settings
    ):
        from dataclasses import replace

        return replace(before, changed=False)
    digests = loaded_package(version, name)[1]
    return _repository.apply(
        ctx.metadata,
        name=name,
        model_name=version.name,
        version=version.version,
        model_uri=str(uri),
        config=settings,
        expected=None if before is None else before.generation,
        digests=digests,
        user=current_user(),
        reason=reason,
        hold=lambda conn: registry.lock_version(conn, version.name, version.version),
    )


def _strategy(value: Any) -> Strategy:
    try:
        return Strategy(value)
    except ValueError:
        raise InvalidInput(
            f"unknown strategy {_validate.shown(value)}: expected one of "
            f"{', '.join(s.value for s in Strategy)}."
        ) from None


def loaded_package(version: Any, name: str) -> tuple[Any, frozenset[str]]:
    """Registered ``version`` loaded, hash-checked, and every object of its package
    checked in the artifact store; the model and its objects' digests. Errors say that
    deployment ``name`` was not changed."""
    from loopml import models

    target = str(ModelURI(version.name, version.version))
    try:
        loaded = models.load_model(target)
    except LoopmlError as exc:
        raise type(exc)(
            f"{target} does not load, so deployment {name!r} was not changed: {exc}"
        ) from None
    info = loaded.info
    if info.manifest_digest != version.manifest_digest:
        raise InvalidInput(
            f"{target} loaded a package other than the one it pins "
            f"({info.manifest_digest[:12]}… for {version.manifest_digest[:12]}…): deployment "
            f"{name!r} was not changed. Run loopml fsck."
        )
    digests = frozenset({version.manifest_digest, *info.digests})
    _check_stored(target, name, digests, info.metadata)
    return loaded, digests


def _check_stored(
    target: str, name: str, digests: frozenset[str], manifest: dict[str, Any]
) -> None:
    """Every object of the package, checked against the artifact store itself.

    A model loads from the local model cache first, so an intact cached copy would
    hide a stored object that is corrupt or gone; a server on another machine, or
    this one once its cache is cleared, would then fail to load what was deployed.
    """
    store = current().artifacts
    files = manifest.get("files")
    listed = files.items() if isinstance(files, dict) else ()
    names = {str(e.get("blake3")): n for n, e in listed if isinstance(e, dict)}
    for digest in sorted(digests):
        problem = store.check(digest)
        if problem is None:
            continue
        shown = f"object {digest} ({names.get(digest, 'its manifest')}) of {target}'s package"
        where = f"the artifact store {redact(store.uri)}"
        if problem == "missing":
            raise NotFound(
                f"{shown} is missing from {where}, so deployment {name!r} was not changed. "
                "Run 'loopml fsck' to list what is missing, and restore it from a remote "
                "with 'loopml fsck --remote URL --repair' (or register the model again)."
            )
        raise CorruptObject(
            f"{shown} is corrupt in {where} (its bytes no longer match its hash), so "
            f"deployment {name!r} was not changed. Run 'loopml fsck' to list the damaged "
            "objects, and repair them from a remote with 'loopml fsck --remote URL "
            "--repair' (or register the model again)."
        )


def get_deployment(name: str) -> Deployment:
    """Deployment ``name``; :class:`~loopml.errors.NotFound` naming the deployments there
    are.

    Example::

        loopml.get_deployment("churn").version_uri    # 'models:/churn/4'
    """
    return _repository.get(current().metadata, _name(name))


def list_deployments() -> list[Deployment]:
    """Every deployment, by name.

    Example::

        [(d.name, d.version_uri) for d in loopml.list_deployments()]
    """
    return _repository.list_all(current().metadata)


def delete_deployment(name: str, *, reason: str | None = None) -> Deployment:
    """Remove deployment ``name`` (its history stays) and release its hold on its version:
    the registry may archive or delete that version again, and gc free its bytes.
    Returns the removed deployment (status DELETED); NotFound when there is none such.

    Example::

        loopml.deployments.delete_deployment("churn", reason="replaced by churn-v2")
    """
    name = _name(name)
    reason = _reason(reason)
    return _repository.delete(current().metadata, name, user=current_user(), reason=reason)


def deployment_history(name: str) -> list[DeploymentChange]:
    """The changes of deployment ``name`` (from, to, who, when, why), newest first; a
    deleted deployment keeps its history.

    Example::

        [(c.action, c.from_version, c.to_version) for c in
         loopml.deployments.deployment_history("churn")]
    """
    return _repository.history(current().metadata, _name(name))


def changes_since(generation: int) -> list[DeploymentChange]:
    """The changes of every deployment after ``generation`` (0: all), oldest first, at
    most 10,000 a call: what a server polls to follow ``loopml deploy`` without a
    restart. It remembers the last change's generation and asks again from there.

    Example::

        seen = loopml.deployments.current_generation()
        ...
        for change in loopml.deployments.changes_since(seen):
            seen = change.generation   # reload change.name
    """
    since = _validate.count(generation, "generation", low=0, high=_MAX_GENERATION)
    return _repository.changes_since(current().metadata, since)


def current_generation() -> int:
    """The generation of the newest change of any deployment (0 when there is none):
    where a server that just read :func:`list_deployments` starts polling.

    Example::

        loopml.deployments.current_generation()    # 7
    """
    return _repository.current_generation(current().metadata)


def declared_deployments() -> dict[str, dict[str, Any]]:
    """The deployments ``[deployments.<name>]`` of loopml.toml declares, checked: name →
    ``{"model": ..., "config": {...}, "reason": ...}``.

    Example::

        loopml.deployments.declared_deployments()["churn"]["model"]   # 'models:/churn@prod'
    """
    declared: dict[str, dict[str, Any]] = {}
    for name, table in sorted(current().settings.deployments.items()):
        where = f"[deployments.{name}] of loopml.toml"
        try:
            entry = {
                "model": str(_model(table.get("model"))),
                "config": _config(table.get("config")),
                "reason": _reason(table.get("reason")),
            }
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        declared[_name(name)] = entry
    return declared


def sync_deployments() -> list[Deployment]:
    """Apply the deployments declared in loopml.toml (``[deployments.<name>]``): each one
    is deployed as :func:`deploy` would (an alias resolved now), and those serving what
    they declare already are left as they are (``changed`` False). Every declared model
    is resolved before the first one changes; deployments not declared are kept.

    Example::

        # loopml.toml
        #   [deployments.churn]
        #   model = "models:/churn@prod"
        #   config = { max_batch_size = 32 }
        [d.name for d in loopml.deployments.sync_deployments() if d.changed]
    """
    declared = declared_deployments()
    from loopml import registry

    for name, entry in declared.items():
        try:
            registry.get_model_version(entry["model"])
        except LoopmlError as exc:
            raise type(exc)(
                f"[deployments.{name}] of loopml.toml: {exc} No deployment was changed."
            ) from None
    return [
        deploy(
            name,
            entry["model"],
            reason=entry["reason"] if entry["reason"] is not None else "declared in loopml.toml",
            config=entry["config"],
        )
        for name, entry in declared.items()
    ]
