"""The result of a drift check: one :class:`ColumnDrift` per column, and the verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ColumnDrift", "ColumnSummary", "DriftReport", "Histogram", "MultivariateDrift"]


@dataclass(frozen=True)
class ColumnSummary:
    """What a column of one side looks like: counts, missing rate, moments and quantiles
    (numeric), the most frequent categories and their shares (categorical)."""

    n: int
    n_missing: int
    missing_rate: float
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: Mapping[str, float] = field(default_factory=dict)
    top_categories: Mapping[str, float] = field(default_factory=dict)
    n_distinct: int | None = None


@dataclass(frozen=True)
class Histogram:
    """The two distributions side by side, as shares of each side's non-missing rows.

    Numeric: ``edges`` bound the bins (``len(edges) + 1`` shares: below the first
    edge, between edges, above the last); categorical: one share per ``labels`` entry.
    """

    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnDrift:
    """The drift of one column.

    ``drifted`` when the distribution moved (``score`` above ``threshold``, and in
    small samples ``p_value`` below the significance level too) or the missing rate
    moved by ``missing_threshold`` or more (``missing_drifted``). ``score`` is None
    when the current window holds no value of the column.
    """

    name: str
    kind: str
    method: str
    score: float | None
    threshold: float
    drifted: bool
    reference_summary: ColumnSummary
    current_summary: ColumnSummary
    p_value: float | None = None
    missing_change: float = 0.0
    missing_drifted: bool = False
    unseen: tuple[Any, ...] = ()
    unseen_share: float = 0.0
    histogram: Histogram | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MultivariateDrift:
    """The domain classifier's verdict: how well it tells reference rows from current
    ones (cross-validated ROC AUC; 0.5 is chance), against ``threshold``."""

    auc: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    model: str


@dataclass(frozen=True)
class DriftReport:
    """What :func:`~loopml.detect_drift` found.

    ``dataset_drift`` when ``drift_share`` (drifted columns / columns compared) reaches
    ``share_threshold``, or the multivariate check (when asked for) found drift.

    Example::

        report = loopml.detect_drift("data:/churn@3", todays_frame)
        report.dataset_drift, report.drift_share
        report.columns["age"].score, report.columns["age"].drifted
        report.to_html("drift.html")
    """

    dataset_drift: bool
    drift_share: float
    share_threshold: float
    columns: Mapping[str, ColumnDrift]
    n_reference: int
    n_current: int
    reference: str | None = None
    current: str | None = None
    multivariate: MultivariateDrift | None = None
    skipped: tuple[str, ...] = ()

    @property
    def drifted_columns(self) -> list[str]:
        """The names of the drifted columns, in column order."""
        return [name for name, col in self.columns.items() if col.drifted]

    def summary(self) -> str:
        """One line: the verdict and the drifted columns."""
        drifted = self.drifted_columns
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        head = f"{verdict}: {len(drifted)} of {len(self.columns)} columns drifted"
        head += f" ({self.drift_share:.0%}, threshold {self.share_threshold:.0%})"
        if self.multivariate is not None:
            head += f"; domain classifier AUC {self.multivariate.auc:.3f}"
        return head + (f": {', '.join(drifted)}" if drifted else "")

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values (NaN and infinities as None)."""
        out = asdict(self)
        out["drifted_columns"] = self.drifted_columns
        return _plain(out)

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report (inline CSS and SVG, no script, no external
        asset); written atomically to ``path`` too when given."""
        from loopml import _validate
        from loopml._files import write_text
        from loopml.monitoring._html import render_html

        target = _validate.writable(path, "HTML report path") if path is not None else None
        text = render_html(self)
        if target is not None:
            write_text(target, text, "HTML report")
        return text


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _plain(value.item())
    return value
