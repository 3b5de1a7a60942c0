"""The registry's verbs: register a model package, find versions, move aliases and
environments, archive and delete.

A registered version owns references (``store.refs``, owner ``models:/name/N``)
on the manifest and every file of its package, so ``loopml gc`` keeps its bytes
even after the run that logged them is deleted and purged. Archiving keeps
them (an archived version still loads, to compare or roll back); deleting a
version, which no alias may point at, releases them when ``gc`` purges it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml._user import current_user
from loopml.context import current
from loopml.errors import InvalidInput, NotFound
from loopml.registry import _repository, _source
from loopml.registry._filter import parse_filter, parse_order_by
from loopml.registry._records import ModelStatus, ModelVersion, RegisteredModel, Transition
from loopml.uri import RunURI, check_name, parse_model_uri, parse_run_uri

if TYPE_CHECKING:
    from loopml.store.metadata import Connection

__all__ = [
    "archive_model_version",
    "delete_alias",
    "delete_model_version",
    "environments",
    "get_model_package",
    "get_model_version",
    "list_models",
    "model_history",
    "promote_model",
    "register_model",
    "search_model_versions",
    "set_alias",
]

_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
_MAX_RESULTS = 100_000
_MAX_TAGS = 1000


def _name(value: Any) -> str:
    return check_name(_validate.text(value, "model name"), "model name")


def _version(version: Any) -> int:
    if isinstance(version, str) and version.strip().lstrip("v").isdigit():
        version = int(version.strip().lstrip("v"))
    return _validate.count(version, "model version", high=2**31 - 1)


def _alias(value: Any) -> str:
    alias = _validate.text(value, "alias")
    if not _ALIAS.match(alias):
        raise InvalidInput(
            f"invalid alias {_validate.shown(alias)}: expected a letter, then letters, "
            "digits, '_' or '-' (at most 64 characters), e.g. 'champion'."
        )
    return alias


def environments() -> tuple[str, ...]:
    """The environments versions are promoted through (``[models] environments`` of
    loopml.toml; ``dev``, ``staging``, ``prod`` by default)."""
    return current().settings.models.environments


def _environment(name: Any) -> str:
    known = environments()
    if not isinstance(name, str) or name not in known:
        raise InvalidInput(
            f"unknown environment {_validate.shown(name)}: expected one of "
            f"{', '.join(known)} (add more under [models] environments in loopml.toml)."
        )
    return name


def _tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InvalidInput(
            f"tags must be a dict of text keys and values, got {type(tags).__name__}."
        )
    if len(tags) > _MAX_TAGS:
        raise InvalidInput(f"a model version holds at most {_MAX_TAGS} tags, got {len(tags)}.")
    out: dict[str, str] = {}
    for key, value in tags.items():
        _validate.text(key, "tag key")
        if not key.strip() or len(key) > 255:
            raise InvalidInput(
                f"invalid tag key {_validate.shown(key)}: expected 1 to 255 characters."
            )
        out[key] = _validate.text(value, f"tag {key!r}", empty=True)
    return out


def register_model(
    source: str,
    name: str,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """Register the model package at ``source`` (``runs:/<run id>/<path>``, as logged by
    ``loopml.log_model``) as the next version of ``name``.

    Versions of a name number 1, 2, 3...; registering a package that a live
    version of ``name`` already holds returns that version (``is_new`` False,
    ``note`` says which) instead of a new one. A run without a model at the
    path is :class:`~loopml.errors.NotFound`, and nothing is recorded.

    Example::

        mv = loopml.register_model(f"runs:/{run.id}/model", "churn")
        mv.uri   # 'models:/churn/1'
    """
    _validate.text(source, "source")
    name = _name(name)
    if description is not None:
        _validate.text(description, "description", empty=True)
    tag_map = _tags(tags)
    parsed = parse_run_uri(source)
    if not parsed.path:
        raise InvalidInput(
            f"source {source!r} names a run, not its model: expected "
            f"'runs:/{parsed.run_id}/<path>', e.g. 'runs:/{parsed.run_id}/model'."
        )
    ctx = current()
    from loopml import tracking

    run = tracking.get_run(parsed.run_id)
    if run.deleted:
        raise InvalidInput(
            f"run {run.id} is deleted, so gc would soon remove its model: restore it first "
            f"(loopml runs restore {run.id}), then register it."
        )
    canonical = str(RunURI(run.id, parsed.path))
    try:
        info = _source.model_info(ctx, canonical)
    except NotFound:
        raise NotFound(
            f"run {run.id} has no model at {parsed.path!r}: log one there with "
            f"loopml.log_model(model, name={parsed.path!r}) inside the run, or check the path "
            f"(loopml artifacts list {run.id})."
        ) from None
    return _repository.register(
        ctx.metadata,
        name=name,
        run_id=run.id,
        source=str(getattr(info, "uri", canonical) or canonical),
        manifest_digest=str(info.manifest_digest),
        digests=frozenset(info.digests),
        description=description,
        tags=tag_map,
    )


def get_model_version(
    name: str, version: int | str | None = None, *, alias: str | None = None
) -> ModelVersion:
    """Version ``version`` of model ``name``, the version ``alias`` points at, or (with
    neither) its newest version; ``name`` may be a ``models:/`` URI.

    Example::

        loopml.get_model_version("churn", 3)
        loopml.get_model_version("churn", alias="champion")
        loopml.get_model_version("models:/churn@prod")
    """
    _validate.text(name, "model name")
    if name.startswith("models:/"):
        if version is not None or alias is not None:
            raise InvalidInput(
                f"{name!r} names its version or alias already: pass no version or alias."
            )
        uri = parse_model_uri(name)
        name, version, alias = uri.name, uri.version, uri.alias
    name = _name(name)
    meta = current().metadata
    if version is not None and alias is not None:
        raise InvalidInput(
            f"pass a version or an alias of {name!r}, not both (got {version!r} and {alias!r})."
        )
    if alias is not None:
        return _repository.find_alias(meta, name, _alias(alias))
    if version is not None:
        return _repository.get_version(meta, name, _version(version))
    return _repository.latest_version(meta, name)


def get_model_package(
    name: str, version: int | str | None = None, *, alias: str | None = None
) -> Any:
    """What the models package reads from the package a version was registered from:
    its flavor, signature, requirements and manifest (a ``ModelInfo``). Arguments as
    :func:`get_model_version`."""
    found = get_model_version(name, version, alias=alias)
    return _source.model_info(current(), found.source)


def search_model_versions(
    filter: str = "",
    order_by: list[str] | None = None,
    max_results: int = 1000,
) -> list[ModelVersion]:
    """The model versions that match ``filter`` (the runs' filter language over
    ``name``, ``version``, ``status``, ``run_id``, ``source``, ``description``,
    ``created_at``, ``alias`` and ``tags.<key>``: see :mod:`loopml.registry._filter`),
    sorted by ``order_by`` (``["version DESC"]``; then by name and newest version).

    Example::

        loopml.search_model_versions("name = 'churn' and alias = 'champion'")
        loopml.search_model_versions("tags.team = 'risk'", order_by=["created_at DESC"])
    """
    text = _validate.text(filter if filter is not None else "", "filter", empty=True)
    limit = _validate.count(max_results, "max_results", high=_MAX_RESULTS)
    order = [parse_order_by(o) for o in _validate.texts(order_by, "order_by")]
    return _repository.search(current().metadata, parse_filter(text), order, limit)


def list_models() -> list[RegisteredModel]:
    """Every registered model: its newest version, how many it has, its aliases."""
    return _repository.list_models(current().metadata)


def set_alias(name: str, alias: str, version: int | str) -> ModelVersion:
    """Point ``alias`` of model ``name`` at ``version`` (moving it from where it pointed).

    Environments (``dev``, ``staging``, ``prod``...) are aliases with a
    history: move them with :func:`promote_model`, which records the move.
    """
    name, alias, number = _name(name), _alias(alias), _version(version)
    if alias in environments():
        raise InvalidInput(
            f"{alias!r} is an environment: move it with loopml.promote_model({name!r}, "
            f"{number}, to={alias!r}) (loopml models promote {name}/{number} --to {alias}), "
            "which records the move in its history."
        )
    return _repository.set_alias(current().metadata, name, alias, number)


def delete_alias(name: str, alias: str) -> None:
    """Remove ``alias`` of model ``name``; :class:`~loopml.errors.NotFound` when it has
    none such. Environments are not removed this way (their history would lose its end)."""
    name, alias = _name(name), _alias(alias)
    if alias in environments():
        raise InvalidInput(
            f"{alias!r} is an environment of {name!r}: it moves with promote_model and is "
            "never removed, so its history stays whole."
        )
    _repository.delete_alias(current().metadata, name, alias)


_NOW = object()


def promote_model(
    name: str,
    version: int | str,
    to: str,
    reason: str | None = None,
    *,
    expected: Any = _NOW,
    on_move: Callable[[Connection, Transition], object] | None = None,
) -> Transition:
    """Move environment ``to`` of model ``name`` to ``version`` and record the move (from,
    to, who, when, why) in its history.

    The move is a compare-and-set on the environment: when another writer
    moves it between this call's read and its write, this call raises
    :class:`~loopml.errors.Conflict` and changes nothing. ``expected`` (a
    version, or None for "points nowhere") makes the caller's own earlier
    read the one compared: a caller that checked the version the
    environment held (``loopml.promote`` compares with that champion) gets
    the Conflict when it moved since. ``on_move(conn, transition)`` runs in
    the move's own transaction (a package above the registry records what
    caused the move there, so both are stored or neither; it may run more
    than once, so it writes only to the database). Promoting a version to
    the environment it is in already changes nothing and returns the move
    that put it there (``on_move`` is not called).

    Example::

        loopml.promote_model("churn", 4, to="staging", reason="beats v3 on AUC")
    """
    name, number, env = _name(name), _version(version), _environment(to)
    if reason is not None:
        _validate.text(reason, "reason", empty=True)
    meta = current().metadata
    if expected is not _NOW and expected is not None:
        expected = _version(expected)
    if expected is _NOW:
        expected = _repository.current_alias(meta, name, env)
    if expected == number:
        _repository.get_version(meta, name, number)
        moves = _repository.history(meta, name, env)
        if moves and moves[0].to_version == number:
            return moves[0]
    return _repository.move_environment(
        meta,
        name=name,
        environment=env,
        expected=expected,
        version=number,
        user=current_user(),
        reason=reason,
        on_move=on_move,
    )


def model_history(name: str, environment: str | None = None) -> list[Transition]:
    """The moves of model ``name``'s environments (or of ``environment`` only), newest
    first."""
    name = _name(name)
    env = None if environment is None else _environment(environment)
    return _repository.history(current().metadata, name, env)


def archive_model_version(name: str, version: int | str) -> ModelVersion:
    """Mark a version ARCHIVED: it keeps its bytes and still loads, but no alias or
    environment can be moved onto it. Aliases that point at it stay. A version a
    deployment serves is not archived (:class:`~loopml.errors.Conflict` naming it)."""
    name, number = _name(name), _version(version)
    return _repository.set_status(current().metadata, name, number, ModelStatus.ARCHIVED)


def delete_model_version(name: str, version: int | str) -> ModelVersion:
    """Delete a version no alias or environment points at and no deployment serves (else
    :class:`~loopml.errors.Conflict`: archive it instead). It disappears at once;
    ``loopml gc`` then removes its record and releases its bytes."""
    name, number = _name(name), _version(version)
    return _repository.soft_delete(current().metadata, name, number)
