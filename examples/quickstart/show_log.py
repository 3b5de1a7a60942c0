"""Show the prediction log of a deployment with its feedback joined (after the server
has written it: on SIGTERM, or within a second while it runs)."""

from __future__ import annotations

import sys

import loopml


def main() -> None:
    import pandas as pd

    pd.options.display.width = 160
    deployment = sys.argv[1] if len(sys.argv) > 1 else "digits"
    log = loopml.read_predictions(deployment, with_feedback=True)
    labelled = log.dropna(subset=["ground_truth"])
    accuracy = (labelled["prediction"] == labelled["ground_truth"]).mean()
    print(f"prediction log of {deployment}: {len(log)} rows, {len(labelled)} with feedback")
    print(f"live accuracy from feedback: {accuracy:.3f}")
    print(log[["request_id", "model_version", "latency_ms", "prediction", "ground_truth"]].tail(5))


if __name__ == "__main__":
    main()
