"""The record of a promotion request through an environment's gates."""

from __future__ import annotations

from dataclasses import dataclass

from loopml._enum import StrEnum
from loopml.evaluation._gates import GateCheck
from loopml.uri import ModelURI

__all__ = ["Promotion", "PromotionStatus"]


class PromotionStatus(StrEnum):
    """Where a promotion request ended: ``PROMOTED`` (every check passed, the environment
    moved), ``REFUSED`` (a check failed; nothing moved), ``PENDING_APPROVAL`` (passed,
    waiting for a person under ``approval = true``), then ``APPROVED`` (moved) or
    ``REJECTED``; ``FORCED`` (moved despite failed checks, with a reason); ``CANDIDATE``
    (passed, recorded as the candidate of a rollout: the environment moves when the
    rollout is promoted, and the record becomes ``PROMOTED``)."""

    PROMOTED = "PROMOTED"
    REFUSED = "REFUSED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    FORCED = "FORCED"
    CANDIDATE = "CANDIDATE"


@dataclass(frozen=True)
class Promotion:
    """One request to move ``name`` v``version`` into ``environment``, as stored.

    ``checks`` are the gate checks with their outcomes (none for an
    environment without gates); ``champion_version`` is the version the
    environment held when the request was made (None: nothing), ``dataset``
    the evaluation data as resolved (``data:/holdout@3``), ``evaluation_id``
    and ``champion_evaluation_id`` the stored evaluations the checks read.
    ``user`` asked at ``created_at`` (with ``reason``); under ``approval =
    true``, ``decided_by`` approved or rejected at ``decided_at`` with
    ``decision_reason``. ``transition_id`` is the environment move it made.
    """

    id: int
    name: str
    version: int
    environment: str
    status: PromotionStatus
    champion_version: int | None
    dataset: str | None
    evaluation_id: int | None
    champion_evaluation_id: int | None
    checks: tuple[GateCheck, ...]
    forced: bool
    reason: str | None
    user: str | None
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    decision_reason: str | None = None
    transition_id: int | None = None

    @property
    def uri(self) -> str:
        """The version's URI, ``models:/<name>/<version>``."""
        return str(ModelURI(self.name, self.version))

    def tally(self, noun: str = "checks") -> str:
        """``2 of 3 checks passed, 1 skipped`` (a champion check with no champion is
        skipped, never passed), for one-line summaries."""
        passed = sum(c.passed for c in self.checks)
        skipped = sum(not c.passed and not c.failed for c in self.checks)
        head = f"{passed} of {len(self.checks)} {noun} passed"
        return head + (f", {skipped} skipped" if skipped else "")

    @property
    def failures(self) -> list[GateCheck]:
        """The checks that failed."""
        return [c for c in self.checks if c.failed]

    @property
    def moved(self) -> bool:
        """Whether this request moved the environment."""
        return self.status in (
            PromotionStatus.PROMOTED,
            PromotionStatus.APPROVED,
            PromotionStatus.FORCED,
        )

    @property
    def message(self) -> str:
        """One line for people: what happened."""
        head = f"{self.name} v{self.version} → {self.environment}"
        was = "nothing" if self.champion_version is None else f"v{self.champion_version}"
        if self.status == PromotionStatus.REFUSED:
            failed = "; ".join(_failure(c) for c in self.failures)
            return f"{head}: refused, {len(self.failures)} failing check(s): {failed}"
        if self.status == PromotionStatus.PENDING_APPROVAL:
            return (
                f"{head}: every check passed; waiting for approval (loopml models approve "
                f"{self.name}/{self.version} --to {self.environment})"
            )
        if self.status == PromotionStatus.CANDIDATE:
            gates = self.tally() if self.checks else "no gates"
            return (
                f"{head}: passed as a candidate ({gates}); {self.environment} moves when a "
                f"rollout of it is promoted (loopml deploy NAME --strategy canary --candidate "
                f"{self.uri})"
            )
        if self.status == PromotionStatus.REJECTED:
            return f"{head}: rejected by {self.decided_by or 'unknown'}"
        move = f"{self.environment} of {self.name}: {was} → v{self.version}"
        if self.status == PromotionStatus.FORCED:
            return f"{move} (FORCED past {len(self.failures)} failing check(s): {self.reason})"
        if self.status == PromotionStatus.APPROVED:
            return f"{move} (APPROVED by {self.decided_by or 'unknown'})"
        gates = self.tally() if self.checks else "no gates"
        return f"{move} (PROMOTED: {gates})"


def _failure(check: GateCheck) -> str:
    return check.text + (f" ({check.message})" if check.message else "")
