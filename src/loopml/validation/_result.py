"""The records a validation hands back: one result per check, and the whole outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml._enum import StrEnum
from loopml.errors import ValidationFailed
from loopml.validation._suite import Check

__all__ = ["CheckResult", "CheckStatus", "ValidationResult"]


class CheckStatus(StrEnum):
    """How one check went: ``passed``, ``failed``, or ``skipped`` (the column is missing or
    has the wrong type, which another check already reports)."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class CheckResult:
    """How one check went.

    ``status`` is a :class:`CheckStatus`.
    ``failed_count`` counts the offending rows (or missing columns);
    ``sample_values`` holds a few of the offending values, never all of them,
    and ``sample_rows`` a few of their row positions where that makes sense.
    ``observed`` holds what was measured (e.g. ``min``/``max``, ``null_fraction``).
    """

    check: Check
    status: CheckStatus
    failed_count: int = 0
    sample_values: list[Any] = field(default_factory=list)
    sample_rows: list[int] = field(default_factory=list)
    message: str = ""
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == CheckStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check.to_dict(),
            "name": self.check.name,
            "status": self.status.value,
            "failed_count": self.failed_count,
            "sample_values": self.sample_values,
            "sample_rows": self.sample_rows,
            "message": self.message,
            "observed": self.observed,
        }


@dataclass
class ValidationResult:
    """The outcome of validating one table against a suite.

    ``passed`` is true when no error-level check failed; failed warning-level
    checks are listed in ``warnings`` and do not change it. Use
    :meth:`raise_for_errors` to turn a failure into
    :class:`~loopml.errors.ValidationFailed` (e.g. in a pipeline step)::

        loopml.validate(frame, suite).raise_for_errors()
    """

    results: list[CheckResult]
    n_rows: int
    suite_name: str | None = None
    source: str | None = None
    created_at: float = 0.0
    uri: str | None = None

    @property
    def passed(self) -> bool:
        """No error-level check failed."""
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        """The failed error-level checks."""
        return [r for r in self.results if r.failed and r.check.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        """The failed warning-level checks."""
        return [r for r in self.results if r.failed and r.check.severity == "warning"]

    @property
    def checks_run(self) -> int:
        """How many checks were evaluated (skipped ones are not counted)."""
        return sum(r.status != CheckStatus.SKIPPED for r in self.results)

    def summary(self) -> str:
        """One line: passed or failed, with counts."""
        head = "passed" if self.passed else "FAILED"
        where = f" {self.source}" if self.source else ""
        return (
            f"validation{where} {head}: {len(self.failures)} error(s), "
            f"{len(self.warnings)} warning(s), {self.checks_run} check(s) run on "
            f"{self.n_rows:,} rows"
        )

    def raise_for_errors(self) -> ValidationResult:
        """Raise :class:`~loopml.errors.ValidationFailed` if an error-level check failed.

        Returns the result itself otherwise, so it can be chained.
        """
        if self.failures:
            lines = "; ".join(f"{r.check.name}: {r.message}" for r in self.failures)
            raise ValidationFailed(
                f"{self.summary()}. Failed: {lines}. Fix the data, or relax the suite's "
                "checks (or set their severity to 'warning') if the change is expected."
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The result as plain, JSON-ready data."""
        return {
            "suite": self.suite_name,
            "source": self.source,
            "uri": self.uri,
            "created_at": self.created_at,
            "n_rows": self.n_rows,
            "passed": self.passed,
            "checks_run": self.checks_run,
            "n_failures": len(self.failures),
            "n_warnings": len(self.warnings),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationResult:
        """A result from what :meth:`to_dict` wrote (a stored result, read back)."""
        results = [
            CheckResult(
                check=Check.from_dict(r["check"]),
                status=CheckStatus(r["status"]),
                failed_count=int(r.get("failed_count", 0)),
                sample_values=list(r.get("sample_values") or []),
                sample_rows=list(r.get("sample_rows") or []),
                message=str(r.get("message", "")),
                observed=dict(r.get("observed") or {}),
            )
            for r in data.get("results", [])
        ]
        return cls(
            results=results,
            n_rows=int(data.get("n_rows", 0)),
            suite_name=data.get("suite"),
            source=data.get("source"),
            created_at=float(data.get("created_at") or 0.0),
            uri=data.get("uri"),
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """The result as JSON text; written to ``path`` too when given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report; written to ``path`` too when given."""
        from loopml.validation._report import render_html

        text = render_html(self)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text
