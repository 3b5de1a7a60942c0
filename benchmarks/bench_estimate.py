"""Benchmark: performance estimated without labels (CBPE-style), beside NannyML 0.13.1.

A binary classifier (scikit-learn's LogisticRegression on four features, the
outcome's log-odds with a squared term it cannot fit) scores:

- a labelled reference of 10 chunks of 50,000 rows,
- 1,000,000 predictions in 20 chunks of 50,000: the first 10 like the
  reference, the last 10 with covariate shift (the first feature's mean moved by
  0.1 to 1.0 standard deviations, the second's spread by as much; the outcome
  given the features unchanged).

Printed, for loopml's ``ConfidenceEstimator`` and NannyML's ``CBPE`` (from its
own virtualenv, ``nannyml==0.13.1`` and the ``statsmodels`` its 0.13.1 wheel
imports without declaring it, with pandas 3; ``--no-peers`` skips it), in the
same run: the fit time, the estimate time per million rows (best of 3), the
peak extra memory of fit + estimate (peak RSS over the RSS before, in a fresh
subprocess with the data already loaded), and the mean absolute error of the
estimated against the true ROC AUC (scikit-learn's) per chunk.

Alerts: how many of the 10 unshifted chunks alert (a false alarm) and how many of
the 10 shifted ones do, with loopml's ``bounds`` (99 %) and NannyML's thresholds,
once with the 10-chunk reference and once with a reference of one chunk.

DLE: a regressor whose error grows with one feature and one city, a reference of
100,000 rows and 10 chunks of 20,000 (half shifted): loopml's ``LossEstimator``
against NannyML's ``DLE``, first as users call it on a pandas 3 frame (text
columns are ``str``), then with the text columns cast to ``object``.

    python benchmarks/bench_estimate.py [--quick] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import best_of, figure, peer_python, run_peer, scratch

CHUNK = 50_000
N_CHUNKS = 20
REF_CHUNKS = 10


def features(n: int, seed: int, shift: float = 0.0) -> tuple[object, object]:
    """Four features and the outcome; ``shift`` moves the covariates only."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, 4))
    x[:, 0] += shift
    x[:, 1] *= 1.0 + shift
    logit = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] + 0.3 * x[:, 3] ** 2 - 0.6
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return x, y


def make_data(chunk: int, path: Path) -> dict[str, object]:
    """Scores and labels of the reference and the analysis chunks, saved to ``path``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x, y = features(20_000, seed=0)
    model = LogisticRegression().fit(x, y)
    parts = {"ref_score": [], "ref_y": [], "score": [], "y": []}
    for i in range(REF_CHUNKS):
        x, y = features(chunk, seed=100 + i)
        parts["ref_score"].append(model.predict_proba(x)[:, 1])
        parts["ref_y"].append(y)
    for i in range(N_CHUNKS):
        shift = 0.0 if i < N_CHUNKS // 2 else 0.1 * (i - N_CHUNKS // 2 + 1)
        x, y = features(chunk, seed=200 + i, shift=shift)
        parts["score"].append(model.predict_proba(x)[:, 1])
        parts["y"].append(y)
    data = {k: np.concatenate(v) for k, v in parts.items()}
    np.savez(path, **data)
    return data


MEMORY = """
import json, sys, time
import numpy as np
{setup}
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
data = dict(np.load({path!r}))
{load}
{warm}
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
{run}
print(json.dumps({{"rss": status("VmHWM") - before}}))
"""

LOOPML_SETUP = "from loopml.monitoring import ConfidenceEstimator"
LOOPML_LOAD = ""
LOOPML_WARM = "ConfidenceEstimator.fit(data['ref_y'][:1000], data['ref_score'][:1000]).estimate(data['score'][:10])"
LOOPML_RUN = """
est = ConfidenceEstimator.fit(data['ref_y'], data['ref_score'])
out = [est.estimate(data['score'][i:i + {chunk}]) for i in range(0, len(data['score']), {chunk})]
"""

NANNYML_SETUP = """
import warnings
warnings.filterwarnings("ignore")
import pandas as pd
import nannyml as nml
def frame(score, y):
    return pd.DataFrame({"y_pred_proba": score, "y_pred": (score >= 0.5).astype(int), "y_true": y})
def cbpe(chunk):
    return nml.CBPE(y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="y_true",
                    problem_type="classification_binary", metrics=["roc_auc"], chunk_size=chunk)
"""
NANNYML_LOAD = "ref = frame(data['ref_score'], data['ref_y']); ana = frame(data['score'], data['y']).drop(columns='y_true')"
NANNYML_WARM = "cbpe(500).fit(ref.head(5000)).estimate(ana.head(1000))"
NANNYML_RUN = "cbpe({chunk}).fit(ref).estimate(ana)"

NANNYML_RUNS = """
import time
def results(ref, chunk):
    start = time.perf_counter()
    est = cbpe(chunk).fit(ref)
    fit = time.perf_counter() - start
    times = []
    for _ in range(3):
        start = time.perf_counter()
        res = est.estimate(ana)
        times.append(time.perf_counter() - start)
    df = res.filter(period="analysis").to_df()["roc_auc"]
    return {
        "fit": fit, "estimate": min(times),
        "value": df["value"].tolist(), "alert": [bool(a) for a in df["alert"]],
        "lower": [None if pd.isna(v) else float(v) for v in df["lower_threshold"]],
        "upper": [None if pd.isna(v) else float(v) for v in df["upper_threshold"]],
    }
print(json.dumps({
    "version": nml.__version__, "pandas": pd.__version__,
    "full": results(ref, {chunk}), "one": results(ref.head({chunk}), {chunk}),
}))
"""


def memory(py: str, setup: str, load: str, warm: str, run: str, path: Path) -> int:
    code = MEMORY.format(setup=setup, path=str(path), load=load, warm=warm, run=run)
    if py == sys.executable:
        out = subprocess.run([py, "-c", code], capture_output=True, text=True, check=True)
        return int(json.loads(out.stdout.strip().splitlines()[-1])["rss"])
    return int(run_peer(Path(py), code)["rss"])


def loopml_runs(data: dict, chunk: int) -> dict[str, object]:
    import numpy as np

    from loopml.monitoring import ConfidenceEstimator

    def run(ref_rows: int) -> dict[str, object]:
        start = time.perf_counter()
        est = ConfidenceEstimator.fit(data["ref_y"][:ref_rows], data["ref_score"][:ref_rows])
        fit = time.perf_counter() - start
        windows = [data["score"][i : i + chunk] for i in range(0, len(data["score"]), chunk)]
        values = [est.estimate(w)["roc_auc"] for w in windows]
        t = best_of(lambda: [est.estimate(w) for w in windows])
        low, high = est.bounds("roc_auc", chunk)
        alert = [not low <= v <= high for v in values]
        return {"fit": fit, "estimate": t, "value": values, "alert": alert, "band": (low, high)}

    out = {"full": run(len(data["ref_y"])), "one": run(chunk)}
    whole = data["score"]
    full = ConfidenceEstimator.fit(data["ref_y"], data["ref_score"])
    out["one_call"] = best_of(lambda: full.estimate(whole))
    out["rows"] = int(np.asarray(whole).size)
    return out


def truth(data: dict, chunk: int) -> list[float]:
    from sklearn.metrics import roc_auc_score

    return [
        float(roc_auc_score(data["y"][i : i + chunk], data["score"][i : i + chunk]))
        for i in range(0, len(data["y"]), chunk)
    ]


def report(name: str, result: dict, real: list[float], rows: int) -> None:
    import numpy as np

    err = np.abs(np.asarray(result["full"]["value"], dtype=float) - np.asarray(real))
    half = N_CHUNKS // 2
    print(
        f"{name}: ROC AUC error per chunk: MAE {err.mean():.4f} (unshifted {err[:half].mean():.4f},"
        f" shifted {err[half:].mean():.4f}, worst {err.max():.4f})"
    )
    figure(f"{name} fit on {REF_CHUNKS} reference chunks", result["full"]["fit"], "s")
    figure(
        f"{name} estimate per million rows",
        result["full"]["estimate"] * 1e6 / rows,
        "s",
        "<= 0.1 s" if name == "loopml" else None,
    )
    figure(f"{name} MAE of estimated vs true ROC AUC", float(err.mean()), "", "<= NannyML's")
    for ref in ("full", "one"):
        alerts = result[ref]["alert"]
        what = f"{REF_CHUNKS} reference chunks" if ref == "full" else "1 reference chunk"
        band = result[ref].get("band")
        if band is None:
            lows, highs = result[ref]["lower"], result[ref]["upper"]
            band = (lows[0], highs[0])
        shown = ", ".join("none" if b is None else f"{b:.4f}" for b in band)
        print(
            f"  {what}: band ({shown}); alerts in unshifted chunks {sum(alerts[:half])}/{half}, "
            f"in shifted chunks {sum(alerts[half:])}/{half}"
        )


def regression(n: int, seed: int, shift: float = 0.0) -> tuple[object, object, object]:
    """Features (x, z and a city), a model's predictions and the targets; the error
    grows with |x| and in city 'c'."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    z = rng.normal(0.0, 1.0, n)
    p = [0.5, 0.3, 0.2] if not shift else [0.5 - shift / 4, 0.3, 0.2 + shift / 4]
    city = rng.choice(np.array(["a", "b", "c"]), n, p=p)
    noise_sd = 0.3 + np.abs(x) + np.where(city == "c", 1.0, 0.0)
    y_pred = 2.0 * x + z + (city == "b")
    y_true = y_pred + rng.normal(0.0, 1.0, n) * noise_sd
    return pd.DataFrame({"x": x, "z": z, "city": city}), y_pred, y_true


NANNYML_DLE = """
import json, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import nannyml as nml
ref = pd.read_parquet({ref!r}); ana = pd.read_parquet({ana!r})
out = {{"dtype": str(ref["city"].dtype)}}
def run(ref, ana):
    dle = nml.DLE(feature_column_names=["x", "z", "city"], y_pred="y_pred", y_true="y_true",
                  metrics=["mae"], chunk_size={chunk})
    start = time.perf_counter()
    dle.fit(ref)
    values = dle.estimate(ana).filter(period="analysis").to_df()["mae"]["value"].tolist()
    return {{"values": values, "time": time.perf_counter() - start}}
try:
    out["as_is"] = run(ref, ana)
except Exception as exc:
    out["as_is_error"] = f"{{type(exc).__name__}}: {{str(exc).splitlines()[-1][:200]}}"
cast = lambda f: f.assign(city=f["city"].astype(object))
try:
    out["object"] = run(cast(ref), cast(ana))
except Exception as exc:
    out["object_error"] = f"{{type(exc).__name__}}: {{str(exc).splitlines()[-1][:200]}}"
pd.set_option("future.infer_string", False)
try:
    out["no_infer"] = run(cast(ref), cast(ana))
except Exception as exc:
    out["no_infer_error"] = f"{{type(exc).__name__}}: {{str(exc).splitlines()[-1][:200]}}"
print(json.dumps(out))
"""


def dle(py: Path | None, quick: bool) -> None:
    import numpy as np
    import pandas as pd

    from loopml.monitoring import LossEstimator

    n_ref, chunk, n_chunks = (20_000, 5_000, 10) if quick else (100_000, 20_000, 10)
    ref, ref_pred, ref_true = regression(n_ref, seed=1)
    frames, preds, trues = [], [], []
    for i in range(n_chunks):
        shift = 0.0 if i < n_chunks // 2 else 0.2 * (i - n_chunks // 2 + 1)
        f, p, t = regression(chunk, seed=10 + i, shift=shift)
        frames.append(f)
        preds.append(p)
        trues.append(t)
    real = [float(np.abs(t - p).mean()) for p, t in zip(preds, trues, strict=True)]
    start = time.perf_counter()
    est = LossEstimator.fit(ref, ref_pred, ref_true)
    values = [est.estimate(f, p)["mae"] for f, p in zip(frames, preds, strict=True)]
    took = time.perf_counter() - start
    err = float(np.mean(np.abs(np.asarray(values) - real)))
    print(
        f"DLE (reference {n_ref:,} rows, {n_chunks} chunks of {chunk:,}, pandas "
        f"{pd.__version__}, city dtype {ref['city'].dtype}):"
    )
    print(
        f"  loopml LossEstimator: MAE of estimated vs true MAE {err:.4f}, fit + estimate {took:.2f} s"
    )
    if py is None:
        return
    with scratch() as tmp:
        ref_path, ana_path = tmp / "ref.parquet", tmp / "ana.parquet"
        ref.assign(y_pred=ref_pred, y_true=ref_true).to_parquet(ref_path)
        pd.concat([f.assign(y_pred=p) for f, p in zip(frames, preds, strict=True)]).to_parquet(
            ana_path
        )
        code = NANNYML_DLE.format(ref=str(ref_path), ana=str(ana_path), chunk=chunk)
        out = run_peer(py, code)
    attempts = (
        ("as_is", f"on the frame as read (city dtype {out['dtype']})"),
        ("object", "with the text columns cast to object"),
        ("no_infer", "with pandas.set_option('future.infer_string', False) and object columns"),
    )
    for key, how in attempts:
        if key in out:
            e = float(np.mean(np.abs(np.asarray(out[key]["values"]) - real)))
            print(
                f"  NannyML DLE {how}: MAE of estimated vs true MAE {e:.4f}, "
                f"fit + estimate {out[key]['time']:.2f} s"
            )
        else:
            print(f"  NannyML DLE {how}: fails: {out[key + '_error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="chunks of 5,000 rows")
    parser.add_argument("--no-peers", action="store_true", help="skip NannyML")
    args = parser.parse_args()
    chunk = 5_000 if args.quick else CHUNK

    py = None
    if not args.no_peers:
        py = peer_python("nannyml", "nannyml==0.13.1", "statsmodels")
        if py is None:
            print("NannyML 0.13.1 could not be installed (see above); loopml alone.")

    with scratch() as tmp:
        path = tmp / "data.npz"
        data = make_data(chunk, path)
        real = truth(data, chunk)
        rows = len(data["score"])
        ours = loopml_runs(data, chunk)
        run = LOOPML_RUN.format(chunk=chunk)
        ours_rss = memory(sys.executable, LOOPML_SETUP, LOOPML_LOAD, LOOPML_WARM, run, path)
        peer = peer_rss = None
        if py is not None:
            try:
                code = f"import json\nimport numpy as np\ndata = dict(np.load({str(path)!r}))\n"
                code += (
                    NANNYML_SETUP
                    + NANNYML_LOAD
                    + "\n"
                    + NANNYML_RUNS.replace("{chunk}", str(chunk))
                )
                peer = run_peer(py, code)
                peer_rss = memory(
                    str(py),
                    NANNYML_SETUP,
                    NANNYML_LOAD,
                    NANNYML_WARM,
                    NANNYML_RUN.format(chunk=chunk),
                    path,
                )
            except Exception as exc:  # report and go on with loopml alone
                print(f"NannyML failed: {str(exc)[-1500:]}")

    print(
        f"{rows:,} predictions in {N_CHUNKS} chunks of {chunk:,} (chunks 11-20 shifted), "
        f"reference {REF_CHUNKS} chunks; true ROC AUC per chunk "
        + ", ".join(f"{v:.3f}" for v in real)
    )
    if peer is not None:
        print(f"NannyML {peer['version']} with pandas {peer['pandas']}")
        report("NannyML CBPE", peer, real, rows)
        figure("NannyML CBPE peak extra memory (fit + estimate)", peer_rss / 2**20, "MiB")
    report("loopml", ours, real, rows)
    figure(
        f"loopml estimate of {rows:,} scores in one call (best of 3)",
        ours["one_call"],
        "s",
    )
    dle(py, args.quick)
    figure("loopml peak extra memory (fit + estimate)", ours_rss / 2**20, "MiB", "<= 300 MiB")


if __name__ == "__main__":
    main()
