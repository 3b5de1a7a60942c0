"""The analysis of a rollout: the candidate's rows of the prediction log against the
primary's, over one window.

``analyze(primary_rows, candidate_rows, policy)`` is a pure function of two frames as
:func:`~loopml.predictions.read_predictions` returns them (one per variant). Its
checks, each against a threshold of the :class:`RolloutPolicy`:

- ``error_rate``: rows that ended in a model error;
- ``latency_p99``: the 99th percentile of the requests' latency;
- ``distribution``: how far the candidate's predictions are from the primary's
  (Jensen–Shannon distance for classes, Wasserstein distance over the primary's
  standard deviation for numbers);
- ``quality``: once both variants have ``min_feedback`` rows with ground truth,
  accuracy (classes) or mean absolute error (numbers);
- ``disagreement`` (reported, not judged): the share of requests both variants
  answered (a shadow's mirrored ones) on which they disagree;
- ``significance`` (``ab=True``): a test of the difference in quality (chi-squared on
  right/wrong for classes, Mann–Whitney U on absolute errors for numbers), or in error
  rate before feedback arrives, with the sample size it rests on; it fails when the
  candidate is significantly worse.

The verdict: NOT_YET while either variant has fewer than ``min_requests`` requests
(never PASS), except that a candidate with enough requests whose error rate fails
fails at once; FAIL when any check fails; else PASS.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from loopml.deployments._records import Analysis, AnalysisCheck, RolloutPolicy, Verdict
from loopml.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["analyze"]

_MAX_CLASSES = 20


def _frame(rows: Any, what: str) -> pd.DataFrame:
    import pandas as pd

    if rows is None:
        return pd.DataFrame()
    if not isinstance(rows, pd.DataFrame):
        raise InvalidInput(
            f"{what} must be a pandas DataFrame of the prediction log (read_predictions), "
            f"got {type(rows).__name__}."
        )
    return rows


def _requests(df: pd.DataFrame) -> int:
    if df.empty:
        return 0
    if "request_id" in df.columns:
        return int(df["request_id"].nunique())
    return len(df)


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty or "status" not in df.columns:
        return df
    return df[df["status"] == "ok"]


def _error_rate(df: pd.DataFrame) -> float | None:
    """The share of requests (not rows) that failed: a request of many rows is one
    answer, so one large request can neither sink nor hide the rest."""
    if df.empty:
        return None
    if "status" not in df.columns:
        return 0.0
    failed = df["status"] != "ok"
    if "request_id" in df.columns:
        failed = failed.groupby(df["request_id"], sort=False).any()
    return float(failed.mean())


def _p99(df: pd.DataFrame) -> float | None:
    import numpy as np

    ok = _ok(df)
    if ok.empty or "latency_ms" not in ok.columns:
        return None
    if "request_id" in ok.columns:
        ok = ok.drop_duplicates("request_id")
    values = ok["latency_ms"].dropna().to_numpy(dtype=float)
    return float(np.percentile(values, 99)) if len(values) else None


def _predictions(df: pd.DataFrame) -> pd.Series:
    import pandas as pd

    ok = _ok(df)
    if ok.empty or "prediction" not in ok.columns:
        return pd.Series([], dtype=object)
    return ok["prediction"].dropna()


def _numbers(*series: pd.Series) -> bool:
    """Whether the predictions are numbers to compare as such (not a few classes)."""
    import pandas as pd

    values = [s for s in series if len(s)]
    if not values:
        return False
    for s in values:
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            return False
    joined = pd.concat(values, ignore_index=True).astype(float)
    whole = bool((joined == joined.round()).all())
    return not whole or joined.nunique() > _MAX_CLASSES


def _distance(primary: pd.Series, candidate: pd.Series, numbers: bool) -> float:
    import numpy as np

    if numbers:
        from scipy.stats import wasserstein_distance

        a = primary.to_numpy(dtype=float)
        b = candidate.to_numpy(dtype=float)
        scale = float(np.std(a)) or abs(float(np.mean(a))) or 1.0
        return float(wasserstein_distance(a, b)) / scale
    from scipy.spatial.distance import jensenshannon

    a, b = primary.astype(str), candidate.astype(str)
    classes = sorted(set(a) | set(b))
    p = a.value_counts().reindex(classes, fill_value=0).to_numpy(dtype=float)
    q = b.value_counts().reindex(classes, fill_value=0).to_numpy(dtype=float)
    found = float(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    return 0.0 if math.isnan(found) else found


def _labelled(df: pd.DataFrame) -> pd.DataFrame:
    ok = _ok(df)
    if ok.empty or "ground_truth" not in ok.columns or "prediction" not in ok.columns:
        return ok.iloc[0:0]
    return ok[ok["ground_truth"].notna() & ok["prediction"].notna()]


def _right(df: pd.DataFrame) -> pd.Series:
    """Whether each labelled row's prediction equals its ground truth (as numbers when
    both read as numbers, else as text)."""
    import pandas as pd

    pred = pd.to_numeric(df["prediction"], errors="coerce")
    truth = pd.to_numeric(df["ground_truth"], errors="coerce")
    if pred.notna().all() and truth.notna().all():
        return pred == truth
    return df["prediction"].astype(str) == df["ground_truth"].astype(str)


def _abs_errors(df: pd.DataFrame) -> Any:
    import pandas as pd

    pred = pd.to_numeric(df["prediction"], errors="coerce")
    truth = pd.to_numeric(df["ground_truth"], errors="coerce")
    return (pred - truth).abs().dropna().to_numpy(dtype=float)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _table_p(table: list[list[int]]) -> float:
    """The chi-squared test's p-value on a 2×2 table (1.0 when a margin is empty)."""
    from scipy.stats import chi2_contingency

    if any(sum(row) == 0 for row in table) or any(
        sum(col) == 0 for col in zip(*table, strict=False)
    ):
        return 1.0
    return float(chi2_contingency(table).pvalue)


def _significance(
    primary: pd.DataFrame, candidate: pd.DataFrame, policy: RolloutPolicy, numbers: bool
) -> AnalysisCheck:
    lp, lc = _labelled(primary), _labelled(candidate)
    alpha = policy.significance
    if len(lp) >= policy.min_feedback and len(lc) >= policy.min_feedback:
        if numbers:
            from scipy.stats import mannwhitneyu

            ep, ec = _abs_errors(lp), _abs_errors(lc)
            pv = float(mannwhitneyu(ep, ec).pvalue) if len(ep) and len(ec) else 1.0
            vp, vc = float(ep.mean()), float(ec.mean())
            worse, what = vc > vp, "mean absolute error (Mann–Whitney U)"
        else:
            rp, rc = _right(lp), _right(lc)
            table = [[int(rp.sum()), int((~rp).sum())], [int(rc.sum()), int((~rc).sum())]]
            pv = _table_p(table)
            vp, vc = float(rp.mean()), float(rc.mean())
            worse, what = vc < vp, "accuracy (chi-squared)"
        n = f"n={len(lp)}+{len(lc)} with feedback"
    else:
        ep_rate, ec_rate = _error_rate(primary) or 0.0, _error_rate(candidate) or 0.0
        np_, nc = len(primary), len(candidate)
        e_p, e_c = round(ep_rate * np_), round(ec_rate * nc)
        pv = _table_p([[e_p, np_ - e_p], [e_c, nc - e_c]])
        vp, vc = ep_rate, ec_rate
        worse, what = vc > vp, "error rate (chi-squared; no feedback yet)"
        n = f"n={np_}+{nc} rows"
    significant = pv < alpha
    if significant:
        said = "candidate significantly " + ("worse" if worse else "better")
    else:
        said = "no significant difference"
    verdict = Verdict.FAIL if significant and worse else Verdict.PASS
    return AnalysisCheck(
        "significance", verdict, vp, vc, alpha, f"{what}: {said} (p={pv:.3g}, {n})"
    )


def analyze(
    primary_rows: Any, candidate_rows: Any, policy: RolloutPolicy | None = None, *, ab: bool = False
) -> Analysis:
    """Compare the candidate's rows of the prediction log with the primary's (see the
    module docstring); ``ab`` adds the significance test.

    Example::

        log = loopml.read_predictions("churn", start=since)
        a = loopml.deployments.analyze(log[log.variant == "primary"],
                                       log[log.variant == "candidate"])
        a.verdict, [c.name for c in a.failures]
    """
    policy = RolloutPolicy() if policy is None else policy
    if not isinstance(policy, RolloutPolicy):
        policy = RolloutPolicy.from_dict(policy)
    primary = _frame(primary_rows, "primary_rows")
    candidate = _frame(candidate_rows, "candidate_rows")
    counts = {"primary": _requests(primary), "candidate": _requests(candidate)}
    checks: list[AnalysisCheck] = []

    ep, ec = _error_rate(primary), _error_rate(candidate)
    if ec is not None:
        limit = max(policy.max_error_rate, (ep or 0.0) + policy.max_error_rate_increase)
        bad = ec > limit
        checks.append(
            AnalysisCheck(
                "error_rate",
                Verdict.FAIL if bad else Verdict.PASS,
                ep,
                ec,
                limit,
                f"error rate {ec:.1%} {'>' if bad else '<='} {limit:.1%} (primary {_fmt(ep)})",
            )
        )

    lp, lc = _p99(primary), _p99(candidate)
    if lp is not None and lc is not None:
        limit = max(lp * policy.max_latency_p99_ratio, lp + policy.latency_floor_ms)
        bad = lc > limit
        checks.append(
            AnalysisCheck(
                "latency_p99",
                Verdict.FAIL if bad else Verdict.PASS,
                lp,
                lc,
                limit,
                f"p99 latency {lc:.3g} ms {'>' if bad else '<='} {limit:.3g} ms "
                f"(primary {lp:.3g} ms)",
            )
        )

    pp, pc = _predictions(primary), _predictions(candidate)
    numbers = _numbers(pp, pc)
    if len(pp) and len(pc):
        d = _distance(pp, pc, numbers)
        bad = d > policy.max_distribution_distance
        kind = "Wasserstein/std" if numbers else "Jensen–Shannon"
        checks.append(
            AnalysisCheck(
                "distribution",
                Verdict.FAIL if bad else Verdict.PASS,
                0.0,
                d,
                policy.max_distribution_distance,
                f"prediction distance ({kind}) {d:.3g} {'>' if bad else '<='} "
                f"{policy.max_distribution_distance:g}",
            )
        )

    if "request_id" in primary.columns and "request_id" in candidate.columns and len(pp):
        keys = [k for k in ("request_id", "row") if k in primary.columns and k in candidate.columns]
        both = _ok(primary)[[*keys, "prediction"]].merge(
            _ok(candidate)[[*keys, "prediction"]], on=keys, suffixes=("_p", "_c")
        )
        both = both.dropna()
        if len(both):
            differ = float(
                (both["prediction_p"].astype(str) != both["prediction_c"].astype(str)).mean()
            )
            checks.append(
                AnalysisCheck(
                    "disagreement",
                    Verdict.PASS,
                    None,
                    differ,
                    None,
                    f"{differ:.1%} of {len(both)} rows both answered differ",
                )
            )

    qp, qc = _labelled(primary), _labelled(candidate)
    if len(qp) >= policy.min_feedback and len(qc) >= policy.min_feedback:
        if numbers:
            vp, vc = float(_abs_errors(qp).mean()), float(_abs_errors(qc).mean())
            limit = vp * (1 + policy.max_quality_drop)
            bad = vc > limit
            text = f"mean absolute error {vc:.4g} {'>' if bad else '<='} {limit:.4g}"
        else:
            vp, vc = float(_right(qp).mean()), float(_right(qc).mean())
            limit = vp - policy.max_quality_drop
            bad = vc < limit
            text = f"accuracy {vc:.1%} {'<' if bad else '>='} {limit:.1%}"
        checks.append(
            AnalysisCheck(
                "quality",
                Verdict.FAIL if bad else Verdict.PASS,
                vp,
                vc,
                limit,
                f"{text} (primary {vp:.4g}; {len(qp)}+{len(qc)} rows with feedback)",
            )
        )

    if ab and len(primary) and len(candidate):
        checks.append(_significance(primary, candidate, policy, numbers))

    enough = min(counts.values()) >= policy.min_requests
    if not enough:
        early = counts["candidate"] >= policy.min_requests and any(
            c.name == "error_rate" and c.verdict is Verdict.FAIL for c in checks
        )
        checks = [
            c
            if (early and c.name == "error_rate")
            else AnalysisCheck(
                c.name, Verdict.NOT_YET, c.primary, c.candidate, c.threshold, c.detail
            )
            for c in checks
        ]
        checks.insert(
            0,
            AnalysisCheck(
                "requests",
                Verdict.NOT_YET,
                float(counts["primary"]),
                float(counts["candidate"]),
                float(policy.min_requests),
                f"{counts['primary']} primary and {counts['candidate']} candidate requests: "
                f"each variant needs {policy.min_requests}",
            ),
        )
        return Analysis(Verdict.FAIL if early else Verdict.NOT_YET, checks, counts)
    failed = any(c.verdict is Verdict.FAIL for c in checks)
    return Analysis(Verdict.FAIL if failed else Verdict.PASS, checks, counts)
