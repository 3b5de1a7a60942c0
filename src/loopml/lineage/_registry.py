"""The URI registry: every scheme loopml serves, and how to open and describe its nodes.

Each scheme names, by ``"module:function"`` path, how its URIs are parsed
and what resolves and describes them; the modules are imported on first
use, so a package plugs its scheme in here without anyone importing it
upward. This table (and the flavor table of ``loopml.models``, for model
libraries) is where loopml imports its own code by path.

A resolver is ``resolve(context, parsed) -> Node``: the canonical URI of
what the URI names (``data:/iris@latest`` → ``data:/iris@3``, a run id
prefix → the full id) and the object itself, or
:class:`~loopml.errors.NotFound`. A describer is ``describe(context, uris)
-> {uri: label}`` for many nodes of its scheme at once; nodes that no
longer exist get no label.

A scheme may also name a ``live(context) -> set of hashes``: stored objects
it keeps alive beyond the references its nodes own (``data`` keeps every
object of the versions ``loopml.lock`` pins, which a fresh clone pulls
without recording anything). ``loopml.gc`` asks every scheme through
:func:`live_objects`.

A scheme may name a ``purge(context, dry_run) -> list of URIs``: it removes
for good the nodes a user deleted (soft-deleted runs, experiments, datasets)
and the references they held, and returns their URIs (on a dry run, those it
would remove, whose references gc then disregards). ``loopml.gc`` runs every
purge before it collects objects, through :func:`purge_deleted`.

To add a scheme (a model registry, deployments, monitors...): give its
record and parser to :mod:`loopml.uri`, write its resolver and describer in
its own package, and add one entry to :data:`SCHEMES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loopml._lazy import load
from loopml.context import Context
from loopml.errors import InvalidInput
from loopml.uri import scheme_of

__all__ = [
    "SCHEMES",
    "Node",
    "Scheme",
    "describe",
    "live_objects",
    "parse",
    "purge_deleted",
    "resolve",
]


@dataclass(frozen=True)
class Scheme:
    """One URI scheme: its parser, resolver and describer (and, optionally, what it keeps
    alive beyond its references) as ``"module:function"`` paths."""

    name: str
    parse: str
    resolve: str
    describe: str
    live: str | None = None
    purge: str | None = None


@dataclass(frozen=True)
class Node:
    """What a URI names: its canonical URI and the object (a run, a dataset version...)."""

    uri: str
    value: Any


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme(
            "data",
            "loopml.uri:parse_data_uri",
            "loopml.data._uris:resolve",
            "loopml.data._uris:describe",
            "loopml.data._uris:live_objects",
            purge="loopml.data._uris:purge",
        ),
        Scheme(
            "runs",
            "loopml.uri:parse_run_uri",
            "loopml.tracking._uris:resolve",
            "loopml.tracking._uris:describe",
            purge="loopml.tracking._uris:purge",
        ),
        Scheme(
            "models",
            "loopml.uri:parse_model_uri",
            "loopml.registry._uris:resolve",
            "loopml.registry._uris:describe",
            purge="loopml.registry._uris:purge",
        ),
        Scheme(
            "validation",
            "loopml.uri:parse_validation_uri",
            "loopml.validation._store:resolve",
            "loopml.validation._store:describe",
        ),
        Scheme(
            "evaluation",
            "loopml.uri:parse_evaluation_uri",
            "loopml.evaluation._repository:resolve",
            "loopml.evaluation._repository:describe",
        ),
        Scheme(
            "promotion",
            "loopml.uri:parse_promotion_uri",
            "loopml.evaluation._repository:resolve_promotion",
            "loopml.evaluation._repository:describe_promotions",
        ),
        Scheme(
            "deployments",
            "loopml.uri:parse_deployment_uri",
            "loopml.deployments._repository:resolve",
            "loopml.deployments._repository:describe",
        ),
        Scheme(
            "rollout",
            "loopml.uri:parse_rollout_uri",
            "loopml.deployments._repository:resolve_rollout",
            "loopml.deployments._repository:describe_rollouts",
        ),
        Scheme(
            "alerts",
            "loopml.uri:parse_alert_uri",
            "loopml.monitoring._repository:resolve_alert",
            "loopml.monitoring._repository:describe_alerts",
        ),
        Scheme(
            "triggers",
            "loopml.uri:parse_trigger_uri",
            "loopml.automation._repository:resolve_event",
            "loopml.automation._repository:describe_events",
        ),
        Scheme(
            "cache",
            "loopml.uri:parse_cache_uri",
            "loopml.pipelines._cache:resolve",
            "loopml.pipelines._cache:describe",
        ),
    )
}


def _scheme(uri: str) -> Scheme:
    name = scheme_of(_canonical(uri))
    found = SCHEMES.get(name)
    if found is None:
        raise InvalidInput(
            f"no part of loopml serves {name + ':/'!r} URIs such as {uri!r}; it knows "
            f"{', '.join(repr(s + ':/') for s in SCHEMES)}."
        )
    return found


def _canonical(uri: str) -> str:
    """``uri``, or for a dataset reference without its scheme (``iris``, ``iris@3``) the
    ``data:/`` URI it means, so every command takes data references in one form."""
    if isinstance(uri, str) and ":/" not in uri:
        from loopml.uri import parse_data_uri

        try:
            return str(parse_data_uri(uri))
        except InvalidInput:
            return uri
    return uri


def parse(uri: str) -> Any:
    """The record of ``uri`` (a :class:`~loopml.uri.DataURI`, ...), checked by its scheme;
    a bare dataset reference (``iris@3``) is read as ``data:/iris@3``."""
    uri = _canonical(uri)
    return load(_scheme(uri).parse)(uri)


def resolve(ctx: Context, uri: str) -> Node:
    """What ``uri`` names, by its scheme's resolver; NotFound when it does not exist. A
    bare dataset reference (``iris``, ``iris@3``) means its ``data:/`` URI."""
    uri = _canonical(uri)
    scheme = _scheme(uri)
    node: Node = load(scheme.resolve)(ctx, load(scheme.parse)(uri))
    return node


def describe(ctx: Context, uris: Iterable[str]) -> dict[str, str]:
    """A short label for each node people can recognise (a run's name and status, a
    dataset version's size and message...); nodes of unknown schemes get none."""
    by_scheme: dict[str, list[str]] = {}
    for uri in uris:
        try:
            name = scheme_of(uri)
        except InvalidInput:
            continue
        if name in SCHEMES:
            by_scheme.setdefault(name, []).append(uri)
    labels: dict[str, str] = {}
    for name, items in by_scheme.items():
        labels.update(load(SCHEMES[name].describe)(ctx, sorted(items)))
    return labels


def live_objects(ctx: Context) -> set[str]:
    """Every stored object some scheme keeps alive beyond the references (for gc)."""
    live: set[str] = set()
    for scheme in SCHEMES.values():
        if scheme.live is not None:
            live.update(load(scheme.live)(ctx))
    return live


def purge_deleted(ctx: Context, dry_run: bool) -> list[str]:
    """Remove for good what users deleted, scheme by scheme (for gc); returns the URIs
    removed (or, with ``dry_run``, that would be)."""
    purged: list[str] = []
    for scheme in SCHEMES.values():
        if scheme.purge is not None:
            purged.extend(load(scheme.purge)(ctx, dry_run))
    return purged
