"""Upsert the model's SageMaker Pipeline, start it and wait for the result (the CI train stage).

    python -m workflow.run_pipeline --dataset data/generated/customers.csv
    python -m workflow.run_pipeline --input-data-uri s3://bucket/churn/data/raw/2024-06/
    python -m workflow.run_pipeline --training-set training_set.json

With --dataset the table is validated against the customer table of the model's problem type,
then uploaded (KMS-encrypted) under s3://<ARTIFACT_BUCKET>/<model_name>/data/raw/<commit>/; with
--input-data-uri the data already in S3 is used as is; with --training-set, the training set that
`workflow.training_set athena --manifest` built from the feature group, and the execution records
the feature group and event-time range of the manifest (FeatureGroupName, EventTimeFrom and
EventTimeTo, which the package records: workflow/training_lineage.py; "none" with the other two
options). The sample payloads (sample_payloads.json)
are checked first, then packed and uploaded (KMS-encrypted) to
s3://<ARTIFACT_BUCKET>/<sample_payloads_prefix><commit>/sample_payloads.tar.gz, the execution's
SamplePayloadUrl. Prints the execution ARN, and exits non-zero when the execution fails, is
stopped, or does not finish within --timeout-minutes (it is then stopped, so that no model gets
registered by a run CI reported as failed).

When the platform tracks experiments (MLFLOW_TRACKING_URI), the execution logs into an MLflow run
that the build opens before it starts it and ends with its outcome (workflow/experiment_run.py); a
tracking server out of reach fails the build before the execution starts.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from workflow.config import CONFIG_OPTION_HELP, ModelConfig, load_model_config
from workflow.environment import BuildEnvironment
from workflow.model_code import model_features
from workflow.sample_payloads import (
    DEFAULT_SAMPLE_PAYLOADS_PATH,
    SamplePayloadError,
    check_sample_payloads,
    upload_sample_payloads,
)
from workflow.schema import CUSTOMER_TABLES
from workflow.training_lineage import NO_FEATURE_STORE_SOURCE, ManifestError, TrainingSetManifest
from workflow.validation import validate_csv

TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped"})


@dataclass(frozen=True)
class ExecutionOutcome:
    status: str
    failure_reasons: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"


class ExecutionTimeoutError(TimeoutError):
    """The execution was still running when the time allowed to wait ran out."""


def wait_for_execution(
    sagemaker_client: Any,
    execution_arn: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ExecutionOutcome:
    """Poll until the execution reaches a terminal status; raise ExecutionTimeoutError past the deadline."""
    deadline = clock() + timeout_seconds
    while True:
        status = sagemaker_client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)[
            "PipelineExecutionStatus"
        ]
        if status in TERMINAL_STATUSES:
            reasons = () if status == "Succeeded" else failed_step_reasons(sagemaker_client, execution_arn)
            return ExecutionOutcome(status, reasons)
        if clock() + poll_seconds > deadline:
            raise ExecutionTimeoutError(f"{execution_arn} still {status} after {timeout_seconds:.0f} s")
        print(f"execution {status}, next check in {poll_seconds:.0f} s", flush=True)
        sleep(poll_seconds)


def follow_execution(
    sagemaker_client: Any,
    execution_arn: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_outcome: Callable[[ExecutionOutcome], None] | None = None,
) -> int:
    """Wait for the execution and report it (to `on_outcome` too: one the build stopped at the deadline
    as Stopped); the exit code is 0 only when it succeeded."""
    try:
        outcome = wait_for_execution(
            sagemaker_client,
            execution_arn,
            timeout_seconds=timeout_seconds,
            poll_seconds=poll_seconds,
            sleep=sleep,
            clock=clock,
        )
    except ExecutionTimeoutError as timeout:
        print(f"{timeout}: stopping it", file=sys.stderr)
        sagemaker_client.stop_pipeline_execution(PipelineExecutionArn=execution_arn)
        if on_outcome is not None:
            on_outcome(ExecutionOutcome("Stopped", (f"{timeout}: stopped by the build",)))
        return 1
    print(f"execution {outcome.status}: {execution_arn}")
    for reason in outcome.failure_reasons:
        print(f"  {reason}", file=sys.stderr)
    if on_outcome is not None:
        on_outcome(outcome)
    return 0 if outcome.succeeded else 1


def start_execution(pipeline: Any, parameters: Mapping[str, str], display_name: str) -> str:
    execution = pipeline.start(parameters=dict(parameters), execution_display_name=display_name)
    print(f"started {execution.arn}", flush=True)
    return str(execution.arn)


def failed_step_reasons(sagemaker_client: Any, execution_arn: str) -> tuple[str, ...]:
    paginator = sagemaker_client.get_paginator("list_pipeline_execution_steps")
    return tuple(
        f"{step['StepName']}: {step.get('FailureReason', step['StepStatus'])}"
        for page in paginator.paginate(PipelineExecutionArn=execution_arn)
        for step in page["PipelineExecutionSteps"]
        if step["StepStatus"] in {"Failed", "Stopped"}
    )


def upload_dataset(dataset: Path, config: ModelConfig, env: BuildEnvironment, s3_client: Any) -> str:
    """Upload the table to this commit's raw-data prefix and return the prefix."""
    prefix = env.raw_data_prefix(config.model_name)
    bucket, key_prefix = prefix.removeprefix("s3://").split("/", 1)
    s3_client.upload_file(
        str(dataset),
        bucket,
        key_prefix + dataset.name,
        ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": env.kms_key_arn},
    )
    return prefix


def choose_training_data(
    args: argparse.Namespace, config: ModelConfig, env: BuildEnvironment, s3_client: Any
) -> tuple[str, Mapping[str, str]] | None:
    """The execution's training data and the feature store source it records (by metadata key); None,
    the reason printed, when it must not start."""
    if args.training_set:
        try:
            manifest = TrainingSetManifest.read(args.training_set)
        except ManifestError as error:
            print(error, file=sys.stderr)
            return None
        return manifest.training_data_s3_uri, manifest.feature_store_source()
    if args.dataset:
        # Never train on a table that breaks the data contract, even if the test stage was skipped.
        report = validate_csv(args.dataset, CUSTOMER_TABLES[config.problem_type])
        print(report.render())
        if not report.is_valid:
            return None
        return upload_dataset(args.dataset, config, env, s3_client), NO_FEATURE_STORE_SOURCE
    return args.input_data_uri, NO_FEATURE_STORE_SOURCE


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--dataset", type=Path, help="local CSV to validate and upload")
    data.add_argument("--input-data-uri", help="S3 prefix holding the raw CSV files")
    data.add_argument(
        "--training-set",
        type=Path,
        help="manifest of a training set built from the feature group (training_set athena --manifest)",
    )
    parser.add_argument("--config", type=Path, help=CONFIG_OPTION_HELP)
    parser.add_argument(
        "--sample-payloads",
        type=Path,
        default=DEFAULT_SAMPLE_PAYLOADS_PATH,
        help="request body registered as the package's sample payload",
    )
    parser.add_argument("--timeout-minutes", type=float, default=50.0)
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = load_model_config(args.config)
    env = BuildEnvironment.from_environment()
    # The SageMaker SDK creates boto3 clients as it is imported, and boto3 reads only
    # AWS_DEFAULT_REGION: import it once the region is known.
    os.environ.setdefault("AWS_DEFAULT_REGION", env.region)
    from workflow.experiment_step import RUN_ID_PARAMETER
    from workflow.pipeline import (
        FEATURE_STORE_PARAMETERS,
        INPUT_DATA_PARAMETER,
        SAMPLE_PAYLOAD_PARAMETER,
        get_pipeline,
        pipeline_session,
    )

    boto_session = boto3.Session(region_name=env.region)
    s3_client = boto_session.client("s3")

    # Nothing is uploaded or started unless the package can get sample payloads the model answers.
    try:
        instances = check_sample_payloads(args.sample_payloads, model_features())
    except SamplePayloadError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args.sample_payloads}: OK ({len(instances)} instances)")
    training_data = choose_training_data(args, config, env, s3_client)
    if training_data is None:
        return 1
    input_data_uri, feature_store_source = training_data
    sample_payload_url = upload_sample_payloads(args.sample_payloads, config, env, s3_client)
    pipeline = get_pipeline(config, env, pipeline_session(config, env))
    pipeline.upsert(role_arn=env.pipeline_role_arn, description=f"Model build for {config.model_name}")
    parameters = {
        INPUT_DATA_PARAMETER: input_data_uri,
        SAMPLE_PAYLOAD_PARAMETER: sample_payload_url,
        **{FEATURE_STORE_PARAMETERS[key]: value for key, value in feature_store_source.items()},
    }
    display_name = f"commit-{env.source_commit[:12]}"

    if env.mlflow_tracking_uri is None:
        execution_arn = start_execution(pipeline, parameters, display_name)
        return follow_execution(
            boto_session.client("sagemaker"),
            execution_arn,
            timeout_seconds=args.timeout_minutes * 60,
            poll_seconds=args.poll_seconds,
        )
    # Only a build that tracks experiments needs MLflow.
    from workflow.experiment_run import build_run

    with build_run(config, env, input_data_uri, feature_store_source) as run:
        execution_arn = start_execution(pipeline, parameters | {RUN_ID_PARAMETER: run.run_id}, display_name)
        run.execution_started(execution_arn)
        return follow_execution(
            boto_session.client("sagemaker"),
            execution_arn,
            timeout_seconds=args.timeout_minutes * 60,
            poll_seconds=args.poll_seconds,
            on_outcome=run.execution_ended,
        )


if __name__ == "__main__":
    sys.exit(main())
