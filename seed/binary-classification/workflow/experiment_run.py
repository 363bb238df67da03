"""The build's MLflow run, when the platform tracks experiments (MLFLOW_TRACKING_URI: environment.py).

run_pipeline imports this module (and MLflow) only then. Before it starts the execution, it opens a run
in the model's experiment (named after the model, created on first use), named like the execution,
`commit-<first 12 characters of the commit>` (`build-<CodeBuild build id>` without a commit), with

- tags: source_commit (and MLflow's own mlflow.source.git.commit), source_repository and build_id
  when known, pipeline_name; then pipeline_execution_arn once the execution started;
- params: the gate (gate_metric, gate_threshold, gate_direction: the values the LogExperiment step logs
  too, as MLflow refuses to change a param), the problem type, the training job's hyperparameters, the
  instance types, and the data trained on (input_data_uri; a training set from the feature group adds
  its feature_group_name, event_time_from and event_time_to).

The execution gets the run's id as its MlflowRunId parameter: its LogExperiment step logs the test
metrics, Clarify's results and the model into the run (workflow/experiment_step.py), and its package
records the run (mlflow_run_id). The run ends with the execution: Succeeded FINISHED, Failed FAILED,
Stopped (by someone, or by the build at its deadline) KILLED, with the reasons in the tag
failure_reason. An execution that could not start ends it FAILED.

A tracking server the build cannot reach when it opens the run fails the build before anything starts:
a build the platform tracks never runs untracked. Once the execution runs, the build's outcome is the
execution's: MLflow trouble then only prints a warning (a run left RUNNING says so in the build log).
"""

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import mlflow
from mlflow import MlflowClient
from mlflow.entities import LifecycleStage, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

from workflow.config import ModelConfig
from workflow.environment import MLFLOW_TRACKING_URI_VARIABLE, BuildEnvironment
from workflow.experiment_step import gate_params
from workflow.pipeline import TRAINING_HYPERPARAMETERS
from workflow.training_lineage import NOT_FROM_A_FEATURE_GROUP

# The run's status for each terminal status of a pipeline execution.
RUN_STATUSES = {
    "Succeeded": RunStatus.FINISHED,
    "Failed": RunStatus.FAILED,
    "Stopped": RunStatus.KILLED,
}
EXECUTION_ARN_TAG = "pipeline_execution_arn"
FAILURE_REASON_TAG = "failure_reason"
# MLflow's own tag of a run's commit, which its UI shows.
MLFLOW_COMMIT_TAG = "mlflow.source.git.commit"
# Within what every MLflow server accepts as a tag's value.
MAX_TAG_VALUE = 5000


class TrackingServerError(RuntimeError):
    """The build tracks experiments, but could not open its run on the tracking server."""


class DeletedExperimentError(RuntimeError):
    """The model's experiment was deleted on the tracking server: builds do not bring it back."""


class ExecutionOutcome(Protocol):
    """How the execution ended (run_pipeline.ExecutionOutcome)."""

    @property
    def status(self) -> str: ...

    @property
    def failure_reasons(self) -> Sequence[str]: ...


def run_name(env: BuildEnvironment) -> str:
    """The run's name: the commit's, like the execution's display name; the build's without a commit."""
    if env.source_commit:
        return f"commit-{env.source_commit[:12]}"
    if env.build_id:
        return f"build-{env.build_id}"
    raise ValueError("the build has neither a commit nor a CodeBuild build id to name its MLflow run after")


def run_tags(config: ModelConfig, env: BuildEnvironment) -> dict[str, str]:
    known = {
        "source_commit": env.source_commit,
        MLFLOW_COMMIT_TAG: env.source_commit,
        "source_repository": env.source_repository,
        "build_id": env.build_id,
        "pipeline_name": config.pipeline_name,
    }
    return {name: value for name, value in known.items() if value}


def run_params(
    config: ModelConfig, input_data_uri: str, feature_store_source: Mapping[str, str]
) -> dict[str, str]:
    """What the build decided before the execution: the gate, the training, the instances, the data."""
    return {
        **gate_params(config.metric),
        "problem_type": config.problem_type,
        **{name: str(value) for name, value in TRAINING_HYPERPARAMETERS.items()},
        "processing_instance_type": config.processing_instance_type,
        "training_instance_type": config.training_instance_type,
        "input_data_uri": input_data_uri,
        # Only a training set from the feature group has a source there (the others record "none").
        **{key: value for key, value in feature_store_source.items() if value != NOT_FROM_A_FEATURE_GROUP},
    }


@dataclass
class BuildRun:
    """The build's open run, and what it records of the execution."""

    client: MlflowClient
    tracking_uri: str
    run_id: str
    ended: bool = field(default=False, init=False)

    def execution_started(self, execution_arn: str) -> None:
        try:
            self.client.set_tag(self.run_id, EXECUTION_ARN_TAG, execution_arn)
        except Exception as error:
            self._warn(f"could not tag it with the execution {execution_arn}", error)

    def execution_ended(self, outcome: ExecutionOutcome) -> None:
        """End the run with the execution's status, and the reasons when it did not succeed."""
        status = RUN_STATUSES.get(outcome.status, RunStatus.FAILED)
        reason = None
        if status != RunStatus.FINISHED:
            reason = "; ".join(outcome.failure_reasons) or f"execution {outcome.status}"
        self.end(status, reason)

    def end(self, status: int, failure_reason: str | None = None) -> None:
        """End the run (once); a failure to reach the server is reported, not raised."""
        if self.ended:
            return
        self.ended = True
        name = RunStatus.to_string(status)
        try:
            if failure_reason is not None:
                self.client.set_tag(self.run_id, FAILURE_REASON_TAG, failure_reason[:MAX_TAG_VALUE])
            self.client.set_terminated(self.run_id, name)
        except Exception as error:
            self._warn(f"could not end it {name}", error)
            return
        print(f"MLflow run {self.run_id} ended {name}", flush=True)

    def _warn(self, what: str, error: Exception) -> None:
        print(
            f"warning: MLflow run {self.run_id} on {self.tracking_uri}: {what}: {error}",
            file=sys.stderr,
            flush=True,
        )


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment named `name`, created if there is none (by this build or, at the same time, another)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name)
        except MlflowException as error:
            if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        deleted = experiment.experiment_id
        raise DeletedExperimentError(
            f"the experiment {name!r} ({deleted}) is deleted on the tracking server: restore it (MLflow UI,"
            f" or MlflowClient().restore_experiment({deleted!r})) for the builds to log into it again"
        )
    return str(experiment.experiment_id)


def open_run(
    config: ModelConfig, env: BuildEnvironment, input_data_uri: str, feature_store_source: Mapping[str, str]
) -> BuildRun:
    """A new run of the model's experiment, tagged and with its params; TrackingServerError if the
    tracking server could not be reached (nothing is left open then)."""
    tracking_uri = env.mlflow_tracking_uri
    if not tracking_uri:
        raise ValueError(f"{MLFLOW_TRACKING_URI_VARIABLE} is not set: this build tracks no experiments")
    # The sagemaker-mlflow plugin signs each request for the server that MLflow's own tracking URI
    # names (mlflow.get_tracking_uri()), whatever the client's: set it. The registry is the server's too.
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = run_name(env)
    run_id = None
    try:
        experiment = experiment_id(client, config.model_name)
        run_id = client.create_run(experiment, run_name=name, tags=run_tags(config, env)).info.run_id
        params = run_params(config, input_data_uri, feature_store_source)
        client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()])
    except DeletedExperimentError:
        raise
    except Exception as error:
        if run_id is not None:
            BuildRun(client, tracking_uri, run_id).end(RunStatus.FAILED, f"run_pipeline: {error}")
        raise TrackingServerError(
            f"could not open the build's MLflow run on the tracking server {tracking_uri}"
            f" ({MLFLOW_TRACKING_URI_VARIABLE}, which the platform sets when it tracks experiments): {error}."
            " Check that the tracking server is running (SageMaker Studio, MLflow) and that the build's role"
            f" may use it; unset {MLFLOW_TRACKING_URI_VARIABLE} only to build without tracking."
        ) from error
    print(
        f"MLflow run {run_id} ({name}) of the experiment {config.model_name!r} on {tracking_uri}", flush=True
    )
    return BuildRun(client, tracking_uri, run_id)


@contextmanager
def build_run(
    config: ModelConfig, env: BuildEnvironment, input_data_uri: str, feature_store_source: Mapping[str, str]
) -> Iterator[BuildRun]:
    """The open run, for the build to start and follow its execution in; ended FAILED if the build
    fails before the execution's outcome ends it (KILLED if interrupted)."""
    run = open_run(config, env, input_data_uri, feature_store_source)
    try:
        yield run
    except Exception as error:
        run.end(RunStatus.FAILED, f"run_pipeline: {type(error).__name__}: {error}")
        raise
    except BaseException as interruption:
        run.end(RunStatus.KILLED, f"run_pipeline: {type(interruption).__name__}")
        raise
    if not run.ended:
        run.end(RunStatus.FAILED, "run_pipeline: the build ended without the execution's outcome")
