"""The analysis of a rollout: the candidate's rows of the prediction log against the
primary's, over one window.

``analyze(primary_rows, candidate_rows, policy)`` is a pure function of two frames as
:func:`~loopml.predictions.read_predictions` returns them (one per variant). Its
checks, each against a threshold of the :class:`RolloutPolicy`:

- ``error_rate``: the share of requests that failed (a model error, an answer without a
  prediction, or a request the candidate refused although the primary took it);
- ``latency_p99``: the 99th percentile of the requests' latency;
- ``distribution``: how far the candidate's predictions are from the primary's
  (Jensen–Shannon distance for classes, Wasserstein distance over the primary's
  standard deviation for numbers), judged beyond the distance chance alone gives two
  samples of these sizes;
- ``quality``: once both variants have ``min_feedback`` rows with ground truth,
  accuracy (classes) or mean absolute error (numbers);
- ``disagreement`` (reported, not judged): the share of requests both variants
  answered (a shadow's mirrored ones) on which they disagree;
- ``significance`` (``ab=True``): a test of the difference in quality (chi-squared on
  right/wrong for classes, Welch's t-test on absolute errors for numbers), or in error
  rate before feedback arrives, with the sample size it rests on; it fails when the
  candidate is significantly worse.

A threshold crossed is not yet a failure: a window of 60 requests has a p99 that is
its slowest request and a prediction distance well above zero between two samples of
one model. So each judged check also tests its difference, one-sided, and fails only
when chance alone is unlikely (p < ``check_significance``, 0.01 by default):

- error rate: a binomial test of the candidate's failures against the limit;
- latency: a binomial test of the share of the candidate's requests slower than the
  limit against 1 % (the p99 is above the limit exactly when more than 1 % are);
- distribution: a permutation test (the variant labels of at most 2,000 predictions
  of each shuffled 499 times, with a fixed seed);
- quality: Fisher's exact test on right/wrong (classes), Welch's t-test on the absolute
  errors (numbers: their mean is judged, and a few wild errors raise a mean that ranks
  would not show).

A crossed threshold that is not (yet) significant is NOT_YET: the window grows until
the evidence decides.

The verdict: NOT_YET while either variant has fewer than ``min_requests`` requests
(never PASS), except that a candidate with enough requests whose error rate fails
fails at once; FAIL when any check fails; NOT_YET when any check waits; else PASS.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from loopml.deployments._records import Analysis, AnalysisCheck, RolloutPolicy, Verdict
from loopml.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["analyze", "early_look"]

_MAX_CLASSES = 20
_RESAMPLES = 499  # shuffles of a permutation test
_TEST_ROWS = 2_000  # predictions of each variant a permutation test uses at most


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


def _failures(df: pd.DataFrame) -> tuple[int, int, int]:
    """The requests (not rows) that failed, those of them the variant refused (a request
    the primary took), and all requests: a request of many rows is one answer, so one
    large request can neither sink nor hide the rest."""
    if df.empty:
        return 0, 0, 0
    if "status" not in df.columns:
        return 0, 0, _requests(df)
    failed = df["status"] != "ok"
    if "prediction" in df.columns:  # answered, but with no prediction (None, NaN)
        failed |= df["prediction"].isna()
    refused = df["status"] == "refused"
    if "request_id" in df.columns:
        failed = failed.groupby(df["request_id"], sort=False).any()
        refused = refused.groupby(df["request_id"], sort=False).any()
    return int(failed.sum()), int(refused.sum()), len(failed)


def _error_rate(df: pd.DataFrame) -> float | None:
    failed, _, requests = _failures(df)
    return None if requests == 0 else failed / requests


def _tail_p(k: int, n: int, rate: float) -> float:
    """The chance of ``k`` or more of ``n`` when each happens with ``rate``: how likely a
    count this high is by chance alone (a one-sided binomial test)."""
    from scipy.stats import binom

    if n == 0 or k == 0:
        return 1.0
    if rate <= 0.0:
        return 0.0
    if rate >= 1.0:
        return 1.0
    return float(binom.sf(k - 1, n, rate))


def _latencies(df: pd.DataFrame) -> Any:
    import numpy as np

    ok = _ok(df)
    if ok.empty or "latency_ms" not in ok.columns:
        return np.empty(0)
    if "request_id" in ok.columns:
        ok = ok.drop_duplicates("request_id")
    return ok["latency_ms"].dropna().to_numpy(dtype=float)


def _p99(values: Any) -> float | None:
    import numpy as np

    return float(np.percentile(values, 99)) if len(values) else None


def _predictions(df: pd.DataFrame) -> pd.Series:
    import pandas as pd

    ok = _ok(df)
    if ok.empty or "prediction" not in ok.columns:
        return pd.Series([], dtype=object)
    return ok["prediction"].dropna()


_SNIFF = 64  # values of a text column tried as numbers before all of them are


def _as_numbers(series: pd.Series) -> pd.Series | None:
    """``series`` as float64 when every value reads as a number (a numeric column, or an
    object column of numbers, as pandas gives when log files typed it differently), else
    None; a text column is told by its first values, not converted whole."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    head = pd.to_numeric(series.iloc[:_SNIFF], errors="coerce")
    if head.isna().any():
        return None
    found = pd.to_numeric(series, errors="coerce")
    return None if found.isna().any() else found.astype(float)


def _numbers(*series: pd.Series | None) -> bool:
    """Whether predictions read as numbers (``_as_numbers``, None: they do not) are to be
    compared as such, not as a few classes."""
    import pandas as pd

    values = [s for s in series if s is not None and len(s)]
    if not values or any(s is None for s in series):
        return False
    joined = pd.concat(values, ignore_index=True)
    whole = bool((joined == joined.round()).all())
    return not whole or joined.nunique() > _MAX_CLASSES


def _labels(*series: pd.Series) -> list[pd.Series]:
    """The series as class labels to compare: numbers when every value reads as one (so
    1, 1.0 and "1" are one class whatever a column's dtype), else text."""
    numeric = [_as_numbers(s) for s in series]
    if all(n is not None for n in numeric):
        return [n for n in numeric if n is not None]
    return [s.astype(str) for s in series]


def _js(p_counts: Any, q_counts: Any) -> Any:
    """The Jensen–Shannon distance (base 2) between the rows of two count matrices."""
    import numpy as np
    from scipy.special import rel_entr

    p = p_counts / p_counts.sum(axis=-1, keepdims=True)
    q = q_counts / q_counts.sum(axis=-1, keepdims=True)
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / (2.0 * math.log(2.0))
    return np.sqrt(np.maximum(js, 0.0))


def _distance(
    primary: pd.Series, candidate: pd.Series, numbers: bool
) -> tuple[float, float, float]:
    """How far the candidate's predictions (as numbers, or as text labels) are from the
    primary's; how far two samples
    of one distribution of these sizes are by chance alone (the median under the
    permutation test's shuffles: with many classes, or few predictions, it is well above
    zero); and how likely a distance that large is by chance (a permutation test: the
    variant labels of at most :data:`_TEST_ROWS` predictions of each are shuffled
    :data:`_RESAMPLES` times, with a fixed seed so an analysis repeats)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)

    def sample(values: Any) -> Any:
        return values if len(values) <= _TEST_ROWS else rng.choice(values, _TEST_ROWS, False)

    if numbers:
        from scipy.stats import wasserstein_distance

        a = primary.to_numpy(dtype=float)
        b = candidate.to_numpy(dtype=float)
        scale = float(np.std(a)) or abs(float(np.mean(a))) or 1.0
        found = float(wasserstein_distance(a, b)) / scale
        a, b = sample(a), sample(b)
        pooled = np.concatenate([a, b])
        order = np.argsort(pooled, kind="stable")
        gaps = np.diff(pooled[order])
        seen = np.arange(1, len(pooled))  # values up to each gap, of both variants

        def distances(labels: Any) -> Any:  # 1 marks the candidate's, in sorted order
            mine = np.cumsum(labels, axis=-1, dtype=np.int64)[..., :-1]
            cdf_b, cdf_a = mine / len(b), (seen - mine) / len(a)
            return (np.abs(cdf_b - cdf_a) * gaps).sum(axis=-1) / scale

        labels = np.zeros(len(pooled), dtype=np.int8)
        labels[len(a) :] = 1
        observed = float(distances(labels[order]))
        shuffled = distances(rng.permuted(np.tile(labels, (_RESAMPLES, 1)), axis=1))
    else:
        a_text, b_text = primary, candidate
        codes, classes = pd.factorize(pd.concat([a_text, b_text], ignore_index=True))
        k = len(classes)
        ca = np.bincount(codes[: len(a_text)], minlength=k)
        cb = np.bincount(codes[len(a_text) :], minlength=k)
        found = float(_js(ca.astype(float), cb.astype(float)))
        a_codes, b_codes = sample(codes[: len(a_text)]), sample(codes[len(a_text) :])
        pooled = np.concatenate([a_codes, b_codes])
        observed = float(
            _js(
                np.bincount(a_codes, minlength=k).astype(float),
                np.bincount(b_codes, minlength=k).astype(float),
            )
        )
        moved = rng.permuted(np.tile(pooled, (_RESAMPLES, 1)), axis=1)[:, len(a_codes) :]
        offsets = (np.arange(_RESAMPLES) * k)[:, None]
        cb_null = np.bincount((moved + offsets).ravel(), minlength=_RESAMPLES * k).reshape(
            _RESAMPLES, k
        )
        ca_null = np.bincount(pooled, minlength=k)[None, :] - cb_null
        shuffled = _js(ca_null.astype(float), cb_null.astype(float))
    if math.isnan(found):
        found = 0.0
    as_far = int((shuffled >= observed - 1e-12).sum())
    # (of samples of at most _TEST_ROWS: a whole window larger than that is nearer)
    chance = float(np.median(shuffled))
    return found, chance, (1 + as_far) / (_RESAMPLES + 1)


class _Labelled(NamedTuple):
    """A variant's ok rows with both a prediction and ground truth, and their predictions
    as numbers (None: the variant's predictions do not all read as numbers)."""

    rows: pd.DataFrame
    read: pd.Series | None


def _labelled(df: pd.DataFrame, read: pd.Series | None) -> _Labelled:
    """The rows of ``df`` with feedback; ``read``: the predictions of all its ok rows that
    have one, as numbers (``_as_numbers``), so those rows' are taken, not read again."""
    import pandas as pd

    ok = _ok(df)
    if ok.empty or "ground_truth" not in ok.columns or "prediction" not in ok.columns:
        return _Labelled(ok.iloc[0:0], None)
    answered = ok["prediction"].notna().to_numpy()
    known = ok["ground_truth"].notna().to_numpy()
    rows = ok[answered & known]
    if read is None:
        return _Labelled(rows, None)
    return _Labelled(rows, pd.Series(read.to_numpy()[known[answered]], index=rows.index))


def _answered(df: pd.DataFrame, keys: list[str], read: pd.Series | None) -> pd.DataFrame:
    """The ``keys`` and prediction of ``df``'s ok rows that have one; the prediction as
    ``read`` holds it (all of them as numbers, in order) when given."""
    ok = _ok(df)
    rows = ok.loc[ok["prediction"].notna().to_numpy(), [*keys, "prediction"]]
    return rows if read is None else rows.assign(prediction=read.to_numpy())


def _right(rows: pd.DataFrame, read: pd.Series | None) -> pd.Series:
    """Whether each labelled row's prediction equals its ground truth (as numbers when
    both read as numbers, else as text); ``read``: the predictions as numbers, from
    ``_labelled``."""
    if read is None:  # the whole column does not read as numbers; these rows may
        read = _as_numbers(rows["prediction"])
    truth = _as_numbers(rows["ground_truth"])
    if read is not None and truth is not None:
        return read == truth
    return rows["prediction"].astype(str) == rows["ground_truth"].astype(str)


def _abs_errors(rows: pd.DataFrame, read: pd.Series | None) -> Any:
    import pandas as pd

    pred = pd.to_numeric(rows["prediction"], errors="coerce") if read is None else read
    truth = pd.to_numeric(rows["ground_truth"], errors="coerce")
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
    primary: pd.DataFrame,
    candidate: pd.DataFrame,
    labelled: tuple[_Labelled, _Labelled],
    policy: RolloutPolicy,
    numbers: bool,
) -> AnalysisCheck:
    (lp, read_p), (lc, read_c) = labelled
    alpha = policy.significance
    if len(lp) >= policy.min_feedback and len(lc) >= policy.min_feedback:
        if numbers:
            ep, ec = _abs_errors(lp, read_p), _abs_errors(lc, read_c)
            pv = _welch(ec, ep, "two-sided")
            vp, vc = float(ep.mean()), float(ec.mean())
            worse, what = vc > vp, "mean absolute error (Welch's t-test)"
        else:
            rp, rc = _right(lp, read_p), _right(lc, read_c)
            table = [[int(rp.sum()), int((~rp).sum())], [int(rc.sum()), int((~rc).sum())]]
            pv = _table_p(table)
            vp, vc = float(rp.mean()), float(rc.mean())
            worse, what = vc < vp, "accuracy (chi-squared)"
        n = f"n={len(lp)}+{len(lc)} with feedback"
    else:
        fp, _, np_ = _failures(primary)
        fc, _, nc = _failures(candidate)
        pv = _table_p([[fp, np_ - fp], [fc, nc - fc]])
        vp, vc = fp / max(np_, 1), fc / max(nc, 1)
        worse, what = vc > vp, "error rate (chi-squared; no feedback yet)"
        n = f"n={np_}+{nc} requests"
    significant = pv < alpha
    if significant:
        said = "candidate significantly " + ("worse" if worse else "better")
    else:
        said = "no significant difference"
    verdict = Verdict.FAIL if significant and worse else Verdict.PASS
    return AnalysisCheck(
        "significance", verdict, vp, vc, alpha, f"{what}: {said} (p={pv:.3g}, {n})"
    )


def _welch(a: Any, b: Any, alternative: str) -> float:
    """Welch's t-test's p-value of mean(a) against mean(b) (1.0 when it cannot tell: too
    few values, or none that differ)."""
    import warnings

    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical values: no variance
        found = float(ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)
    return 1.0 if math.isnan(found) else found


def _judged(crossed: bool, p: float, alpha: float) -> Verdict:
    """A check's verdict: PASS when its threshold holds; when it is crossed, FAIL only if
    the difference is unlikely by chance (``p < alpha``), else NOT_YET (more requests
    will tell)."""
    if not crossed:
        return Verdict.PASS
    return Verdict.FAIL if p < alpha else Verdict.NOT_YET


def _because(verdict: Verdict, p: float, alpha: float) -> str:
    if verdict is Verdict.FAIL:
        return f"; p={p:.2g}"
    if verdict is Verdict.NOT_YET:
        return f"; not yet significant (p={p:.2g} >= {alpha:g}): waiting for more requests"
    return ""


def _error_check(
    primary: tuple[int, int, int], candidate: tuple[int, int, int], policy: RolloutPolicy
) -> AnalysisCheck | None:
    """The error-rate check of two variants' (failed, refused, requests) counts."""
    fp, _, np_ = primary
    fc, refused, nc = candidate
    if nc == 0:
        return None
    ep = fp / np_ if np_ else None
    ec = fc / nc
    limit = max(policy.max_error_rate, (ep or 0.0) + policy.max_error_rate_increase)
    p = _tail_p(fc, nc, limit)
    verdict = _judged(ec > limit, p, policy.check_significance)
    refusals = f"; {refused} refused requests the primary took" if refused else ""
    return AnalysisCheck(
        "error_rate",
        verdict,
        ep,
        ec,
        limit,
        f"error rate {ec:.1%} of {nc} {'>' if ec > limit else '<='} {limit:.1%} "
        f"(primary {_fmt(ep)}{refusals})" + _because(verdict, p, policy.check_significance),
    )


def early_look(
    primary: tuple[int, int, int],
    candidate: tuple[int, int, int],
    policy: RolloutPolicy | None = None,
) -> Analysis:
    """The analysis of a window still open, from each variant's (failed, refused,
    requests) counts alone: FAIL when the candidate has ``min_requests`` requests and its
    error rate fails (as :func:`analyze` would say of the same rows), else NOT_YET."""
    policy = RolloutPolicy() if policy is None else policy
    counts = {"primary": primary[2], "candidate": candidate[2]}
    check = _error_check(primary, candidate, policy)
    early = (
        check is not None and check.verdict is Verdict.FAIL and candidate[2] >= policy.min_requests
    )
    checks = [] if check is None else [check]
    if min(counts.values()) < policy.min_requests:
        checks = [c if early else replace(c, verdict=Verdict.NOT_YET) for c in checks]
        checks.insert(0, _too_few(counts, policy))
    return Analysis(Verdict.FAIL if early else Verdict.NOT_YET, checks, counts)


def _too_few(counts: dict[str, int], policy: RolloutPolicy) -> AnalysisCheck:
    return AnalysisCheck(
        "requests",
        Verdict.NOT_YET,
        float(counts["primary"]),
        float(counts["candidate"]),
        float(policy.min_requests),
        f"{counts['primary']} primary and {counts['candidate']} candidate requests: "
        f"each variant needs {policy.min_requests}",
    )


def _latency_check(
    primary: pd.DataFrame, candidate: pd.DataFrame, policy: RolloutPolicy
) -> AnalysisCheck | None:
    tp, tc = _latencies(primary), _latencies(candidate)
    lp, lc = _p99(tp), _p99(tc)
    if lp is None or lc is None:
        return None
    limit = max(lp * policy.max_latency_p99_ratio, lp + policy.latency_floor_ms)
    slow = int((tc > limit).sum())  # the p99 is above the limit when over 1 % are
    p = _tail_p(slow, len(tc), 0.01)
    verdict = _judged(lc > limit, p, policy.check_significance)
    return AnalysisCheck(
        "latency_p99",
        verdict,
        lp,
        lc,
        limit,
        f"p99 latency {lc:.3g} ms {'>' if lc > limit else '<='} {limit:.3g} ms "
        f"(primary {lp:.3g} ms; {slow} of {len(tc)} requests slower)"
        + _because(verdict, p, policy.check_significance),
    )


def _quality_check(
    labelled: tuple[_Labelled, _Labelled], policy: RolloutPolicy, numbers: bool
) -> AnalysisCheck | None:
    (qp, read_p), (qc, read_c) = labelled
    if len(qp) < policy.min_feedback or len(qc) < policy.min_feedback:
        return None
    if numbers:
        errors_p, errors_c = _abs_errors(qp, read_p), _abs_errors(qc, read_c)
        vp, vc = float(errors_p.mean()), float(errors_c.mean())
        limit = vp * (1 + policy.max_quality_drop)
        crossed = vc > limit
        # the means are judged, so their test: a few wild errors raise a mean that ranks
        # (Mann–Whitney U) would not see
        p = _welch(errors_c, errors_p, "greater")
        text = f"mean absolute error {vc:.4g} {'>' if crossed else '<='} {limit:.4g}"
    else:
        from scipy.stats import fisher_exact

        rp, rc = _right(qp, read_p), _right(qc, read_c)
        vp, vc = float(rp.mean()), float(rc.mean())
        limit = vp - policy.max_quality_drop
        crossed = vc < limit
        table = [[int(rp.sum()), int((~rp).sum())], [int(rc.sum()), int((~rc).sum())]]
        p = float(fisher_exact(table, alternative="greater").pvalue)
        text = f"accuracy {vc:.1%} {'<' if crossed else '>='} {limit:.1%}"
    verdict = _judged(crossed, p, policy.check_significance)
    return AnalysisCheck(
        "quality",
        verdict,
        vp,
        vc,
        limit,
        f"{text} (primary {vp:.4g}; {len(qp)}+{len(qc)} rows with feedback)"
        + _because(verdict, p, policy.check_significance),
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
    for check in (
        _error_check(_failures(primary), _failures(candidate), policy),
        _latency_check(primary, candidate, policy),
    ):
        if check is not None:
            checks.append(check)

    pp, pc = _predictions(primary), _predictions(candidate)
    as_p = _as_numbers(pp) if len(pp) else None
    as_c = _as_numbers(pc) if len(pc) else None
    numbers = _numbers(as_p, as_c)
    if len(pp) and len(pc):
        if as_p is not None and as_c is not None:
            values_p, values_c = as_p, as_c
        else:
            values_p, values_c = pp.astype(str), pc.astype(str)
        d, chance, p = _distance(values_p, values_c, numbers)
        # judged beyond what chance alone gives two samples of these sizes (with many
        # classes or few predictions, well above zero)
        top = policy.max_distribution_distance + chance
        verdict = _judged(d > top, p, policy.check_significance)
        kind = "Wasserstein/std" if numbers else "Jensen–Shannon"
        checks.append(
            AnalysisCheck(
                "distribution",
                verdict,
                0.0,
                d,
                top,
                f"prediction distance ({kind}) {d:.3g} {'>' if d > top else '<='} {top:.3g} "
                f"({policy.max_distribution_distance:g} beyond the {chance:.3g} of chance "
                f"alone; {len(pp)}+{len(pc)} predictions)"
                + _because(verdict, p, policy.check_significance),
            )
        )

    if "request_id" in primary.columns and "request_id" in candidate.columns and len(pp):
        keys = [k for k in ("request_id", "row") if k in primary.columns and k in candidate.columns]
        # the predictions as read above when both read as numbers; else the rows both
        # answered are read here (part of a column of text and numbers may be all numbers)
        both_read = as_p is not None and as_c is not None
        both = _answered(primary, keys, as_p if both_read else None).merge(
            _answered(candidate, keys, as_c if both_read else None), on=keys, suffixes=("_p", "_c")
        )
        both = both.dropna()
        if len(both):
            said_p, said_c = _labels(both["prediction_p"], both["prediction_c"])
            differ = float((said_p != said_c).mean())
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

    labelled = (_labelled(primary, as_p), _labelled(candidate, as_c))
    quality = _quality_check(labelled, policy, numbers)
    if quality is not None:
        checks.append(quality)
    if ab and len(primary) and len(candidate):
        checks.append(_significance(primary, candidate, labelled, policy, numbers))

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
        checks.insert(0, _too_few(counts, policy))
        return Analysis(Verdict.FAIL if early else Verdict.NOT_YET, checks, counts)
    if any(c.verdict is Verdict.FAIL for c in checks):
        return Analysis(Verdict.FAIL, checks, counts)
    if any(c.verdict is Verdict.NOT_YET for c in checks):
        return Analysis(Verdict.NOT_YET, checks, counts)
    return Analysis(Verdict.PASS, checks, counts)
