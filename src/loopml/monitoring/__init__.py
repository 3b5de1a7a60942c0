"""Monitoring: how far new data drifted from the data a model was trained on.

:func:`detect_drift` compares a current window (a frame, Arrow table or dataset
version) with a reference (the same, or its stored :class:`ReferenceProfile`) column
by column, and returns a :class:`DriftReport`. The reference profile (quantile bin
edges with counts, category counts, quantiles, missing rate, moments) is computed
once by :func:`profile_reference`; for a dataset version it is stored in the artifact
store under ``profiles/<dataset>/<version>.json`` and reused, so later windows never
read the reference data again.

Defaults (each a field of :class:`DriftConfig`; a column's method and threshold can
be overridden with ``columns={"age": "psi"}`` or ``{"age": {"threshold": 0.2}}``):

- numeric columns: the Wasserstein-1 distance divided by the reference's standard
  deviation (``wasserstein``), drift when above 0.1 (the mean moved by a tenth of a
  standard deviation, or the equivalent change of shape);
- categorical columns (text, booleans, categories): the Jensen-Shannon distance, base
  2 (``jensenshannon``: 0 same, 1 disjoint), drift when above 0.1, over the
  categories holding at least 1 % of the reference (at most 20), the rest and the
  categories never seen in the reference counted together;
- ``psi`` for either kind (the population stability index over about ten bins of
  equal reference mass), drift when above 0.2;
- small samples (fewer than ``small_sample`` = 5,000 rows on either side): a
  column drifts only when its distance is above the threshold AND its
  Kolmogorov-Smirnov (numeric, ``ks``) or chi-squared (categorical, ``chi2``)
  p-value, corrected for testing many columns at once with Benjamini-Hochberg
  (``correction="bonferroni"`` for Bonferroni), is below ``alpha`` = 0.05. From
  5,000 rows up the distance decides alone: there every small, harmless change is
  significant, so p-values would alarm on windows drawn from the reference itself.
  The cut is 5,000 rather than 1,000 by measurement: in 500 column checks of
  1,000-row windows drawn from the reference the largest distance reached 0.89 of
  its threshold (so the distance alone alarms every few hundred checks there); at
  10,000 rows it stays under 0.4;
- missing values (null, NaN, infinities) are left out of the distributions; a column
  also drifts when its missing rate moves by ``missing_threshold`` = 0.1 or more (in
  small samples: and the change is significant). Categories never seen in the
  reference are listed (``ColumnDrift.unseen``, ``unseen_share``);
- ``dataset_drift`` when ``drift_share`` (drifted columns / columns) reaches 0.5;
- ``multivariate=True`` adds a domain classifier (scikit-learn's
  HistGradientBoosting on at most 20,000 rows a side, 3-fold cross-validated ROC
  AUC): drift when the AUC is above 0.55 (raised to 0.5 + 4 standard errors of a
  chance AUC for samples under about 600 rows a side). It needs the reference rows,
  not a profile.

Measured (benchmarks/bench_drift.py): windows of 1,000 to 1,000,000 rows drawn from
the reference flag no column at these defaults, and a mean shift of 0.3 standard
deviations, a 25 % change of scale or a 10-point move between categories is found.

Performance before labels arrive: :class:`ConfidenceEstimator` (a classifier's ROC
AUC, accuracy, precision, recall and F1 from calibrated scores, after NannyML's CBPE)
and :class:`LossEstimator` (a regressor's MAE and RMSE from a learned model of its
loss, after NannyML's DLE), each with bootstrap alert ``bounds`` for a window's size.

Example::

    import loopml

    profile = loopml.monitoring.profile_reference("data:/churn@3")   # once, stored
    report = loopml.detect_drift("data:/churn@3", todays_frame)      # uses the profile
    report.dataset_drift, report.drifted_columns
    report.columns["age"].method, report.columns["age"].score, report.columns["age"].threshold
    report.to_html("drift.html")
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
