"""Micro-batching: concurrent requests to a deployment with ``max_batch_size`` above 1
are predicted together, each gets its own rows back, and a request that breaks the
model fails alone."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.serving.conftest import BOOM, Churn, expected_typed, spy_on

import loopml
from loopml.serving import create_app
from loopml.serving._batching import Batcher, Outcome


async def _concurrently(app: Any, requests: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Send every request at once to ``app`` (its lifespan running) and return the answers."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
            return await asyncio.gather(*(client.post(path, json=body) for path, body in requests))


def test_concurrent_requests_each_get_their_own_rows(
    churn: Churn, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopml.deploy("churn", "models:/churn/1", config={"max_batch_size": 8, "max_batch_wait_ms": 20})
    app = create_app(reload_seconds=60)
    frame = churn.frame
    requests = []
    wanted = []
    for i in range(40):
        rows = frame.iloc[i : i + 1 + i % 3]  # one to three rows each
        requests.append(("/v1/deployments/churn/predict", {"records": rows.to_dict("records")}))
        wanted.append(rows)
    calls: list[int] = []

    async def run() -> list[Any]:
        async with app.router.lifespan_context(app):
            hosted = app.state.loopml.hosted["churn"]
            original = hosted.model.predict

            def predict(data: Any, **kw: Any) -> Any:
                calls.append(len(data))
                return original(data, **kw)

            monkeypatch.setattr(hosted.model, "predict", predict)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                answers = await asyncio.gather(
                    *(client.post(path, json=body) for path, body in requests)
                )
            batcher = hosted.batcher
            assert batcher is not None
            assert batcher.batches == len(calls) < len(requests)
            assert batcher.batched_rows == sum(len(w) for w in wanted)
            return answers

    answers = asyncio.run(run())
    for answer, rows in zip(answers, wanted, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == churn.v1.predict(rows).tolist()
    assert max(calls) > 1 and max(calls) <= 8  # batched, never above max_batch_size rows
    assert sum(calls) == sum(len(w) for w in wanted)


def test_probabilities_in_a_batch_are_each_requests_own(churn: Churn) -> None:
    loopml.deploy("churn", "models:/churn/1", config={"max_batch_size": 8, "max_batch_wait_ms": 20})
    app = create_app(reload_seconds=60)
    frame = churn.frame
    requests = [
        (
            "/v1/deployments/churn/predict",
            {"records": frame.iloc[i : i + 2].to_dict("records"), "probabilities": i % 2 == 0},
        )
        for i in range(12)
    ]
    answers = asyncio.run(_concurrently(app, requests))
    for i, answer in enumerate(answers):
        rows = frame.iloc[i : i + 2]
        body = answer.json()
        assert body["predictions"] == churn.v1.predict(rows).tolist()
        if i % 2 == 0:
            np.testing.assert_allclose(body["probabilities"], churn.v1.predict_proba(rows))
        else:
            assert "probabilities" not in body


def test_a_request_that_breaks_the_model_fails_alone(
    typed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopml.deploy("typed", "models:/typed/1", config={"max_batch_size": 8, "max_batch_wait_ms": 50})
    app = create_app(reload_seconds=60)
    records = [[{"age": i, "plan": "p" * (i % 4 + 1), "score": 0.5}] for i in range(12)]
    records[5] = [{"age": 5, "plan": BOOM, "score": 0.5}]
    requests = [("/v1/deployments/typed/predict", {"records": r}) for r in records]

    async def run() -> tuple[list[Any], Any]:
        async with app.router.lifespan_context(app):
            spy = spy_on(app, "typed", monkeypatch)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                answers = await asyncio.gather(
                    *(client.post(path, json=body) for path, body in requests)
                )
            return answers, spy

    answers, spy = asyncio.run(run())
    assert [a.status_code for a in answers] == [500 if i == 5 else 200 for i in range(12)]
    assert answers[5].json()["error"]["type"] == "model_error"
    for i, answer in enumerate(answers):
        if i != 5:
            assert answer.json()["predictions"] == expected_typed(records[i])
    # the marker was predicted in a batch with others, which raised, and then alone
    assert any(rows > 1 for rows in spy.raised), spy.raised
    assert spy.raised[-1] == 1
    log = loopml.read_predictions("typed")
    failed = log[log["status"] == "model_error"]
    assert failed["request_id"].tolist() == [answers[5].headers["x-request-id"]]
    assert (log["status"] == "ok").sum() == 11


# -- the batcher on its own --------------------------------------------------------------


def _frame(values: list[int]) -> Any:
    return pd.DataFrame({"x": values})


def test_a_batch_never_holds_more_rows_than_max_rows_except_one_large_request() -> None:
    seen: list[int] = []

    def predict(frame: Any, proba: bool) -> Outcome:
        seen.append(len(frame))
        return Outcome(frame["x"].to_numpy() * 2)

    async def run() -> list[Outcome]:
        batcher = Batcher(predict, max_rows=5, max_wait=0.02)
        try:
            sizes = [2, 2, 2, 9, 1, 3]
            frames = [_frame(list(range(10 * i, 10 * i + n))) for i, n in enumerate(sizes)]
            return await asyncio.gather(*(batcher.submit(f, len(f), False) for f in frames))
        finally:
            batcher.close()

    outcomes = asyncio.run(run())
    for i, (outcome, n) in enumerate(zip(outcomes, [2, 2, 2, 9, 1, 3], strict=True)):
        assert outcome.predictions.tolist() == [2 * v for v in range(10 * i, 10 * i + n)]
    assert sum(seen) == 19
    assert all(size <= 5 for size in seen if size != 9)  # a 9-row request goes alone
    assert 9 in seen


def test_a_model_returning_a_frame_or_a_list_is_split_by_rows() -> None:
    def as_frame(frame: Any, proba: bool) -> Outcome:
        return Outcome(pd.DataFrame({"y": frame["x"] + 1}), [[v, -v] for v in frame["x"]])

    async def run() -> list[Outcome]:
        batcher = Batcher(as_frame, max_rows=10, max_wait=0.02)
        try:
            return await asyncio.gather(
                batcher.submit(_frame([1, 2]), 2, True), batcher.submit(_frame([3]), 1, True)
            )
        finally:
            batcher.close()

    first, second = asyncio.run(run())
    assert first.predictions["y"].tolist() == [2, 3]
    assert second.predictions["y"].tolist() == [4]
    assert (first.probabilities, second.probabilities) == ([[1, -1], [2, -2]], [[3, -3]])
