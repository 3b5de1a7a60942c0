"""Promotion through gates: ``loopml.promote``, ``approve``, ``reject``.

``promote(model, to)`` reads the environment's gates first (a typo fails
before anything runs), resolves the evaluation data (``data:/x`` means the
version ``loopml.lock`` pins, else the newest; the resolved ``data:/x@N`` is
recorded), checks its validation when ``require_validation = true``,
evaluates the candidate and the champion (the version the environment points
at) on that data, reusing a stored evaluation of the same package on the
same data, runs the checks and stores a row in ``promotions`` with each of
them. Then:

- every check passed (skipped ones do not block) → the environment moves
  (``PROMOTED``), by compare-and-set against the champion the checks saw,
  so a champion moved meanwhile is :class:`~loopml.errors.Conflict` and
  nothing is recorded as promoted;
- a check failed → ``REFUSED``: :class:`~loopml.errors.GateFailed` is
  raised, naming every failing check (``.promotion`` is the stored record);
  nothing moves;
- ``force=True`` (with a ``reason``) moves it anyway → ``FORCED``, with the
  failing checks recorded;
- ``approval = true`` → a passing candidate waits as ``PENDING_APPROVAL``
  until :func:`approve` (moves it: ``APPROVED``, who and when) or
  :func:`reject` (``REJECTED``);
- ``candidate=True`` → the checks run as usual, but a pass is recorded as
  ``CANDIDATE`` and nothing moves: the version may then be rolled out on a
  deployment (``loopml deploy NAME --strategy canary --candidate ...``), and
  :func:`complete_candidate` moves the environment when that rollout is promoted.

An environment without ``[gates.<env>]`` promotes as ``promote_model`` does,
recorded as ``PROMOTED`` with no checks. The SDK raises on a refusal rather
than returning a refused record, so a script (or ``loopml run --to``) never
goes on as if the version were promoted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loopml import _validate
from loopml._user import current_user
from loopml.context import current
from loopml.errors import Conflict, GateFailed, InvalidInput, NotFound
from loopml.evaluation import _repository
from loopml.evaluation._gates import GateCheck, Gates, GateStatus, check_gates, read_gates
from loopml.evaluation._promotion import Promotion, PromotionStatus
from loopml.uri import ModelURI, parse_model_uri

__all__ = [
    "approve",
    "candidate_promotion",
    "complete_candidate",
    "get_promotion",
    "list_promotions",
    "promote",
    "reject",
]

_REF = re.compile(r"^(?P<name>[^/@]+)(?:/v?(?P<version>\d+)|@(?P<alias>[^/@]+))?$")
_MAX_RESULTS = 100_000
_MAX_REASON = 10_000  # characters: a reason is stored with every move and printed in its history


def _reason(reason: Any) -> str | None:
    if reason is None:
        return None
    text = _validate.text(reason, "reason", empty=True)
    if len(text) > _MAX_REASON:
        raise InvalidInput(
            f"the reason is {len(text):,} characters long; give one of at most "
            f"{_MAX_REASON:,} (link to a longer write-up instead)."
        )
    return text


def _target(model: Any, version: Any) -> tuple[str, int]:
    """``(name, version)`` from ``"churn/4"``, ``"models:/churn/4"``, ``"churn@staging"``,
    ``("churn", version=4)`` or a :class:`~loopml.registry.ModelVersion`."""
    from loopml import registry

    if isinstance(model, registry.ModelVersion):
        if version is not None:
            raise InvalidInput(f"{model.uri} names its version already: pass no version.")
        return model.name, model.version
    text = _validate.text(model, "model")
    alias = None
    if text.startswith("models:/"):
        parsed = parse_model_uri(text)
        name, number, alias = parsed.name, parsed.version, parsed.alias
    else:
        m = _REF.match(text.strip())
        if m is None:
            raise InvalidInput(
                f"malformed model reference {_validate.shown(text)}: expected NAME/VERSION "
                "(churn/4), models:/NAME/VERSION or NAME@ALIAS."
            )
        name = m.group("name")
        number = int(m.group("version")) if m.group("version") else None
        alias = m.group("alias")
    if (number is not None or alias is not None) and version is not None:
        raise InvalidInput(f"{text!r} names its version already: pass no version.")
    if alias is not None:
        return name, registry.get_model_version(name, alias=alias).version
    if number is None:
        number = version
    if number is None:
        raise InvalidInput(
            f"which version of {name!r}? Name one: {name}/<version>, e.g. {name}/1, or version=..."
        )
    found = registry.get_model_version(name, number)
    return found.name, found.version


def _environment(to: Any) -> str:
    from loopml import registry

    known = registry.environments()
    if not isinstance(to, str) or to not in known:
        raise InvalidInput(
            f"unknown environment {_validate.shown(to)}: expected one of {', '.join(known)} "
            "(add more under [models] environments in loopml.toml)."
        )
    return to


def _champion(name: str, env: str) -> int | None:
    from loopml import registry

    try:
        return registry.get_model_version(name, alias=env).version
    except NotFound:
        return None


# -- evaluation ---------------------------------------------------------------------------


@dataclass
class _Evaluated:
    """What the checks read: the candidate's evaluation (and the champion's), with ids."""

    data_uri: str | None = None
    candidate: Mapping[str, Any] | None = None
    candidate_id: int | None = None
    champion: Mapping[str, Any] | None = None
    champion_id: int | None = None


def _validation_check(data_uri: str, gates: Gates) -> GateCheck:
    """``validation.errors == 0``: the data version passed its newest stored validation,
    or, with ``suite``, that suite now (and that result is stored)."""
    from loopml import lineage, validation

    expression, op = "validation.errors", "=="
    result: Any = None
    if gates.options.suite is not None:
        # the declared suite judges the data: a stored result of another (laxer) suite
        # must not stand in for it
        suite = current().settings.project_root / gates.options.suite
        result = validation.validate(data_uri, suite)
    else:
        results = [e for e in lineage.downstream(data_uri) if e.relation == "validated"]
        if results:
            newest = max(results, key=lambda e: e.created_at)
            try:
                result = lineage.resolve(newest.dst)
            except NotFound:
                result = None
    if result is None:
        return GateCheck(
            expression,
            op,
            0.0,
            None,
            GateStatus.FAILED,
            f"{data_uri} has no stored validation: run loopml.validate({data_uri!r}, suite) "
            f'or set suite = "<path>" under [gates.{gates.environment}.options]',
        )
    errors = float(len(result.failures))
    message = None if result.passed else f"{result.uri or data_uri}: {result.summary()}"
    status = GateStatus.PASSED if result.passed else GateStatus.FAILED
    return GateCheck(expression, op, 0.0, errors, status, message)


def _stored(
    name: str, number: int, manifest: str, digest: str, gates: Gates, options: dict[str, Any]
) -> Any:
    """A stored evaluation of this package on data with this digest made for the same
    request (``options``: target, positive label, slice and fairness columns, latency,
    importance...), or None. One made with other options (another positive label, a
    forced task, no latency) answers another question, and is not reused."""
    from loopml.evaluation._repository import list_evaluations

    for found in list_evaluations(name, number, limit=1000):
        if found.manifest_digest != manifest or found.data_digest != digest:
            continue
        if found.options != options:
            continue
        if gates.options.target is not None and found.target != gates.options.target:
            continue
        if any(c not in found.slices for c in gates.slice_columns):
            continue
        if any(c not in found.fairness for c in gates.sensitive_features):
            continue
        if gates.needs_importance and not found.importance:
            continue
        return found
    return None


def _evaluate(name: str, number: int, frame: Any, digest: str, data_uri: str, gates: Gates) -> Any:
    """The evaluation of ``name`` v``number`` on ``frame`` (read from ``data_uri``): a
    stored one of the same package on the same data, or a new one, stored. Slice and
    fairness columns the data lacks are left out, so their checks fail with a message
    instead of the evaluation raising."""
    from loopml import registry
    from loopml.evaluation._evaluate import evaluate, request_options
    from loopml.evaluation._repository import store_evaluation

    columns = {str(c) for c in frame.columns}
    options: dict[str, Any] = {
        "slices": [c for c in gates.slice_columns if c in columns],
        "sensitive_features": [c for c in gates.sensitive_features if c in columns],
        "positive_label": gates.options.positive_label,
    }
    version = registry.get_model_version(name, number)
    request = request_options(gates.options.target, **options)
    found = _stored(name, number, version.manifest_digest, digest, gates, request)
    if found is not None:
        return found
    made = evaluate(
        str(ModelURI(name, number)), frame, gates.options.target, store=False, **options
    )
    made.dataset = data_uri  # read once for both models, it is recorded as the version it is
    return store_evaluation(made)


class _Phases:
    """Seconds spent in each phase of a promotion (for the benchmark)."""

    def __init__(self, sink: dict[str, float] | None) -> None:
        self.sink = sink
        self.started = time.perf_counter()

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        if self.sink is not None:
            self.sink[phase] = self.sink.get(phase, 0.0) + now - self.started
        self.started = now


def _run_gates(
    name: str, number: int, champion: int | None, gates: Gates, phases: _Phases
) -> tuple[list[GateCheck], _Evaluated]:
    from loopml import data
    from loopml.evaluation._evaluate import frame_digest, load_frame

    evaluated = _Evaluated()
    checks: list[GateCheck] = []
    if gates.options.data is None:
        return checks, evaluated
    evaluated.data_uri = data.resolve_dataset(gates.options.data).uri
    if gates.options.require_validation:
        checks.append(_validation_check(evaluated.data_uri, gates))
    phases.mark("resolve data")
    if not gates.rules:
        return checks, evaluated
    frame, _ = load_frame(evaluated.data_uri)
    digest = frame_digest(frame)
    phases.mark("load data")
    cand = _evaluate(name, number, frame, digest, evaluated.data_uri, gates)
    evaluated.candidate, evaluated.candidate_id = cand.to_dict(), cand.id
    phases.mark("evaluate candidate")
    if champion is not None and gates.uses_champion:
        if champion == number:
            champ = cand
        else:
            champ = _evaluate(name, champion, frame, digest, evaluated.data_uri, gates)
        evaluated.champion, evaluated.champion_id = champ.to_dict(), champ.id
        phases.mark("evaluate champion")
    checks.extend(check_gates(gates, evaluated.candidate, evaluated.champion))
    phases.mark("checks")
    return checks, evaluated


# -- recording -----------------------------------------------------------------------------


def _links(evaluated: _Evaluated) -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []
    if evaluated.data_uri is not None:
        links.append((evaluated.data_uri, "gate_data"))
    return links


def _fields(
    name: str,
    number: int,
    env: str,
    status: PromotionStatus,
    champion: int | None,
    checks: list[GateCheck],
    evaluated: _Evaluated,
    reason: str | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "version": number,
        "environment": env,
        "status": status,
        "champion_version": champion,
        "dataset": evaluated.data_uri,
        "evaluation_id": evaluated.candidate_id,
        "champion_evaluation_id": evaluated.champion_id,
        "checks": checks,
        "reason": reason,
        "user": current_user(),
        "links": _links(evaluated),
    }


def _move(
    name: str,
    number: int,
    env: str,
    champion: int | None,
    reason: str | None,
    record: Callable[[Any, Any], Promotion],
) -> Promotion:
    """Move ``env`` from ``champion`` to ``number`` and store the record ``record(conn,
    transition)`` makes, in one transaction (Conflict when the champion moved)."""
    from loopml import registry

    made: list[Promotion] = []

    def on_move(conn: Any, transition: Any) -> None:
        made.clear()
        made.append(record(conn, transition))

    registry.promote_model(name, number, to=env, reason=reason, expected=champion, on_move=on_move)
    if not made:  # it was there already: promote_model moved nothing
        meta = current().metadata
        moves = registry.model_history(name, env)
        made.append(meta.write(lambda conn: record(conn, moves[0] if moves else None)))
    return made[0]


def promote(
    model: Any,
    to: str,
    *,
    version: int | str | None = None,
    force: bool = False,
    reason: str | None = None,
    candidate: bool = False,
) -> Promotion:
    """Promote a model version to environment ``to`` through its gates (see the module
    docstring); returns the stored :class:`Promotion` (``PROMOTED``, ``FORCED``,
    ``PENDING_APPROVAL``, or ``CANDIDATE`` with ``candidate=True``) or raises :class:`~loopml.errors.GateFailed` listing every
    failing check (the refusal is stored too; nothing moves).

    ``model`` is ``"churn/4"``, ``"models:/churn/4"``, ``"churn@staging"`` (the version
    that alias points at), a model name with ``version=``, or a ``ModelVersion``.
    ``force=True`` moves the environment despite failing checks (or a required
    approval) and needs a ``reason``, which is recorded. ``candidate=True`` records a
    pass as the candidate of a rollout and moves nothing (a candidate cannot be
    forced).

    Example::

        p = loopml.promote("churn/4", to="prod")
        p.status                       # PROMOTED
        [c.text for c in p.checks]     # ['metrics.f1 >= 0.85', ...]
    """
    if not isinstance(force, bool):
        raise InvalidInput(f"force must be True or False, got {_validate.shown(force)}.")
    if not isinstance(candidate, bool):
        raise InvalidInput(f"candidate must be True or False, got {_validate.shown(candidate)}.")
    if candidate and force:
        raise InvalidInput(
            "a candidate must pass the gates: candidate=True cannot be forced (--candidate "
            "without --force)."
        )
    reason = _reason(reason)
    if force and not (reason or "").strip():
        raise InvalidInput(
            "force=True needs a reason, which is recorded with the override: "
            "loopml.promote(..., force=True, reason='why') (--force --reason TEXT)."
        )
    return _promote(model, to, version, force, reason, None, candidate=candidate)


def _promote(
    model: Any,
    to: str,
    version: Any,
    force: bool,
    reason: str | None,
    timings: dict[str, float] | None,
    *,
    candidate: bool = False,
) -> Promotion:
    phases = _Phases(timings)
    env = _environment(to)
    gates = read_gates(env)
    phases.mark("read gates")
    name, number = _target(model, version)
    _check_ready(name, number)
    champion = _champion(name, env)
    phases.mark("resolve model")
    checks, evaluated = _run_gates(name, number, champion, gates, phases)
    try:
        if candidate:
            return _record_candidate(name, number, env, champion, checks, evaluated, reason)
        return _decide(name, number, env, champion, gates, checks, evaluated, force, reason)
    finally:
        phases.mark("record")


def _decide(
    name: str,
    number: int,
    env: str,
    champion: int | None,
    gates: Gates,
    checks: list[GateCheck],
    evaluated: _Evaluated,
    force: bool,
    reason: str | None,
) -> Promotion:
    """Record the request and, when it may, move the environment."""
    failed = any(c.failed for c in checks)
    meta = current().metadata

    if failed and not force:
        refused = _repository.record(
            meta,
            **_fields(
                name, number, env, PromotionStatus.REFUSED, champion, checks, evaluated, reason
            ),
            transition_id=None,
        )
        raise GateFailed(f"{refused.message}. Nothing moved.", refused)
    if gates.options.approval and not force:
        fields = _fields(
            name, number, env, PromotionStatus.PENDING_APPROVAL, champion, checks, evaluated, reason
        )
        return _repository.record_pending(meta, **fields, transition_id=None)
    status = (
        PromotionStatus.FORCED
        if force and (failed or gates.options.approval)
        else (PromotionStatus.PROMOTED)
    )
    fields = _fields(name, number, env, status, champion, checks, evaluated, reason)
    why = reason if reason is not None else _why(checks, status)
    return _move(
        name,
        number,
        env,
        champion,
        why,
        lambda conn, t: _repository.insert_promotion(
            conn, **fields, transition_id=None if t is None else t.id
        ),
    )


def _record_candidate(
    name: str,
    number: int,
    env: str,
    champion: int | None,
    checks: list[GateCheck],
    evaluated: _Evaluated,
    reason: str | None,
) -> Promotion:
    """Record the request as ``CANDIDATE`` when every check passed (``REFUSED``, raised,
    when one failed); nothing moves."""
    failed = any(c.failed for c in checks)
    status = PromotionStatus.REFUSED if failed else PromotionStatus.CANDIDATE
    fields = _fields(name, number, env, status, champion, checks, evaluated, reason)
    made = _repository.record(current().metadata, **fields, transition_id=None)
    if failed:
        raise GateFailed(f"{made.message}. Nothing moved.", made)
    return made


def candidate_promotion(model_name: str, version: int, env: str) -> Promotion | None:
    """The promotion that made ``model_name`` v``version`` a candidate for ``env``
    (``promote(..., candidate=True)``), when it is the version's newest promotion there
    and still a candidate; else None.

    Example::

        loopml.promote("churn/5", to="prod", candidate=True)
        loopml.evaluation.candidate_promotion("churn", 5, "prod").status   # CANDIDATE
    """
    name = _validate.text(model_name, "model name")
    number = _validate.count(version, "version", high=2**31 - 1)
    env = _validate.text(env, "environment")
    last = _repository.latest_promotion(current().metadata, name, number, env)
    if last is None or last.status != PromotionStatus.CANDIDATE:
        return None
    return last


def complete_candidate(
    model_name: str,
    version: int,
    env: str,
    *,
    reason: str | None = None,
    on_move: Callable[[Any], object] | None = None,
) -> Promotion:
    """Move environment ``env`` of ``model_name`` to candidate ``version`` (its rollout
    was promoted): the alias moves, the transition is recorded, and the candidate's
    promotion becomes ``PROMOTED``. ``on_move(conn)`` runs in the same transaction (a
    deployment records its own change there). :class:`~loopml.errors.InvalidInput` when
    the version is not a candidate for ``env``.

    Example::

        loopml.evaluation.complete_candidate("churn", 5, "prod", reason="canary passed")
    """
    reason = _reason(reason)
    request = candidate_promotion(model_name, version, env)
    if request is None:
        raise InvalidInput(
            f"{model_name} v{version} is not a candidate for {env}: run loopml models "
            f"promote {model_name}/{version} --to {env} --candidate first."
        )
    name, number = request.name, request.version
    user = current_user()

    def record(conn: Any, transition: Any) -> Promotion:
        tid = None if transition is None else transition.id
        if not _repository.decide(
            conn,
            request.id,
            PromotionStatus.PROMOTED,
            user=user,
            reason=reason,
            transition_id=tid,
            was=PromotionStatus.CANDIDATE,
        ):
            raise Conflict(
                f"the candidate promotion of {name} v{number} to {env} was completed by "
                f"someone else meanwhile; see loopml models history {name}"
            )
        if on_move is not None:
            on_move(conn)
        return request

    why = reason if reason is not None else f"rollout of candidate promotion {request.id}"
    _move(name, number, env, _champion(name, env), why, record)
    got = _repository.get_promotion(current().metadata, request.id)
    assert got is not None
    return got


def _why(checks: list[GateCheck], status: PromotionStatus) -> str:
    if not checks:
        return "promoted (no gates)"
    passed = sum(c.passed for c in checks)
    skipped = sum(c.status == GateStatus.SKIPPED for c in checks)
    return f"gates: {passed} passed, {skipped} skipped" + (
        "" if status == PromotionStatus.PROMOTED else f", {len(checks) - passed - skipped} failed"
    )


def _check_ready(name: str, number: int) -> None:
    from loopml import registry

    found = registry.get_model_version(name, number)
    if found.status != registry.ModelStatus.READY:
        raise InvalidInput(
            f"{name} v{number} is {str(found.status).lower()}: an environment points only at "
            "a READY version. Register the model again to get a new version."
        )


def _pending(name: str, number: int, env: str, verb: str) -> Promotion:
    meta = current().metadata
    found = _repository.pending(meta, name, number, env)
    if found is not None:
        return found
    last = _repository.latest_promotion(meta, name, number, env)
    state = "was never promoted there" if last is None else f"is {last.status}"
    raise InvalidInput(
        f"{name} v{number} is not pending approval for {env} ({state}): only a promotion "
        f"waiting for approval can be {verb}; request one with loopml models promote "
        f"{name}/{number} --to {env}."
    )


def approve(model: Any, to: str, reason: str | None = None, *, version: Any = None) -> Promotion:
    """Approve the pending promotion of a model version to ``to``: the environment moves
    (``APPROVED``, with who and when). A version that is not pending is one
    :class:`~loopml.errors.InvalidInput` line; when the champion moved since the
    request, or the environment's gates (checks, validation, data) changed in
    loopml.toml, :class:`~loopml.errors.Conflict` asks to promote again.

    Example::

        loopml.promote("churn/4", to="prod")      # PENDING_APPROVAL under approval = true
        loopml.approve("churn/4", to="prod", reason="reviewed the slices")
    """
    reason = _reason(reason)
    env = _environment(to)
    gates = read_gates(env)
    name, number = _target(model, version)
    request = _pending(name, number, env, "approved")
    changed = _gates_changed(request, gates)
    if changed is not None:
        raise Conflict(
            f"the gates of {env} changed since v{number} of {name} was checked ({changed}): "
            f"promote it again (loopml models promote {name}/{number} --to {env}) to check it "
            "against them."
        )
    now = _champion(name, env)
    if now != request.champion_version:
        was = "nothing" if request.champion_version is None else f"v{request.champion_version}"
        raise Conflict(
            f"{env} of {name} moved since v{number} was checked against {was} (it is "
            f"{'nothing' if now is None else f'v{now}'} now): promote it again "
            f"(loopml models promote {name}/{number} --to {env}) to check it against the "
            "new champion."
        )
    user = current_user()

    def record(conn: Any, transition: Any) -> Promotion:
        tid = None if transition is None else transition.id
        if not _repository.decide(
            conn,
            request.id,
            PromotionStatus.APPROVED,
            user=user,
            reason=reason,
            transition_id=tid,
        ):
            raise InvalidInput(
                f"the promotion of {name} v{number} to {env} was decided by someone else "
                "meanwhile; see loopml models history " + name
            )
        return request

    why = reason if reason is not None else f"approved promotion {request.id}"
    _move(name, number, env, request.champion_version, why, record)
    got = _repository.get_promotion(current().metadata, request.id)
    assert got is not None
    return got


def _gates_changed(request: Promotion, gates: Gates) -> str | None:
    """How ``gates`` differ from the ones ``request`` was checked by (its checks, its
    validation check, its data set), or None when they are the same."""
    from loopml.uri import parse_data_uri

    had = [c for c in request.checks if c.expression != "validation.errors"]
    rules = [(c.expression, c.op, c.threshold) for c in had]
    if rules != [(r.expression, r.op, r.threshold) for r in gates.rules]:
        checked = "; ".join(c.text for c in had) or "none"
        return f"checked: {checked}; now: {'; '.join(gates.checks) or 'none'}"
    validated = any(c.expression == "validation.errors" for c in request.checks)
    if validated != gates.options.require_validation:
        return f"require_validation is {str(gates.options.require_validation).lower()} now"
    was = None if request.dataset is None else parse_data_uri(request.dataset).name
    now = None if gates.options.data is None else parse_data_uri(gates.options.data).name
    if was != now:
        return f"the evaluation data was {was or 'none'}, it is {now or 'none'} now"
    return None


def reject(model: Any, to: str, reason: str | None = None, *, version: Any = None) -> Promotion:
    """Reject the pending promotion of a model version to ``to`` (``REJECTED``, with who,
    when and why); nothing moves.

    Example::

        loopml.reject("churn/4", to="prod", reason="slice 'north' too weak")
    """
    reason = _reason(reason)
    env = _environment(to)
    name, number = _target(model, version)
    request = _pending(name, number, env, "rejected")
    user = current_user()
    meta = current().metadata

    def tx(conn: Any) -> bool:
        return _repository.decide(
            conn, request.id, PromotionStatus.REJECTED, user=user, reason=reason, transition_id=None
        )

    if not meta.write(tx):
        raise InvalidInput(
            f"the promotion of {name} v{number} to {env} was decided by someone else "
            f"meanwhile; see loopml models history {name}"
        )
    got = _repository.get_promotion(meta, request.id)
    assert got is not None
    return got


def list_promotions(
    name: str,
    version: int | str | None = None,
    environment: str | None = None,
    *,
    limit: int = 1000,
) -> list[Promotion]:
    """The promotion requests of model ``name`` (of one ``version``, into one
    ``environment``), newest first, with their checks and statuses.

    Example::

        [p.status for p in loopml.evaluation.list_promotions("churn", environment="prod")]
    """
    from loopml import registry

    name = _validate.text(name, "model name")
    registry.get_model_version(name)  # NotFound naming the models there are
    number = None
    if version is not None:
        number = registry.get_model_version(name, version).version
    env = None if environment is None else _environment(environment)
    count = _validate.count(limit, "limit", high=_MAX_RESULTS)
    return _repository.list_promotions(current().metadata, name, number, env, count)


def get_promotion(promotion_id: int) -> Promotion:
    """The promotion request ``promotion_id`` (as ``list_promotions`` lists them)."""
    number = _validate.count(promotion_id, "promotion id", high=2**31 - 1)
    found = _repository.get_promotion(current().metadata, number)
    if found is None:
        raise NotFound(f"no promotion {number}: list them with loopml models history <name>.")
    return found
