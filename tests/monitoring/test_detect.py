"""``loopml.detect_drift``: shifted columns are found, same-distribution windows are not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopml
from loopml.errors import InvalidInput
from loopml.monitoring import DriftConfig, ReferenceProfile, profile_reference

CATS = np.array(["a", "b", "c", "d", "e"])


def frame(n: int, seed: int, *, shift: float = 0.0, move: float = 0.0) -> pd.DataFrame:
    """Two numeric columns (normal, exponential) and one categorical; ``shift`` moves
    the normal column's mean by that many standard deviations, ``move`` that share of
    rows from category 'a' to 'e'."""
    rng = np.random.default_rng(seed)
    p = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    p[0] -= move
    p[-1] += move
    return pd.DataFrame(
        {
            "x": rng.normal(5.0 + shift * 2.0, 2.0, n),
            "e": rng.exponential(3.0, n),
            "c": CATS[rng.choice(5, size=n, p=p)],
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return frame(200_000, seed=1)


@pytest.fixture(scope="module")
def profile(reference: pd.DataFrame) -> ReferenceProfile:
    return profile_reference(reference)


@pytest.mark.parametrize("n", [600, 100_000])
def test_shifted_columns_are_found_and_the_others_not(profile: ReferenceProfile, n: int) -> None:
    report = loopml.detect_drift(profile, frame(n, seed=7, shift=0.5, move=0.15))
    assert report.drifted_columns == ["x", "c"]
    assert report.dataset_drift and report.drift_share == pytest.approx(2 / 3)
    x = report.columns["x"]
    if n < 5000:
        assert x.method == "ks" and report.columns["c"].method == "chi2"
        assert x.p_value is not None and x.p_value < 0.05
    else:
        assert x.method == "wasserstein" and report.columns["c"].method == "jensenshannon"
        assert x.p_value is None
        assert x.score == pytest.approx(0.5, abs=0.05)  # the mean moved by half an sd
    assert not report.columns["e"].drifted
    assert x.reference_summary.mean == pytest.approx(5.0, abs=0.05)
    assert x.current_summary.mean == pytest.approx(6.0, abs=0.3)


@pytest.mark.parametrize("n", [1_000, 100_000])
def test_windows_of_the_same_distribution_raise_nothing(profile: ReferenceProfile, n: int) -> None:
    for seed in range(10, 15):
        report = loopml.detect_drift(profile, frame(n, seed=seed))
        assert report.drifted_columns == [] and not report.dataset_drift, (seed, report.summary())


def test_the_wasserstein_score_matches_scipy_on_raw_data(reference: pd.DataFrame) -> None:
    from scipy.stats import wasserstein_distance

    current = frame(50_000, seed=3, shift=0.3)
    report = loopml.detect_drift(reference, current, columns=["x", "e"])
    for name in ("x", "e"):
        exact = wasserstein_distance(reference[name], current[name]) / reference[name].std(ddof=0)
        assert report.columns[name].score == pytest.approx(exact, rel=0.05, abs=0.005)


def test_unseen_categories_and_a_missing_rate_change_are_reported(
    profile: ReferenceProfile,
) -> None:
    current = frame(20_000, seed=4)
    current.loc[:1999, "c"] = "brand-new"
    current.loc[5000:9999, "e"] = np.nan
    report = loopml.detect_drift(profile, current)
    c, e = report.columns["c"], report.columns["e"]
    assert c.unseen == ("brand-new",) and c.unseen_share == pytest.approx(0.1)
    assert e.missing_change == pytest.approx(0.25) and e.missing_drifted and e.drifted
    assert e.current_summary.missing_rate == pytest.approx(0.25)
    assert not report.columns["x"].drifted


def test_a_current_column_of_only_nulls_drifts_by_its_missing_rate(
    profile: ReferenceProfile,
) -> None:
    current = frame(10_000, seed=5)
    current["x"] = np.nan
    x = loopml.detect_drift(profile, current).columns["x"]
    assert x.drifted and x.missing_drifted and x.score is None and x.missing_change == 1.0


def test_a_profile_round_trip_gives_the_same_report_as_the_raw_reference(
    reference: pd.DataFrame,
) -> None:
    current = frame(3_000, seed=6, shift=0.2)
    direct = loopml.detect_drift(reference, current)
    profile = profile_reference(reference)
    again = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert again == profile
    assert loopml.detect_drift(again, current).to_dict() == direct.to_dict()


def test_polars_and_arrow_frames_are_read_like_pandas(reference: pd.DataFrame) -> None:
    import polars as pl

    current = frame(5_000, seed=8, shift=0.3)
    want = loopml.detect_drift(reference, current).to_dict()
    table = pa.Table.from_pandas(current, preserve_index=False)
    assert loopml.detect_drift(reference, table).to_dict() == want
    assert loopml.detect_drift(pl.from_pandas(reference), pl.from_pandas(current)).to_dict() == want


def test_psi_and_threshold_overrides_per_column(profile: ReferenceProfile) -> None:
    current = frame(50_000, seed=9, shift=0.3)
    config = {"columns": {"x": {"method": "psi", "threshold": 0.05}, "e": {"threshold": 0.5}}}
    report = loopml.detect_drift(profile, current, config=config)
    assert report.columns["x"].method == "psi" and report.columns["x"].threshold == 0.05
    assert report.columns["x"].drifted
    assert report.columns["e"].threshold == 0.5
    lenient = loopml.detect_drift(profile, current, config=DriftConfig(thresholds={"psi": 5.0}))
    assert lenient.columns["x"].method == "wasserstein"


def test_bonferroni_is_stricter_than_benjamini_hochberg(profile: ReferenceProfile) -> None:
    current = frame(300, seed=2, shift=0.4, move=0.1)
    bh = loopml.detect_drift(profile, current)
    bonf = loopml.detect_drift(profile, current, config={"correction": "bonferroni"})
    for name in bh.columns:
        assert bonf.columns[name].p_value >= bh.columns[name].p_value  # type: ignore[operator]


def test_the_multivariate_check_sees_a_change_of_correlation_no_column_shows() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=4000)
    ref = pd.DataFrame({"u": a, "v": a + rng.normal(scale=0.2, size=4000)})
    b = rng.normal(size=4000)
    cur = pd.DataFrame({"u": b, "v": -b + rng.normal(scale=0.2, size=4000)})
    report = loopml.detect_drift(ref, cur, config={"multivariate": True})
    assert report.drifted_columns == []
    assert report.multivariate is not None and report.multivariate.drifted
    assert report.multivariate.auc > 0.9 and report.dataset_drift
    same = pd.DataFrame({"u": b, "v": b + rng.normal(scale=0.2, size=4000)})
    quiet = loopml.detect_drift(ref, same, config={"multivariate": True})
    assert quiet.multivariate is not None and not quiet.multivariate.drifted
    assert not quiet.dataset_drift


def test_the_html_report_is_one_self_contained_file(
    profile: ReferenceProfile, tmp_path: Path
) -> None:
    report = loopml.detect_drift(profile, frame(5_000, seed=3, shift=0.5))
    path = tmp_path / "drift.html"
    text = report.to_html(path)
    assert path.read_text(encoding="utf-8") == text
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 3
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "https://" not in text and "wasserstein" in text and "drifted" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_to_dict_is_plain_json(profile: ReferenceProfile) -> None:
    report = loopml.detect_drift(profile, frame(2_000, seed=3))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["dataset_drift"] is False and set(data["columns"]) == {"x", "e", "c"}
    assert data["columns"]["x"]["reference_summary"]["quantiles"]["0.5"] == pytest.approx(
        5, abs=0.1
    )


# -- bad input ---------------------------------------------------------------------------


def test_different_columns_are_named(profile: ReferenceProfile) -> None:
    current = frame(100, seed=1).drop(columns=["e"])
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) 'e'"):
        loopml.detect_drift(profile, current)
    extra = frame(100, seed=1).assign(z=1.0)
    with pytest.raises(InvalidInput, match=r"has column\(s\) 'z' the reference lacks"):
        loopml.detect_drift(profile, extra)
    assert loopml.detect_drift(profile, extra, columns=["x"]).columns.keys() == {"x"}


def test_a_column_that_changed_type_is_named(profile: ReferenceProfile) -> None:
    current = frame(100, seed=1).assign(x=lambda f: f["x"].astype(str))
    with pytest.raises(InvalidInput, match=r"column\(s\) 'x' \(numeric double"):
        loopml.detect_drift(profile, current)


def test_empty_frames_and_all_null_reference_columns_are_refused(
    reference: pd.DataFrame,
) -> None:
    with pytest.raises(InvalidInput, match="current frame has no rows"):
        loopml.detect_drift(reference, reference.iloc[:0])
    with pytest.raises(InvalidInput, match="reference frame has no rows"):
        loopml.detect_drift(reference.iloc[:0], reference)
    nulls = reference.head(100).assign(x=np.nan)
    with pytest.raises(InvalidInput, match="column 'x' of the reference frame holds only missing"):
        loopml.detect_drift(nulls, reference)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"columns": {"x": "kolmogorov"}}, r"unknown drift method 'kolmogorov' for column 'x'"),
        ({"columns": {"c": "wasserstein"}}, r"'wasserstein' set for column 'c' applies to numeric"),
        ({"numeric_method": "chi2"}, r"unknown drift method 'chi2' for numeric_method"),
        ({"alpha": 2}, r"alpha must be a number in \(0, 1\)"),
        ({"tresholds": {}}, r"unknown drift setting 'tresholds'"),
        ({"columns": {"x": {"metod": "psi"}}}, r"unknown setting 'metod' for column 'x'"),
    ],
)
def test_bad_settings_name_the_value(profile: ReferenceProfile, config: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        loopml.detect_drift(profile, frame(100, seed=1), config=config)


def test_a_profile_cannot_serve_the_multivariate_check(profile: ReferenceProfile) -> None:
    with pytest.raises(InvalidInput, match="multivariate check needs the reference rows"):
        loopml.detect_drift(profile, frame(100, seed=1), config={"multivariate": True})


def test_a_damaged_profile_dict_names_the_field(profile: ReferenceProfile) -> None:
    data = profile.to_dict()
    data["columns"]["x"]["counts"] = data["columns"]["x"]["counts"][:-1]
    with pytest.raises(InvalidInput, match="column 'x' of the profile is inconsistent"):
        ReferenceProfile.from_dict(data)
    with pytest.raises(InvalidInput, match="'format' of the profile must be 1"):
        ReferenceProfile.from_dict({**profile.to_dict(), "format": 9})


def test_an_unknown_input_type_is_named() -> None:
    with pytest.raises(InvalidInput, match="expected the reference as a pandas or polars"):
        loopml.detect_drift(42, frame(10, seed=1))
