"""Every SQL statement of evaluation: stored evaluations, promotion requests and
reproductions, and ``evaluation:/`` and ``promotion:/`` in the URI registry.

An evaluation is one row of ``evaluations`` (its result as JSON) written in
one transaction with its lineage edges: ``models:/<name>/<version> →
evaluation:/<id>`` (relation ``evaluated``) and ``data:/<ds>@<n> →
evaluation:/<id>`` (relation ``evaluated_on``). A reproduction's verdict is written in
one transaction with the edge from the original run to the run that repeated it
(relation ``reproduces``), so neither is ever seen without the other.

A promotion is one row of ``promotions``: a request to move a model version
into an environment, with every gate check and its outcome, the champion it
was compared with, the evaluation data and (under ``approval = true``) who
decided and when. A row that moved the environment is written in the move's
own transaction (``registry.promote_model(..., on_move=...)``), so the move
and its record are stored together or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from loopml._user import current_user
from loopml.context import Context, current
from loopml.errors import CorruptObject, InvalidInput, NotFound
from loopml.evaluation._gates import GateCheck
from loopml.evaluation._promotion import Promotion, PromotionStatus
from loopml.evaluation._records import Evaluation
from loopml.lineage import Node
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.uri import (
    EvaluationURI,
    ModelURI,
    PromotionURI,
    parse_evaluation_uri,
    parse_promotion_uri,
)

__all__ = [
    "decide",
    "describe",
    "describe_promotions",
    "find_pending",
    "get_evaluation",
    "get_promotion",
    "get_promotions",
    "insert_promotion",
    "insert_reproduction",
    "latest_promotion",
    "list_evaluations",
    "list_promotions",
    "list_reproductions",
    "pending",
    "promotion_rows",
    "promotion_uri",
    "record",
    "record_pending",
    "resolve",
    "resolve_promotion",
    "store_evaluation",
]

_COLUMNS = (
    "id, name, version, model_uri, manifest_digest, dataset, data_digest, target, task, "
    "result, report_digest, created_at"
)


def _dumps(value: Any) -> str:
    # NaN and infinities are not JSON: a metric that is not a number is left out upstream,
    # and any left in a nested figure is stored as null
    return json.dumps(_clean(value), sort_keys=True, ensure_ascii=False)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def store_evaluation(evaluation: Evaluation) -> Evaluation:
    """Record ``evaluation`` and its lineage in one transaction; sets and returns its id."""
    ctx = current()
    data = evaluation.to_dict()
    data.pop("id", None)
    payload = _dumps(data)

    def tx(conn: Connection) -> int:
        cur = conn.execute(
            "INSERT INTO evaluations (name, version, model_uri, manifest_digest, dataset, "
            'data_digest, target, task, result, report_digest, "user", created_at) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                evaluation.name,
                evaluation.version,
                evaluation.model_uri,
                evaluation.manifest_digest,
                evaluation.dataset,
                evaluation.data_digest,
                evaluation.target,
                evaluation.task,
                payload,
                None,
                current_user(),
                evaluation.created_at,
            ),
        )
        new_id = int(cur.fetchone()[0])
        cur.close()
        uri = str(EvaluationURI(new_id))
        edges = []
        if evaluation.name is not None and evaluation.version is not None:
            edges.append((str(ModelURI(evaluation.name, evaluation.version)), uri, "evaluated"))
        if evaluation.dataset is not None:
            edges.append((evaluation.dataset, uri, "evaluated_on"))
        lineage_edges.add_edges(conn, edges)
        return new_id

    evaluation.id = ctx.metadata.write(tx)
    return evaluation


def _from_row(row: tuple[Any, ...]) -> Evaluation:
    """The stored evaluation of ``row``; CorruptObject naming it when its ``result`` is not
    the JSON an evaluation stores (changed outside loopml)."""
    number = int(row[0])
    try:
        result = json.loads(row[9])
        if not isinstance(result, dict):
            raise CorruptObject(f"its result is JSON {type(result).__name__}, not an object.")
        result["id"] = number
        return Evaluation.from_dict(result)
    except (ValueError, CorruptObject) as exc:  # JSONDecodeError is a ValueError
        raise CorruptObject(
            f"the stored evaluation:/{number} is corrupt ({str(exc).rstrip('.')}): it was "
            "changed outside loopml and cannot be read; evaluate the model again."
        ) from None


def get_evaluation(id: int | str) -> Evaluation:
    """The stored evaluation ``id`` (a number or ``evaluation:/<id>``).

    Example::

        ev = loopml.evaluation.get_evaluation("evaluation:/3")
        ev.metrics["f1"]
    """
    number = _id(id)
    with current().metadata.read() as conn:
        row = conn.first(f"SELECT {_COLUMNS} FROM evaluations WHERE id = ?", (number,))
    if row is None:
        raise NotFound(
            f"no stored evaluation {number}: loopml.evaluation.list_evaluations() lists them."
        )
    return _from_row(row)


def _id(value: int | str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"an evaluation id is a number, got {value!r}.")
    if isinstance(value, int):
        if value < 1 or value > 2**62:
            raise InvalidInput(f"an evaluation id is a positive number, got {value}.")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _id(int(text)) if len(text) < 19 else _id(0)
        return parse_evaluation_uri(text).id
    raise InvalidInput(f"an evaluation id is a number or 'evaluation:/<id>', got {value!r}.")


def _of_model(name: str | None, version: int | None) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause (empty when neither is given) keeping the rows of model ``name``
    and of its ``version``, and its parameters."""
    where: list[str] = []
    params: list[Any] = []
    if name is not None:
        where.append("name = ?")
        params.append(name)
    if version is not None:
        where.append("version = ?")
        params.append(int(version))
    return (" WHERE " + " AND ".join(where) if where else ""), params


def list_evaluations(
    name: str | None = None, version: int | None = None, *, limit: int = 100
) -> list[Evaluation]:
    """Stored evaluations, newest first: all of them, a model's, or one version's.

    Example::

        [e.metrics.get("f1") for e in loopml.evaluation.list_evaluations("churn", 3)]
    """
    where, params = _of_model(name, version)
    sql = f"SELECT {_COLUMNS} FROM evaluations{where} ORDER BY id DESC LIMIT ?"
    params.append(int(limit))
    with current().metadata.read() as conn:
        return [_from_row(r) for r in conn.all(sql, params)]


def resolve(ctx: Context, uri: EvaluationURI) -> Node:
    """The stored evaluation ``uri`` names."""
    with ctx.metadata.read() as conn:
        row = conn.first(f"SELECT {_COLUMNS} FROM evaluations WHERE id = ?", (uri.id,))
    if row is None:
        raise NotFound(f"no stored evaluation {uri}: loopml.evaluate() stores them.")
    return Node(str(uri), _from_row(row))


def describe(ctx: Context, uris: list[str]) -> dict[str, str]:
    """The main metrics of each stored evaluation."""
    ids = {parse_evaluation_uri(u).id: u for u in uris}
    if not ids:
        return {}
    with ctx.metadata.read() as conn:
        test, param = conn.in_list(list(ids))
        rows = conn.all(f"SELECT id, result FROM evaluations WHERE id {test}", (param,))
    labels = {}
    for number, result in rows:
        try:
            ev = _from_row((number, *([None] * 8), result))
        except CorruptObject:
            labels[ids[int(number)]] = "corrupt: changed outside loopml"
            continue
        head = ", ".join(
            f"{k} {ev.metrics[k]:.4g}"
            for k in ("f1", "accuracy", "roc_auc", "rmse", "r2")
            if isinstance(ev.metrics.get(k), (int, float))
        )
        labels[ids[int(number)]] = f"{ev.task} on {ev.rows:,} rows: {head}"
    return labels


# -- promotions ----------------------------------------------------------------------

_PROMOTION_COLUMNS = (
    "id, name, version, environment, status, champion_version, dataset, evaluation_id, "
    'champion_evaluation_id, checks, forced, reason, "user", created_at, decided_by, '
    "decided_at, decision_reason, transition_id"
)


def promotion_uri(promotion_id: int) -> str:
    """``promotion:/<id>``: the node a promotion is in the lineage graph."""
    return str(PromotionURI(promotion_id))


def _promotion(row: Sequence[Any]) -> Promotion:
    checks = tuple(GateCheck.from_dict(c) for c in json.loads(row[9]))
    return Promotion(
        id=int(row[0]),
        name=row[1],
        version=int(row[2]),
        environment=row[3],
        status=PromotionStatus(row[4]),
        champion_version=None if row[5] is None else int(row[5]),
        dataset=row[6],
        evaluation_id=None if row[7] is None else int(row[7]),
        champion_evaluation_id=None if row[8] is None else int(row[8]),
        checks=checks,
        forced=bool(row[10]),
        reason=row[11],
        user=row[12],
        created_at=float(row[13]),
        decided_by=row[14],
        decided_at=None if row[15] is None else float(row[15]),
        decision_reason=row[16],
        transition_id=None if row[17] is None else int(row[17]),
    )


def insert_promotion(
    conn: Connection,
    *,
    name: str,
    version: int,
    environment: str,
    status: PromotionStatus,
    champion_version: int | None,
    dataset: str | None,
    evaluation_id: int | None,
    champion_evaluation_id: int | None,
    checks: Sequence[GateCheck],
    reason: str | None,
    user: str | None,
    transition_id: int | None,
    links: Sequence[tuple[str, str]] = (),
) -> Promotion:
    """Record a promotion request in the caller's transaction, with lineage edges
    ``models:/name/N → promotion:/id`` and, for each ``(uri, relation)`` of ``links``,
    ``uri → promotion:/id``."""
    now = time.time()
    payload = json.dumps([c.to_dict() for c in checks], sort_keys=True)
    forced = status == PromotionStatus.FORCED
    new_id = int(
        conn.scalar(
            "INSERT INTO promotions (name, version, environment, status, champion_version, "
            'dataset, evaluation_id, champion_evaluation_id, checks, forced, reason, "user", '
            "created_at, transition_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (
                name,
                version,
                environment,
                status.value,
                champion_version,
                dataset,
                evaluation_id,
                champion_evaluation_id,
                payload,
                forced,
                reason,
                user,
                now,
                transition_id,
            ),
        )
    )
    uri = promotion_uri(new_id)
    edges = [(str(ModelURI(name, version)), uri, "promotion")]
    edges += [(src, uri, relation) for src, relation in links]
    lineage_edges.add_edges(conn, edges)
    return Promotion(
        id=new_id,
        name=name,
        version=version,
        environment=environment,
        status=status,
        champion_version=champion_version,
        dataset=dataset,
        evaluation_id=evaluation_id,
        champion_evaluation_id=champion_evaluation_id,
        checks=tuple(checks),
        forced=forced,
        reason=reason,
        user=user,
        created_at=now,
        transition_id=transition_id,
    )


def record(meta: MetadataStore, **fields: Any) -> Promotion:
    """:func:`insert_promotion` in a transaction of its own (a promotion that moves
    nothing: refused, pending, or an environment already there)."""
    return meta.write(lambda conn: insert_promotion(conn, **fields))


def record_pending(meta: MetadataStore, **fields: Any) -> Promotion:
    """Record a request that waits for a decision; an older request of the same version
    to the same environment still waiting is rejected in the same transaction, as
    superseded by this one, so one request per version and environment waits."""

    def tx(conn: Connection) -> Promotion:
        new = insert_promotion(conn, **fields)
        conn.execute(
            "UPDATE promotions SET status = ?, decided_by = ?, decided_at = ?, "
            "decision_reason = ? WHERE name = ? AND version = ? AND environment = ? "
            "AND status = ? AND id < ?",
            (
                PromotionStatus.REJECTED.value,
                new.user,
                new.created_at,
                f"superseded by {promotion_uri(new.id)}",
                new.name,
                new.version,
                new.environment,
                PromotionStatus.PENDING_APPROVAL.value,
                new.id,
            ),
        ).close()
        return new

    return meta.write(tx)


def find_pending(conn: Connection, name: str, version: int, environment: str) -> Promotion | None:
    """The newest promotion of ``name`` v``version`` to ``environment`` waiting for a
    decision, or None."""
    row = conn.first(
        f"SELECT {_PROMOTION_COLUMNS} FROM promotions WHERE name = ? AND version = ? AND environment = ? "
        "AND status = ? ORDER BY id DESC LIMIT 1",
        (name, version, environment, PromotionStatus.PENDING_APPROVAL.value),
    )
    return None if row is None else _promotion(row)


def pending(meta: MetadataStore, name: str, version: int, environment: str) -> Promotion | None:
    """:func:`find_pending` in a read transaction."""
    with meta.read() as conn:
        return find_pending(conn, name, version, environment)


def latest_promotion(
    meta: MetadataStore, name: str, version: int, environment: str
) -> Promotion | None:
    """The newest promotion of ``name`` v``version`` to ``environment``, or None."""
    with meta.read() as conn:
        row = conn.first(
            f"SELECT {_PROMOTION_COLUMNS} FROM promotions WHERE name = ? AND version = ? "
            "AND environment = ? ORDER BY id DESC LIMIT 1",
            (name, version, environment),
        )
    return None if row is None else _promotion(row)


def decide(
    conn: Connection,
    promotion_id: int,
    status: PromotionStatus,
    *,
    user: str | None,
    reason: str | None,
    transition_id: int | None,
    was: PromotionStatus = PromotionStatus.PENDING_APPROVAL,
) -> bool:
    """Set the decision on a pending promotion (one in status ``was``) in the caller's
    transaction; False when it is no longer pending (someone decided first)."""
    cur = conn.execute(
        "UPDATE promotions SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ?, "
        "transition_id = ? WHERE id = ? AND status = ?",
        (
            status.value,
            user,
            time.time(),
            reason,
            transition_id,
            promotion_id,
            was.value,
        ),
    )
    changed = cur.rowcount
    cur.close()
    return bool(changed == 1)


def get_promotion(meta: MetadataStore, promotion_id: int) -> Promotion | None:
    """The promotion ``promotion_id``, or None."""
    with meta.read() as conn:
        row = conn.first(
            f"SELECT {_PROMOTION_COLUMNS} FROM promotions WHERE id = ?", (promotion_id,)
        )
    return None if row is None else _promotion(row)


def get_promotions(meta: MetadataStore, ids: Sequence[int]) -> list[Promotion]:
    """The promotions among ``ids`` that exist."""
    if not ids:
        return []
    with meta.read() as conn:
        test, param = conn.in_list(list(ids))
        rows = conn.all(f"SELECT {_PROMOTION_COLUMNS} FROM promotions WHERE id {test}", (param,))
    return [_promotion(r) for r in rows]


def list_promotions(
    meta: MetadataStore,
    name: str,
    version: int | None,
    environment: str | None,
    limit: int,
) -> list[Promotion]:
    """The promotions of ``name`` (of one version, one environment), newest first."""
    sql = f"SELECT {_PROMOTION_COLUMNS} FROM promotions WHERE name = ?"
    params: list[Any] = [name]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    if environment is not None:
        sql += " AND environment = ?"
        params.append(environment)
    params.append(limit)
    with meta.read() as conn:
        rows = conn.all(sql + " ORDER BY id DESC LIMIT ?", params)
    return [_promotion(r) for r in rows]


def resolve_promotion(ctx: Context, uri: PromotionURI) -> Node:
    """The stored promotion ``uri`` names."""
    found = get_promotion(ctx.metadata, uri.id)
    if found is None:
        raise NotFound(f"no promotion {uri}: loopml models history <name> lists them.")
    return Node(str(uri), found)


def describe_promotions(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``churn v4 → prod: REFUSED (2 of 5 checks failed)`` for each stored promotion."""
    ids = {parse_promotion_uri(u).id: u for u in uris}
    labels = {}
    for p in get_promotions(ctx.metadata, list(ids)):
        failed = len(p.failures)
        checks = f" ({failed} of {len(p.checks)} checks failed)" if failed else ""
        labels[ids[p.id]] = f"{p.name} v{p.version} → {p.environment}: {p.status}{checks}"
    return labels


# -- reproductions ------------------------------------------------------------------

_REPRODUCTION_COLUMNS = (
    'id, name, version, run_id, reproduced_run_id, status, tolerance, comparison, message, "user", '
    "created_at"
)


def insert_reproduction(
    meta: MetadataStore, row: dict[str, Any], edge: tuple[str, str, str] | None
) -> int:
    """Store a reproduction (``row``: the columns of ``reproductions`` but ``id``) and,
    when given, its lineage ``edge``; the new row's id."""

    def tx(conn: Connection) -> int:
        cur = conn.execute(
            "INSERT INTO reproductions (name, version, run_id, reproduced_run_id, status, "
            'tolerance, comparison, message, "user", created_at) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                row["name"],
                row["version"],
                row["run_id"],
                row["reproduced_run_id"],
                row["status"],
                row["tolerance"],
                row["comparison"],
                row["message"],
                row["user"],
                row["created_at"],
            ),
        )
        try:
            new_id = int(cur.fetchone()[0])
        finally:
            cur.close()
        if edge is not None:
            lineage_edges.add_edges(conn, [edge])
        return new_id

    return meta.write(tx)


def list_reproductions(
    meta: MetadataStore, name: str | None, version: int | None, limit: int | None
) -> list[tuple[Any, ...]]:
    """Rows of ``reproductions`` (:data:`_REPRODUCTION_COLUMNS`), newest first: of model
    ``name`` (and its ``version``) when given."""
    where, params = _of_model(name, version)
    sql = f"SELECT {_REPRODUCTION_COLUMNS} FROM reproductions{where} ORDER BY id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with meta.read() as conn:
        return conn.all(sql, params)


def promotion_rows(name: str, version: int) -> list[dict[str, Any]]:
    """The promotion requests of ``name`` v``version``, oldest first, as stored (``checks``
    decoded from JSON): what the model card shows of gates, overrides and approvals."""
    with current().metadata.read() as conn:
        rows = conn.all(
            f"SELECT {_PROMOTION_COLUMNS} FROM promotions WHERE name = ? AND version = ? "
            "ORDER BY id",
            (name, int(version)),
        )
    keys = [k.strip().strip('"') for k in _PROMOTION_COLUMNS.split(",")]
    out = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        try:
            checks = json.loads(item["checks"] or "[]")
        except ValueError:
            checks = []
        item["checks"] = [c for c in checks if isinstance(c, dict)]
        item["forced"] = bool(item["forced"])
        out.append(item)
    return out
