"""``loopml automate``: a new dataset version retrains the pipeline on exactly that
version, registers, passes the gates and starts a canary; lineage records why."""

from __future__ import annotations

from pathlib import Path

from tests.automation.conftest import with_triggers, write_data

import loopml
from loopml.automation import EventStatus, automate, list_events

DATA_TRIGGER = """
[triggers.fresh]
dataset = "churn"
param = "data"
environment = "prod"
deployment = "churn"
steps = "10,100"
interval = "5s"
"""


def test_a_new_dataset_version_retrains_on_it_gates_and_starts_a_canary(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, DATA_TRIGGER)
    first = automate()
    assert first.triggers == ["fresh"] and first.events == []  # data:/churn@1 was there

    new = write_data(retrain_project, seed=2)
    assert new == "data:/churn@2"
    (event,) = automate().events
    assert event.status is EventStatus.SUCCEEDED, event.error
    assert (event.key, event.cause, event.dataset) == (new, new, new)
    assert event.model_version == "models:/churn/2"
    run = loopml.get_run(event.run_id or "")
    assert run.params["data"] == new  # passed explicitly, never the pinned version
    assert run.tags["loopml.trigger"] == "fresh"
    rollout = loopml.get_rollout(event.rollout_id or 0)
    assert (rollout.strategy, rollout.candidate_version) == ("canary", 2)
    assert rollout.steps == (10, 100)
    served = loopml.get_deployment("churn")
    assert (served.version, served.rollout_id) == (1, event.rollout_id)  # champion serves

    assert automate().events == []  # one event, one retrain
    assert [e.id for e in list_events("fresh")] == [event.id]


def test_lineage_of_the_retrained_version_shows_the_trigger_and_its_cause(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, DATA_TRIGGER)
    automate()
    new = write_data(retrain_project, seed=2)
    (event,) = automate().events
    up = loopml.get_lineage("models:/churn/2").upstream

    def walk(node: loopml.lineage.LineageNode) -> set[tuple[str, str | None]]:
        found = {(node.uri, node.relation)}
        for child in node.children:
            found |= walk(child)
        return found

    nodes = walk(up)
    assert (event.uri, "triggered") in nodes
    assert (new, "fired") in nodes
    down = walk(loopml.get_lineage("models:/churn/2").downstream)
    assert (f"rollout:/{event.rollout_id}", "candidate") in down
    assert ("deployments:/churn", "rollout") in down
    assert loopml.lineage.resolve(event.uri).status is EventStatus.SUCCEEDED
