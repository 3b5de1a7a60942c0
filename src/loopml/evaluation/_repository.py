"""Every SQL statement of evaluation: ``promotions``.

A promotion row records one request to move a model version into an
environment: every gate check with its outcome, the champion it was compared
with, the evaluation data, and (under ``approval = true``) who decided and
when. A row that moved the environment is written in the move's own
transaction (``registry.promote_model(..., on_move=...)``), so the move and
its record are stored together or not at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from loopml.evaluation._gates import GateCheck
from loopml.evaluation._promotion import Promotion, PromotionStatus
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.uri import ModelURI

__all__ = [
    "decide",
    "find_pending",
    "get_promotion",
    "get_promotions",
    "insert_promotion",
    "latest_promotion",
    "list_promotions",
    "pending",
    "promotion_uri",
    "record",
]

_COLUMNS = (
    "id, name, version, environment, status, champion_version, dataset, evaluation_id, "
    'champion_evaluation_id, checks, forced, reason, "user", created_at, decided_by, '
    "decided_at, decision_reason, transition_id"
)


def promotion_uri(promotion_id: int) -> str:
    """``promotions:/<id>``: the node a promotion is in the lineage graph."""
    return f"promotions:/{promotion_id}"


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
    ``models:/name/N → promotions:/id`` and, for each ``(uri, relation)`` of ``links``,
    ``uri → promotions:/id``."""
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


def find_pending(conn: Connection, name: str, version: int, environment: str) -> Promotion | None:
    """The newest promotion of ``name`` v``version`` to ``environment`` waiting for a
    decision, or None."""
    row = conn.first(
        f"SELECT {_COLUMNS} FROM promotions WHERE name = ? AND version = ? AND environment = ? "
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
            f"SELECT {_COLUMNS} FROM promotions WHERE name = ? AND version = ? "
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
) -> bool:
    """Set the decision on a pending promotion in the caller's transaction; False when it
    is no longer pending (someone decided first)."""
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
            PromotionStatus.PENDING_APPROVAL.value,
        ),
    )
    changed = cur.rowcount
    cur.close()
    return bool(changed == 1)


def get_promotion(meta: MetadataStore, promotion_id: int) -> Promotion | None:
    """The promotion ``promotion_id``, or None."""
    with meta.read() as conn:
        row = conn.first(f"SELECT {_COLUMNS} FROM promotions WHERE id = ?", (promotion_id,))
    return None if row is None else _promotion(row)


def get_promotions(meta: MetadataStore, ids: Sequence[int]) -> list[Promotion]:
    """The promotions among ``ids`` that exist."""
    if not ids:
        return []
    with meta.read() as conn:
        test, param = conn.in_list(list(ids))
        rows = conn.all(f"SELECT {_COLUMNS} FROM promotions WHERE id {test}", (param,))
    return [_promotion(r) for r in rows]


def list_promotions(
    meta: MetadataStore,
    name: str,
    version: int | None,
    environment: str | None,
    limit: int,
) -> list[Promotion]:
    """The promotions of ``name`` (of one version, one environment), newest first."""
    sql = f"SELECT {_COLUMNS} FROM promotions WHERE name = ?"
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
