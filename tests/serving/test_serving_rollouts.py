"""The server's side of rollouts, in process: a canary routed by its weight and rolled
back or promoted by the controller each worker runs, a shadow mirrored off the response
path, an A/B test sticky by a request key, a blue-green candidate smoke-tested and
flipped (and flipped back)."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.serving.conftest import metric, serving
from tests.serving.rollouts import CALM, PREDICT, body, canary, candidate, send_until, until

import loopml
from loopml.deployments import DeploymentAction, RolloutStatus, Verdict
from loopml.serving._rollouts import bucket


def _prod() -> int:
    return int(loopml.registry.get_model_version("m", alias="prod").version)


def _rollout(client: Any) -> dict[str, Any] | None:
    return client.get("/v1/deployments/m").json()["rollout"]


def _routing(client: Any, rollout_id: int, status: str = "PROGRESSING") -> None:
    """Wait until the server routes by rollout ``rollout_id`` (it follows the store)."""

    def seen() -> bool:
        shown = _rollout(client)
        return shown is not None and shown["id"] == rollout_id and shown["status"] == status

    assert until(seen, 10, lambda: time.sleep(0.05)), _rollout(client)


def _check(response: Any, x: float, candidate_fails: bool = False) -> str:
    """The variant that answered ``x``, after checking its answer: the primary's is always
    right; the candidate's is right, or a 500 model_error naming the request id when its
    scripted fault applies."""
    variant = response.headers["x-loopml-variant"]
    rid = response.headers["x-request-id"]
    assert variant in ("primary", "candidate", "default"), variant
    if variant == "candidate" and candidate_fails and int(x) % 5 == 3:
        assert response.status_code == 500, response.text
        error = response.json()
        assert error["error"]["type"] == "model_error" and error["request_id"] == rid
        assert rid in error["error"]["message"]
        return variant
    assert response.status_code == 200, (variant, response.text)
    assert response.json()["predictions"] == [x * 2]
    assert response.json()["variant"] == variant
    return variant


# -- canary ----------------------------------------------------------------------------------


def test_a_canary_failing_a_fifth_of_its_requests_is_rolled_back_in_its_first_window(
    m: Path,
) -> None:
    with serving() as client:
        r = canary(candidate("fail20"), policy={"min_requests": 20})
        _routing(client, r.id)
        seen: Counter[str] = Counter()
        versions: dict[str, set[str]] = {"primary": set(), "candidate": set(), "default": set()}

        def one(x: float) -> None:
            response = client.post(PREDICT, json=body(x))
            variant = _check(response, x, candidate_fails=True)
            seen[variant] += 1
            versions[variant].add(response.headers["x-loopml-model-version"])

        started = time.monotonic()
        assert send_until(r.id, lambda r: r.status is RolloutStatus.ROLLED_BACK, 30, one), (
            loopml.get_rollout(r.id)
        )
        took = time.monotonic() - started
        done = loopml.get_rollout(r.id)
        assert "error rate" in (done.finish_reason or ""), done.finish_reason
        assert done.step == 0
        analyses = loopml.deployments.rollout_analyses(r.id)
        assert analyses and {a.step for a in analyses} == {0}
        assert analyses[-1].verdict is Verdict.FAIL
        actions = [c.action for c in loopml.deployments.deployment_history("m")]
        assert DeploymentAction.STEP not in actions and actions[0] is DeploymentAction.ROLLBACK
        assert _prod() == 1 and loopml.get_deployment("m").version == 1
        assert seen["primary"] > 0 and seen["candidate"] >= 20, seen
        assert versions["primary"] == {"1"} and versions["candidate"] == {"2"}
        assert took < 15, f"rolled back after {took:.1f} s"
        # the server follows: the primary alone answers, as the deployment's only version
        _routing(client, r.id, "ROLLED_BACK")
        for x in range(10, 40):
            response = client.post(PREDICT, json=body(x))
            assert _check(response, x) == "default"
            assert response.headers["x-loopml-model-version"] == "1"
        assert len(client.app.state.loopml.routes) == 0


def test_a_passing_canary_steps_and_is_promoted(m: Path) -> None:
    with serving() as client:
        r = canary(
            candidate("ok"),
            steps="25,50,100",
            # a hiccup of this shared machine is no latency regression of the candidate
            policy={"min_requests": 20, "latency_floor_ms": 50},
        )
        _routing(client, r.id)

        def one(x: float) -> None:
            _check(client.post(PREDICT, json=body(x)), x)

        # one input: one distribution of answers in any window
        same = itertools.repeat(12.0)
        assert send_until(r.id, lambda r: r.status is RolloutStatus.PROMOTED, 40, one, same)
        history = loopml.deployments.deployment_history("m")
        steps = [(c.action, c.weight) for c in reversed(history) if c.rollout_id == r.id]
        assert steps == [
            (DeploymentAction.ROLLOUT, 25),
            (DeploymentAction.STEP, 50),
            (DeploymentAction.PROMOTE, 100),
        ]
        assert [a.verdict for a in loopml.deployments.rollout_analyses(r.id)][-2:] == [
            Verdict.PASS,
            Verdict.PASS,
        ]
        assert _prod() == 2  # the alias moved
        _routing(client, r.id, "PROMOTED")
        for _ in range(20):
            response = client.post(PREDICT, json=body(12.0))
            assert response.headers["x-loopml-variant"] == "default"
            assert response.headers["x-loopml-model-version"] == "2"
        state = client.app.state.loopml
        assert state.hosted["m"].version == 2 and not state.routes


def test_a_candidate_refusing_what_callers_send_is_rolled_back_and_callers_never_see_it(
    m: Path,
) -> None:
    """The candidate's signature needs a column callers never send: each request routed to
    it is answered by the primary (no 422 from a rollout), charged to the candidate as
    ``refused``, and the controller rolls it back on its error rate."""
    with serving() as client:
        r = canary(candidate("strict"), policy={"min_requests": 20})
        _routing(client, r.id)

        def one(x: float) -> None:
            response = client.post(PREDICT, json=body(x))
            assert response.status_code == 200, response.text
            assert response.headers["x-loopml-variant"] in ("primary", "default")
            assert response.json()["predictions"] == [x * 2]

        assert send_until(r.id, lambda r: r.status is RolloutStatus.ROLLED_BACK, 30, one), (
            loopml.get_rollout(r.id)
        )
        done = loopml.get_rollout(r.id)
        assert "refused requests the primary took" in (done.finish_reason or ""), done
        assert loopml.get_deployment("m").version == 1
        # a request neither variant takes is refused as always, never 5xx
        response = client.post(PREDICT, json={"records": [{"x": "not a number", "user": "u"}]})
        assert response.status_code == 422, response.text
    log = loopml.read_predictions("m")
    refused = log[log["status"] == "refused"]
    assert len(refused) >= 20 and set(refused["variant"]) == {"candidate"}
    assert set(refused["request_id"]) <= set(log[log["status"] == "ok"]["request_id"])


def test_canary_traffic_matches_its_weight_and_metrics_name_the_variants(m: Path) -> None:
    uri = candidate("ok")
    with serving() as client:
        r = canary(uri, interval="10m", policy=CALM)
        _routing(client, r.id)
        shown = _rollout(client)
        assert (shown["strategy"], shown["step"], shown["weights"]) == (
            "canary",
            0,
            {"primary": 50, "candidate": 50},
        )
        assert shown["candidate"] == uri and shown["candidate_loaded"] is True
        seen = Counter(_check(client.post(PREDICT, json=body(10 + i)), 10 + i) for i in range(400))
        assert 160 <= seen["candidate"] <= 240, seen
        text = client.get("/metrics").text
        for variant, version in (("primary", "1"), ("candidate", "2")):
            assert metric(
                text,
                "loopml_requests_total",
                deployment="m",
                model_version=version,
                variant=variant,
                code="200",
            ) == float(seen[variant])
        info = metric(text, "loopml_deployment_info", deployment="m")
        assert info == 2.0  # both versions served
        # a version asked for by number answers, whatever the weights
        oip = {
            "inputs": [
                {"name": "x", "shape": [1], "datatype": "FP64", "data": [12.0]},
                {"name": "user", "shape": [1], "datatype": "BYTES", "data": ["u"]},
            ]
        }
        for version, variant in (("2", "candidate"), ("1", "primary")):
            for _ in range(10):
                response = client.post(f"/v2/models/m/versions/{version}/infer", json=oip)
                assert response.status_code == 200, response.text
                assert response.headers["x-loopml-variant"] == variant
                assert response.json()["model_version"] == version
                seen[variant] += 1
        # the prediction log holds both variants, each with the version that answered
    frame = loopml.read_predictions("m")
    counts = frame.groupby(["variant", "model_version"]).size().to_dict()
    assert counts == {("candidate", 2): seen["candidate"], ("primary", 1): seen["primary"]}


def test_a_candidate_that_cannot_load_is_reported_and_the_primary_answers_everything(
    m: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml.serving._app as app_module

    uri = candidate("ok")
    real = app_module.load

    tried: list[float] = []

    def refuse_v2(record: Any, metrics: Any, *rest: Any) -> Any:
        if record.version == 2:
            tried.append(time.monotonic())
            raise OSError("the candidate's package is not readable here")
        return real(record, metrics, *rest)

    monkeypatch.setattr(app_module, "load", refuse_v2)
    with serving() as client:
        r = canary(uri, interval="10m", policy=CALM)
        _routing(client, r.id)
        shown = _rollout(client)
        assert shown["candidate_loaded"] is False
        # the kind of error alone: its text (paths, hosts) is for the server's log
        assert shown["candidate_error"].startswith("OSError: the candidate could not be loaded")
        assert "not readable here" not in shown["candidate_error"]
        for i in range(60):
            response = client.post(PREDICT, json=body(10 + i))
            assert _check(response, 10 + i) == "primary"
        # tried again, less and less often (1 s, 2 s, 4 s...), not at every poll
        assert until(lambda: len(tried) >= 3, 10, lambda: time.sleep(0.05)), tried
        time.sleep(1.0)
        assert len(tried) <= 4, tried
        assert tried[2] - tried[1] > 1.5 * (tried[1] - tried[0]) > 1.0, tried


# -- shadow ----------------------------------------------------------------------------------


def _latencies(client: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        response = client.post(PREDICT, json=body(10 + i))
        out.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == [(10 + i) * 2]
        assert response.headers["x-loopml-model-version"] == "1"
    return out


def test_a_shadow_that_raises_changes_no_response_and_its_errors_are_logged(m: Path) -> None:
    uri = candidate("raise")
    with serving() as client:
        loopml.deploy(
            "m", strategy="shadow", candidate=uri, interval="10m", policy={"min_requests": 10_000}
        )
        r = loopml.get_rollout("m")
        _routing(client, r.id)
        ids = []
        for i in range(40):
            response = client.post(PREDICT, json=body(10 + i))
            assert response.status_code == 200 and response.json()["predictions"] == [(10 + i) * 2]
            assert response.headers["x-loopml-variant"] == "primary"
            ids.append(response.headers["x-request-id"])
        assert until(lambda: not client.app.state.loopml.routes["m"].pending, 10, lambda: None)
        text = client.get("/metrics").text
        assert metric(
            text,
            "loopml_request_errors_total",
            deployment="m",
            variant="shadow",
            kind="model_error",
        ) == float(len(ids) - metric(text, "loopml_shadow_dropped_total", deployment="m"))
    frame = loopml.read_predictions("m")
    shadow = frame[frame["variant"] == "shadow"]
    assert len(shadow) > 0 and set(shadow["status"]) == {"model_error"}
    assert set(shadow["request_id"]) <= set(ids)
    assert set(shadow["model_version"]) == {2}
    primary = frame[frame["variant"] == "primary"]
    assert sorted(primary["request_id"]) == sorted(ids)


def test_a_shadow_refusing_what_callers_send_is_logged_as_refused(m: Path) -> None:
    uri = candidate("strict")
    with serving() as client:
        loopml.deploy("m", strategy="shadow", candidate=uri, interval="10m", policy=CALM)
        r = loopml.get_rollout("m")
        _routing(client, r.id)
        ids = []
        for x in range(10, 30):
            response = client.post(PREDICT, json=body(x))
            assert response.status_code == 200 and response.json()["predictions"] == [x * 2]
            ids.append(response.headers["x-request-id"])
            time.sleep(0.01)  # the mirrored copies keep up: none is dropped
        assert until(
            lambda: len(loopml.read_predictions("m").query("variant == 'shadow'")) >= len(ids),
            10,
            lambda: time.sleep(0.2),
        )
    log = loopml.read_predictions("m")
    shadow = log[log["variant"] == "shadow"]
    assert set(shadow["status"]) == {"refused"} and set(shadow["request_id"]) == set(ids)
    assert set(shadow["in.x"]) == {float(x) for x in range(10, 30)}  # the rows as sent


def test_a_shadow_that_sleeps_adds_no_latency_to_the_primary(m: Path) -> None:
    uri = candidate("sleep")
    with serving() as client:
        _latencies(client, 50)  # warm
        bare = np.percentile(_latencies(client, 200), 99)
        loopml.deploy("m", strategy="shadow", candidate=uri, interval="10m", policy=CALM)
        r = loopml.get_rollout("m")
        _routing(client, r.id)
        mirrored = np.percentile(_latencies(client, 200), 99)
        added = mirrored - bare
        assert added < 0.05, (
            f"p99 {bare * 1000:.1f} ms without the shadow, {mirrored * 1000:.1f} with"
        )
        state = client.app.state.loopml
        route = state.routes["m"]
        assert route.pending <= 8 and route.dropped >= 180  # the rest were dropped
        text = client.get("/metrics").text
        assert metric(text, "loopml_shadow_dropped_total", deployment="m") == route.dropped
        # a reload of the same rollout keeps counting the copies still waiting
        client.portal.call(state.refresh, "m")
        assert state.routes["m"] is route and 7 <= route.pending <= 8
        _latencies(client, 20)
        assert 7 <= route.pending <= 8 and route.candidate is not None
        assert route.candidate.inflight == route.pending


def test_a_shadow_that_answers_is_logged_beside_the_primary(m: Path) -> None:
    uri = candidate("ok")
    with serving() as client:
        loopml.deploy("m", strategy="shadow", candidate=uri, interval="10m", policy=CALM)
        r = loopml.get_rollout("m")
        _routing(client, r.id)
        for i in range(30):
            response = client.post(PREDICT, json=body(10 + i))
            assert response.headers["x-loopml-variant"] == "primary"
            time.sleep(0.005)
        assert until(lambda: not client.app.state.loopml.routes["m"].pending, 10, lambda: None)
    frame = loopml.read_predictions("m")
    primary = frame[frame["variant"] == "primary"].set_index("request_id")
    shadow = frame[frame["variant"] == "shadow"].set_index("request_id")
    assert len(primary) == 30 and len(shadow) == 30
    joined = primary.join(shadow, rsuffix="_shadow")
    assert (joined["prediction"] == joined["prediction_shadow"]).all()
    assert (shadow["latency_ms"] >= 0).all() and set(shadow["status"]) == {"ok"}


# -- A/B -------------------------------------------------------------------------------------


def test_ab_sticky_by_header_gives_one_key_one_variant(m: Path) -> None:
    uri = candidate("ok")
    with serving() as client:
        loopml.deploy(
            "m",
            strategy="ab",
            candidate=uri,
            split=30,
            sticky="header:X-User",
            interval="10m",
            policy=CALM,
        )
        r = loopml.get_rollout("m")
        _routing(client, r.id)
        assigned: dict[str, set[str]] = {}
        for rounds in range(2):
            for k in range(300):
                key = f"user-{k}"
                x = 10.0 + k + rounds
                response = client.post(PREDICT, json=body(x), headers={"x-user": key})
                assigned.setdefault(key, set()).add(_check(response, x))
        assert all(len(v) == 1 for v in assigned.values())
        share = sum(v == {"candidate"} for v in assigned.values()) / len(assigned)
        assert 0.2 <= share <= 0.4, share
        # the assignment is the key's hash, the same on every worker and host
        for key, variants in assigned.items():
            expected = "candidate" if bucket(r.id, key) < 30 else "primary"
            assert variants == {expected}
        # a request without the key is drawn at random
        drawn = Counter(_check(client.post(PREDICT, json=body(11)), 11) for _ in range(200))
        assert set(drawn) == {"primary", "candidate"}


def test_ab_sticky_by_field_reads_the_first_record_and_oip_input(m: Path) -> None:
    uri = candidate("ok")
    with serving() as client:
        loopml.deploy("m", strategy="ab", candidate=uri, split=50, sticky="field:user", policy=CALM)
        r = loopml.get_rollout("m")
        _routing(client, r.id)
        for k in range(40):
            key = f"u{k}"
            expected = "candidate" if bucket(r.id, key) < 50 else "primary"
            for x in (10.0, 20.0):
                response = client.post(PREDICT, json=body(x, key))
                assert _check(response, x) == expected
            oip = {
                "inputs": [
                    {"name": "x", "shape": [1], "datatype": "FP64", "data": [12.0]},
                    {"name": "user", "shape": [1], "datatype": "BYTES", "data": [key]},
                ]
            }
            response = client.post("/v2/models/m/infer", json=oip)
            assert response.status_code == 200, response.text
            assert response.headers["x-loopml-variant"] == expected
            assert response.json()["outputs"][0]["data"] == [24.0]


# -- blue-green ------------------------------------------------------------------------------


def _recorded(client: Any, n: int = 20) -> None:
    """``n`` requests the primary answers with x above 100, waited for in the log."""
    for i in range(n):
        assert client.post(PREDICT, json=body(200.0 + i)).status_code == 200
    assert until(lambda: len(loopml.read_predictions("m")) >= n, 10, lambda: time.sleep(0.1))


def test_blue_green_flips_after_its_smoke_test_and_rollback_flips_back(m: Path) -> None:
    uri = candidate("ok")
    with serving() as client:
        _recorded(client)
        loopml.deploy("m", strategy="blue_green", candidate=uri)
        r = loopml.get_rollout("m")
        _routing(client, r.id, "PROMOTED")
        done = loopml.get_rollout(r.id)
        assert "smoke test passed" in (done.finish_reason or "") + (done.reason or "") or any(
            "smoke test passed" in (c.reason or "")
            for c in loopml.deployments.deployment_history("m")
        )
        assert "20 recorded requests" in " ".join(
            c.reason or "" for c in loopml.deployments.deployment_history("m")
        )
        for _ in range(10):
            response = client.post(PREDICT, json=body(15.0))
            assert response.headers["x-loopml-model-version"] == "2"
        state = client.app.state.loopml
        primary = state.standby["m"]
        assert primary.version == 1  # kept loaded
        loopml.rollback("m", reason="flip back")
        _routing(client, r.id, "ROLLED_BACK")
        assert state.hosted["m"] is primary  # the same loaded version, not loaded anew
        response = client.post(PREDICT, json=body(15.0))
        assert response.headers["x-loopml-model-version"] == "1"
        assert response.headers["x-loopml-variant"] == "default"


def test_a_blue_green_candidate_failing_recorded_requests_is_rolled_back(m: Path) -> None:
    uri = candidate("big")  # answers its input example, not the requests seen in production
    with serving() as client:
        _recorded(client)
        loopml.deploy("m", strategy="blue_green", candidate=uri)
        r = loopml.get_rollout("m")
        versions = set()

        def one() -> None:
            response = client.post(PREDICT, json=body(300.0))
            assert response.status_code == 200 and response.json()["predictions"] == [600.0]
            versions.add(response.headers["x-loopml-model-version"])

        assert until(lambda: loopml.get_rollout(r.id).status is RolloutStatus.ROLLED_BACK, 20, one)
        reason = loopml.get_rollout(r.id).finish_reason or ""
        assert "smoke test failed" in reason and "ValueError" in reason, reason
        # the recorded reason names the kind; the text is in the server's log alone
        assert "beyond this version" not in reason and "server's log" in reason
        assert versions == {"1"}
        assert loopml.get_deployment("m").version == 1 and _prod() == 1


# -- the controller --------------------------------------------------------------------------


def test_the_controller_ticks_about_once_a_second_survives_errors_and_stops_with_the_server(
    m: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import os
    import re
    import socket

    uri = candidate("ok")
    calls: list[tuple[float, str, str]] = []

    def control(name: str, *, owner: str, now: float | None = None) -> None:
        calls.append((time.monotonic(), name, owner))
        if len(calls) == 1:
            raise RuntimeError("the store is away")

    monkeypatch.setattr(loopml.deployments, "control", control)
    with serving() as client:
        assert not calls  # no rollout, no tick
        _routing(client, canary(uri, interval="10m").id)
        assert until(lambda: len(calls) >= 4, 15, lambda: time.sleep(0.05)), calls
    stopped = len(calls)
    time.sleep(1.5)
    assert len(calls) == stopped  # the task ended with the server
    assert {name for _, name, _ in calls} == {"m"}
    owners = {owner for _, _, owner in calls}
    assert len(owners) == 1
    assert re.fullmatch(
        rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{8}}", owners.pop()
    )
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
    assert all(0.5 < gap < 3.0 for gap in gaps), gaps
    assert "the store is away" in caplog.text  # logged, and the next tick came anyway


def test_a_rollback_retires_the_candidate_after_writing_its_log(m: Path) -> None:
    uri = candidate("ok")
    with serving() as client:
        r = canary(uri, interval="10m", policy=CALM)
        _routing(client, r.id)
        state = client.app.state.loopml
        held = state.routes["m"].candidate
        seen = Counter(_check(client.post(PREDICT, json=body(10 + i)), 10 + i) for i in range(60))
        assert seen["candidate"] > 0
        loopml.rollback("m", reason="by hand")
        _routing(client, r.id, "ROLLED_BACK")
        assert until(lambda: held._closed, 5, lambda: time.sleep(0.05))

        def written() -> bool:  # closing it wrote what its logger held
            frame = loopml.read_predictions("m")
            return bool((frame["variant"] == "candidate").sum() == seen["candidate"])

        assert until(written, 5, lambda: time.sleep(0.05))
        assert held.logger._closed
        response = client.post(PREDICT, json=body(10))
        assert response.headers["x-loopml-variant"] == "default"
        loopml.deployments.delete_deployment("m")
        assert until(
            lambda: client.post(PREDICT, json=body(10)).status_code == 404,
            5,
            lambda: time.sleep(0.05),
        )
        assert not state.routes and not state.hosted


def test_a_flipped_blue_green_primary_is_let_go_once_another_version_is_deployed(m: Path) -> None:
    from tests.serving.rollouts import register

    uri = candidate("ok")
    with serving() as client:
        loopml.deploy("m", strategy="blue_green", candidate=uri)
        r = loopml.get_rollout("m")
        _routing(client, r.id, "PROMOTED")
        state = client.app.state.loopml
        kept = state.standby["m"]
        third = register("ok")
        loopml.deploy("m", f"models:/m/{third}")
        assert until(
            lambda: (
                client.post(PREDICT, json=body(12)).headers["x-loopml-model-version"] == str(third)
            ),
            10,
            lambda: time.sleep(0.05),
        )
        assert "m" not in state.standby
        assert until(lambda: kept._closed, 5, lambda: time.sleep(0.05))
