"""``loopml.Client``: one project's settings, stores and registries, with every SDK verb.

The module-level functions (``loopml.start_run``, ``loopml.add_dataset``...)
are the same verbs run in the current context; a client runs them in its
own, so two clients on two projects in one process never see each other's
settings, stores or registrations, and a server can hold one per request.
Calls made while a client's method runs (a pipeline step calling
``loopml.log_metric``, say) use that client too.

The client is the SDK surface the CLI (and later the server) call; it
composes every package, so it sits above them all, beside ``__init__``.

Example::

    client = loopml.Client("projects/churn", tracking_uri="postgresql://...")
    with client.start_run(experiment="churn") as run:
        run.log_metric("auc", 0.91)
    client.search_runs("metrics.auc > 0.9")
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from loopml import (
    automation,
    context,
    data,
    deployments,
    evaluation,
    lineage,
    models,
    monitoring,
    pipelines,
    predictions,
    registry,
    tracking,
    validation,
)
from loopml.context import Context, using

__all__ = ["Client"]

P = ParamSpec("P")
R = TypeVar("R")


class _Verb(Generic[P, R]):
    """A module-level SDK function as a method: it runs with the client as the current
    context."""

    def __init__(self, fn: Callable[P, R]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Verb[P, R]: ...
    @overload
    def __get__(self, obj: Context, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, obj: Context | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        fn = self.fn

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            with using(obj):
                return fn(*args, **kwargs)

        return call


_verb = _Verb


class Client(Context):
    """A loopml project, held explicitly: settings, stores, registries and every verb.

    ``Client(project_root=None, *, tracking_uri=None, artifact_uri=None,
    data_remote=None, flush_interval=None, executor=None)``: the project at
    ``project_root`` (default: found from the working directory now), with
    explicit settings winning over the environment and its ``loopml.toml``.
    """

    # tracking
    start_run = _verb(tracking.start_run)
    end_run = _verb(tracking.end_run)
    active_run = _verb(tracking.active_run)
    log_param = _verb(tracking.log_param)
    log_params = _verb(tracking.log_params)
    log_metric = _verb(tracking.log_metric)
    log_metrics = _verb(tracking.log_metrics)
    set_tag = _verb(tracking.set_tag)
    set_tags = _verb(tracking.set_tags)
    set_run_tags = _verb(tracking.set_run_tags)
    log_artifact = _verb(tracking.log_artifact)
    log_dict = _verb(tracking.log_dict)
    log_figure = _verb(tracking.log_figure)
    get_run = _verb(tracking.get_run)
    child_runs = _verb(tracking.child_runs)
    datasets_read = _verb(tracking.datasets_read)
    get_metric_history = _verb(tracking.get_metric_history)
    search_runs = _verb(tracking.search_runs)
    list_artifacts = _verb(tracking.list_artifacts)
    get_artifact = _verb(tracking.get_artifact)
    download_artifact = _verb(tracking.download_artifact)
    download_artifacts = _verb(tracking.download_artifacts)
    delete_run = _verb(tracking.delete_run)
    restore_run = _verb(tracking.restore_run)
    list_experiments = _verb(tracking.list_experiments)
    rename_experiment = _verb(tracking.rename_experiment)
    delete_experiment = _verb(tracking.delete_experiment)
    restore_experiment = _verb(tracking.restore_experiment)
    get_git_diff = _verb(tracking.get_git_diff)
    flush = _verb(tracking.flush)
    # data
    add_dataset = _verb(data.add_dataset)
    get_dataset = _verb(data.get_dataset)
    resolve_dataset = _verb(data.resolve_dataset)
    list_datasets = _verb(data.list_datasets)
    remove_dataset = _verb(data.remove_dataset)
    read_tabular_file = _verb(data.read_tabular_file)
    dataset_versions = _verb(data.dataset_versions)
    diff_versions = _verb(data.diff_versions)
    data_status = _verb(data.status)
    checkout_data = _verb(data.checkout)
    push_data = _verb(data.push)
    pull_data = _verb(data.pull)
    read_lock = _verb(data.read_lock)
    # validation
    infer_suite = _verb(validation.infer_suite)
    validate = _verb(validation.validate)
    # models
    log_model = _verb(models.log_model)
    autolog = _verb(models.autolog)
    save_model = _verb(models.save_model)
    load_model = _verb(models.load_model)
    read_model_info = _verb(models.read_model_info)
    register_flavor = _verb(models.register_flavor)
    # pipelines and tuning
    load_pipeline = _verb(pipelines.load_pipeline)
    run_pipeline = _verb(pipelines.run_pipeline)
    load_pipeline_run = _verb(pipelines.load_pipeline_run)
    register_materializer = _verb(pipelines.register_materializer)
    tune = _verb(pipelines.tune)
    load_study = _verb(pipelines.load_study)
    # the prediction log
    prediction_logger = _verb(predictions.PredictionLogger)
    read_predictions = _verb(predictions.read_predictions)
    log_feedback = _verb(predictions.log_feedback)
    prune_predictions = _verb(predictions.prune)
    # lineage and the stores
    register_model = _verb(registry.register_model)
    get_model_version = _verb(registry.get_model_version)
    get_model_package = _verb(registry.get_model_package)
    search_model_versions = _verb(registry.search_model_versions)
    list_models = _verb(registry.list_models)
    set_alias = _verb(registry.set_alias)
    delete_alias = _verb(registry.delete_alias)
    promote_model = _verb(registry.promote_model)
    model_history = _verb(registry.model_history)
    archive_model_version = _verb(registry.archive_model_version)
    delete_model_version = _verb(registry.delete_model_version)
    # evaluation
    evaluate = _verb(evaluation.evaluate)
    get_evaluation = _verb(evaluation.get_evaluation)
    list_evaluations = _verb(evaluation.list_evaluations)
    reproduce = _verb(evaluation.reproduce)
    list_reproductions = _verb(evaluation.list_reproductions)
    champion_uri = _verb(evaluation.champion_uri)
    model_card = _verb(evaluation.model_card)
    # evaluation and gates
    promote = _verb(evaluation.promote)
    approve = _verb(evaluation.approve)
    reject = _verb(evaluation.reject)
    list_promotions = _verb(evaluation.list_promotions)
    get_promotion = _verb(evaluation.get_promotion)
    read_gates = _verb(evaluation.read_gates)
    # deployments
    deploy = _verb(deployments.deploy)
    get_deployment = _verb(deployments.get_deployment)
    list_deployments = _verb(deployments.list_deployments)
    delete_deployment = _verb(deployments.delete_deployment)
    deployment_history = _verb(deployments.deployment_history)
    deployment_changes_since = _verb(deployments.changes_since)
    sync_deployments = _verb(deployments.sync_deployments)
    get_rollout = _verb(deployments.get_rollout)
    list_rollouts = _verb(deployments.list_rollouts)
    rollout_analyses = _verb(deployments.rollout_analyses)
    promote_rollout = _verb(deployments.promote_rollout)
    rollback = _verb(deployments.rollback)
    abort_rollout = _verb(deployments.abort)
    record_smoke_test = _verb(deployments.record_smoke_test)
    control_rollout = _verb(deployments.control)
    # monitoring
    detect_drift = _verb(monitoring.detect_drift)
    profile_reference = _verb(monitoring.profile_reference)
    load_profile = _verb(monitoring.load_profile)
    # pipelines produce models
    run_and_register = _verb(automation.run_and_register)
    tune_and_register = _verb(automation.tune_and_register)
    register_step_model = _verb(automation.register_step_model)
    register_best_trial = _verb(automation.register_best_trial)
    # batch scoring
    predict_batch = _verb(automation.predict_batch)

    get_lineage = _verb(lineage.get_lineage)
    resolve = _verb(lineage.resolve)
    add_edge = _verb(lineage.add_edge)
    gc = _verb(context.gc)
    fsck = _verb(data.fsck)
    gc_remote = _verb(data.gc_remote)
    migrate_metadata = _verb(context.migrate_metadata)
    upgrade_schema = _verb(context.upgrade_schema)
    schema_revision = _verb(context.schema_revision)
