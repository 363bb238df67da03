"""What a model's stage serves and where it came from: endpoint -> packages -> pipeline execution -> training data.

    python -m tools.lineage --model <model> [--stage production|staging] [--package ARN] [--json]
                            [--platform <name>] [--region R]

Run from the repository root (`make lineage MODEL=<model>`). Read-only. `--platform` and `--region`
default to `name` and `environment.region` of config/platform.yaml.

What is served is read as the platform's other readers read it (`lambdas.common.endpoints`): a
real-time model's endpoint `<platform>-<model>-<stage>`, each production variant's SageMaker model and
the model package behind it; a batch model's serving stack of that name and its champion parameter.
`--package` skips that lookup and explains one package. For each package: its approval (status, who,
when, why), source (repository, commit), customer metadata, model card status and metrics reports; the
pipeline execution that registered it (`MetadataProperties.GeneratedBy`), its training steps' jobs,
their input data and times. A package registered by hand, or before lineage was recorded, says
"not recorded" where the record is missing.

Exit status: 0 answered (missing records included), 1 nothing served (no endpoint or serving stack),
2 a read failed (access denied, throttled, not found behind a recorded reference) or bad arguments.

IAM (region R, account A): sagemaker:DescribeEndpoint, DescribeEndpointConfig, DescribeModel on the
stage's endpoint and its models; cloudformation:DescribeStacks on the serving stack (batch models);
sagemaker:DescribeModelPackage on arn:aws:sagemaker:R:A:model-package/<model>/*;
sagemaker:ListPipelineExecutionSteps on the model's pipeline executions; sagemaker:DescribeTrainingJob.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from config import ConfigError, load_config
from lambdas.common.aws import RetryableError
from lambdas.common.contracts import STAGES, Stage, serving_name
from lambdas.common.endpoints import ServingVariant, batch_champion, serving_variants
from lambdas.common.errors import error_code, error_message

EXIT_OK, EXIT_NOT_SERVING, EXIT_READ_FAILED = 0, 1, 2
NOT_RECORDED = "not recorded"
NO_MODEL_CARD = "no model card (registered before model cards)"


class NotServing(Exception):
    """Nothing is served where the model's stage should be: no endpoint or serving stack."""


class ReadFailed(Exception):
    """An AWS read failed; the message names the call and the resource."""


@dataclass(frozen=True)
class AwsClients:
    sagemaker: Any
    cloudformation: Any


@dataclass
class TrainingLineage:
    step_name: str
    job_arn: str
    status: str | None = None
    started: str | None = None
    ended: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # channel -> S3 URI


@dataclass
class PackageLineage:
    arn: str
    approval: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    approval_description: str | None = None
    repository: str | None = None
    commit: str | None = None
    pipeline_execution: str | None = None
    customer_metadata: dict[str, str] = field(default_factory=dict)
    model_card_status: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)  # report (e.g. ModelQuality.Statistics) -> S3 URI
    training: list[TrainingLineage] = field(default_factory=list)


@dataclass
class VariantLineage:
    variant: str | None  # None for a package given with --package
    model: str | None
    traffic_percent: float | None
    package: PackageLineage | None


@dataclass
class Lineage:
    serving: str | None  # the endpoint or serving stack read; None with --package
    kind: str  # "endpoint", "serving stack" or "package"
    variants: list[VariantLineage]


@contextmanager
def reading(operation: str, resource: str) -> Iterator[None]:
    """Any failure of the read becomes ReadFailed naming the call and the resource."""
    try:
        yield
    except ClientError as error:
        raise ReadFailed(f"{operation} {resource} failed: {error_code(error)}: {error_message(error)}") from error
    except BotoCoreError as error:
        raise ReadFailed(f"{operation} {resource} failed: {error}") from error


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def served_variants(clients: AwsClients, name: str, *, batch: bool) -> list[ServingVariant]:
    """What `name` serves (the endpoint, or the batch model's serving stack); NotServing when it does not exist."""
    try:
        if batch:
            champion, notes = batch_champion(clients.cloudformation, name, strict=True)
            variants = [champion] if champion else []
        else:
            variants, notes = serving_variants(clients.sagemaker, name, strict=True)
    except RetryableError as error:
        raise ReadFailed(str(error)) from error
    if not variants:
        raise NotServing(notes[0] if batch and notes else f"endpoint {name} not found (not deployed yet?)")
    return variants


def approver(user: Mapping[str, Any]) -> str | None:
    """Who changed the package last: the IAM identity, else the Studio user profile."""
    return user.get("IamIdentity", {}).get("Arn") or user.get("UserProfileName") or user.get("UserProfileArn")


def metrics_reports(metrics: Mapping[str, Any]) -> dict[str, str]:
    """The package's metrics reports by `<section>.<report>` (ModelQuality.Statistics, Bias.Report, ...)."""
    return {
        f"{section}.{report}": source["S3Uri"]
        for section, reports in metrics.items()
        for report, source in reports.items()
        if isinstance(source, Mapping) and source.get("S3Uri")
    }


def describe_package(sagemaker: Any, arn: str) -> PackageLineage:
    with reading("DescribeModelPackage", arn):
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    metadata = package.get("MetadataProperties", {})
    lineage = PackageLineage(
        arn=arn,
        approval=package.get("ModelApprovalStatus"),
        approved_by=approver(package.get("LastModifiedBy", {})),
        approved_at=_time(package.get("LastModifiedTime")),
        approval_description=package.get("ApprovalDescription"),
        repository=metadata.get("Repository"),
        commit=metadata.get("CommitId"),
        pipeline_execution=metadata.get("GeneratedBy"),
        customer_metadata=dict(package.get("CustomerMetadataProperties", {})),
        model_card_status=package.get("ModelCard", {}).get("ModelCardStatus"),
        metrics=metrics_reports(package.get("ModelMetrics", {})),
    )
    if lineage.pipeline_execution:
        lineage.training = training_of(sagemaker, lineage.pipeline_execution)
    return lineage


def training_of(sagemaker: Any, execution_arn: str) -> list[TrainingLineage]:
    """The execution's training steps, each with its job's input data and times."""
    steps: list[TrainingLineage] = []
    with reading("ListPipelineExecutionSteps", execution_arn):
        for page in sagemaker.get_paginator("list_pipeline_execution_steps").paginate(
            PipelineExecutionArn=execution_arn
        ):
            steps += [
                TrainingLineage(step_name=step["StepName"], job_arn=step["Metadata"]["TrainingJob"]["Arn"])
                for step in page["PipelineExecutionSteps"]
                if step.get("Metadata", {}).get("TrainingJob", {}).get("Arn")
            ]
    for step in steps:
        with reading("DescribeTrainingJob", step.job_arn):
            job = sagemaker.describe_training_job(TrainingJobName=step.job_arn.rsplit("/", 1)[-1])
        step.status = job.get("TrainingJobStatus")
        step.started = _time(job.get("TrainingStartTime"))
        step.ended = _time(job.get("TrainingEndTime"))
        step.inputs = {
            channel["ChannelName"]: channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "(not in S3)")
            for channel in job.get("InputDataConfig", [])
        }
    return steps


def lineage(
    clients: AwsClients, *, platform: str, model: str, stage: Stage, batch: bool, package_arn: str | None
) -> Lineage:
    if package_arn:
        return Lineage(
            None, "package", [VariantLineage(None, None, None, describe_package(clients.sagemaker, package_arn))]
        )
    name = serving_name(platform, model, stage)
    variants = [
        VariantLineage(
            variant=served.variant_name,
            model=served.model_name,
            traffic_percent=served.traffic_percent,
            package=describe_package(clients.sagemaker, served.model_package_arn) if served.model_package_arn else None,
        )
        for served in served_variants(clients, name, batch=batch)
    ]
    return Lineage(name, "serving stack" if batch else "endpoint", variants)


def render(answer: Lineage) -> str:
    """The human-readable tree."""
    if answer.serving is None:
        return "\n".join(line for variant in answer.variants for line in render_package(variant.package))
    lines = [f"{answer.kind} {answer.serving}"]
    for variant in answer.variants:
        traffic = f", {variant.traffic_percent:g}% of traffic" if variant.traffic_percent is not None else ""
        model = f", model {variant.model}" if variant.model else ""
        lines.append(f"variant {variant.variant}{traffic}{model}")
        lines += ["  " + line for line in render_package(variant.package)]
    return "\n".join(lines)


def render_package(package: PackageLineage | None) -> list[str]:
    if package is None:
        return ["package: none (a model not created from a model package: no lineage)"]
    why = f': "{package.approval_description}"' if package.approval_description else ""
    source = f"{package.repository or NOT_RECORDED} @ {package.commit or NOT_RECORDED}"
    lines = [
        f"package {package.arn}",
        f"  approval: {package.approval} by {package.approved_by or NOT_RECORDED} at {package.approved_at}{why}",
        f"  source: {source}" if package.repository or package.commit else f"  source: {NOT_RECORDED}",
        f"  model card: {package.model_card_status or NO_MODEL_CARD}",
        *(f"  metadata {key}: {value}" for key, value in sorted(package.customer_metadata.items())),
        *(f"  metrics {report}: {uri}" for report, uri in package.metrics.items()),
        f"  pipeline execution: {package.pipeline_execution or NOT_RECORDED}",
    ]
    if package.pipeline_execution and not package.training:
        lines.append("    training step: none in the execution")
    for step in package.training:
        lines += [
            f"    training step {step.step_name}: {step.job_arn} ({step.status})",
            f"      started {step.started}, ended {step.ended}",
            *(f"      input {channel}: {uri}" for channel, uri in step.inputs.items()),
        ]
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.lineage", description="What a model's stage serves and where it came from (read-only)."
    )
    parser.add_argument("--model", required=True, help="model name, as in config/platform.yaml")
    parser.add_argument("--stage", choices=STAGES, default="production")
    parser.add_argument("--package", help="explain this model package ARN instead of what is served")
    parser.add_argument("--json", action="store_true", help="JSON instead of the human-readable tree")
    parser.add_argument("--platform", help="platform name (default: `name` in config/platform.yaml)")
    parser.add_argument("--region", help="AWS region (default: `environment.region` in config/platform.yaml)")
    return parser.parse_args(argv)


def make_clients(region: str | None) -> AwsClients:
    session = boto3.Session(region_name=region)
    retries = Config(retries={"mode": "standard"})
    return AwsClients(
        sagemaker=session.client("sagemaker", config=retries),
        cloudformation=session.client("cloudformation", config=retries),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    platform, region, batch = args.platform, args.region, False
    try:
        config = load_config()
    except ConfigError as error:
        if platform is None or region is None:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_READ_FAILED
    else:
        model = next((m for m in config.models if m.name == args.model), None)
        batch = model is not None and model.serving.mode == "batch"
        platform, region = platform or config.name, region or config.environment.region
    try:
        answer = lineage(
            make_clients(region),
            platform=platform,
            model=args.model,
            stage=args.stage,
            batch=batch,
            package_arn=args.package,
        )
    except NotServing as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_SERVING
    except ReadFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_READ_FAILED
    print(json.dumps(asdict(answer), indent=2) if args.json else render(answer))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
