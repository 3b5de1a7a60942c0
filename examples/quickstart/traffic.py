"""Send traffic to a running `loopml serve`, with feedback, then show the prediction log.

Usage: python traffic.py [--url http://127.0.0.1:8731] [--deployment digits] [--n 60]

Each request predicts one row of data/digits.csv through the JSON protocol, under a
request id of its own; the true digit goes back as feedback to the same request id
(as a label that arrives later would). Then it reads the prediction log with the
feedback joined: what monitoring reads.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request

import pandas as pd


def call(url: str, body: object | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_ready(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if call(f"{url}/v2/health/ready").get("ready"):
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server at {url} did not become ready in {seconds:.0f} s")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8731")
    parser.add_argument("--deployment", default="digits")
    parser.add_argument("--n", type=int, default=60)
    args = parser.parse_args()
    wait_ready(args.url)
    frame = pd.read_csv("data/digits.csv").sample(args.n, random_state=7)
    features = frame.drop(columns=["target"])
    predict = f"{args.url}/v1/deployments/{args.deployment}/predict"
    feedback = []
    started = time.perf_counter()
    for i, (index, row) in enumerate(features.iterrows()):
        answer = call(predict, {"records": [row.to_dict()]})
        feedback.append(
            {"request_id": answer["request_id"], "ground_truth": int(frame.loc[index, "target"])}
        )
        if i == 0:
            print(f"first answer: {answer}")
    took = time.perf_counter() - started
    print(f"sent {args.n} requests in {took:.2f} s ({args.n / took:.0f} req/s, one at a time)")
    stored = call(f"{args.url}/v1/deployments/{args.deployment}/feedback", {"feedback": feedback})
    print(f"sent feedback for {stored['stored']} predictions")
    # try one bad request: the signature refuses it before the model sees it
    try:
        call(predict, {"records": [{"pixel_0_0": "dark"}]})
    except urllib.error.HTTPError as exc:
        print(f"a malformed request: HTTP {exc.code}: {json.loads(exc.read())['error']['message']}")


if __name__ == "__main__":
    main()
