"""Roll a candidate out as a canary on a running `loopml serve`, with traffic and
feedback, until the controller promotes it or rolls it back.

Usage: python rollout.py --candidate models:/digits/3 [--expect PROMOTED]
       [--url http://127.0.0.1:8731] [--deployment digits] [--interval 3s]

The candidate must have passed the environment's gates as a candidate
(`loopml models promote digits/3 --to staging --candidate`). The canary takes
50 % of the traffic, is analysed against the primary every `--interval` (error
rate, latency p99, the distance between the two variants' predictions, accuracy
from feedback) and is promoted (the alias moves) or rolled back (the alias stays).
This script only sends traffic and watches: the server's controller decides.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request

import pandas as pd

import loopml


def call(url: str, body: object) -> tuple[int, dict, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                json.loads(response.read()),
                response.headers["x-loopml-variant"],
            )
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("x-loopml-variant", "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8731")
    parser.add_argument("--deployment", default="digits")
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--interval", default="3s")
    parser.add_argument("--expect", choices=["PROMOTED", "ROLLED_BACK"])
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    loopml.deploy(
        args.deployment,
        strategy="canary",
        candidate=args.candidate,
        steps="50,100",
        interval=args.interval,
        policy={"min_requests": 20, "min_feedback": 20},
        reason="demo canary",
    )
    rollout = loopml.get_rollout(args.deployment)
    print(
        f"{rollout.uri}: canary of {rollout.candidate_uri} on {args.deployment} "
        f"(primary {rollout.primary}), weights {rollout.weights}, every {args.interval}"
    )
    frame = pd.read_csv("data/digits.csv")
    predict = f"{args.url}/v1/deployments/{args.deployment}/predict"
    feedback_url = f"{args.url}/v1/deployments/{args.deployment}/feedback"
    started = time.monotonic()
    shown = (rollout.status, rollout.step)
    seen: dict[str, int] = {}
    feedback: list[dict] = []
    i = 0
    while not rollout.status.finished:
        if time.monotonic() - started > args.timeout:
            raise SystemExit(f"{rollout.uri} did not finish within {args.timeout:.0f} s")
        row = frame.iloc[i % len(frame)]
        i += 1
        status, answer, variant = call(predict, {"records": [row.drop("target").to_dict()]})
        seen[f"{variant} {status}"] = seen.get(f"{variant} {status}", 0) + 1
        if status == 200:
            feedback.append(
                {"request_id": answer["request_id"], "ground_truth": int(row["target"])}
            )
        if len(feedback) >= 20:  # labels arrive a little later, in batches
            call(feedback_url, {"feedback": feedback})
            feedback = []
        if i % 10 == 0:
            rollout = loopml.get_rollout(rollout.id)
            if (rollout.status, rollout.step) != shown:
                shown = (rollout.status, rollout.step)
                print(f"  {time.monotonic() - started:5.1f} s: {rollout.status}, "
                      f"weights {rollout.weights}")  # fmt: skip
    took = time.monotonic() - started
    print(f"{rollout.uri} {rollout.status} after {took:.1f} s and {i} requests: {seen}")
    if rollout.finish_reason:
        print(f"  why: {rollout.finish_reason}")
    for analysis in loopml.deployments.rollout_analyses(rollout.id)[-1:]:
        for check in analysis.checks:
            print(f"  {check.name}: {check.verdict} (primary {check.primary}, "
                  f"candidate {check.candidate}, threshold {check.threshold})")  # fmt: skip
    if args.expect and rollout.status != args.expect:
        raise SystemExit(f"expected {args.expect}, got {rollout.status}")


if __name__ == "__main__":
    main()
