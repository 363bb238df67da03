"""What a model's stage serves and where it came from: variant -> package -> pipeline execution ->
training job -> input data, with who approved it and what its model card says.

    python -m tools.lineage --model <model> [--stage production|staging] [--package ARN] [--json]
                            [--platform <name>] [--region R] [--serving-profile NAME] [--serving-role-arn ARN]

Run from the repository root (`make lineage MODEL=<model>`). Read-only. `--platform` and `--region`
default to `name` and `environment.region` of config/platform.yaml.

What is served is read as the platform's other readers read it (`lambdas.common.endpoints`): a
real-time model's endpoint `<platform>-<model>-<stage>`, each production variant's SageMaker model and
the model package behind it; a batch model's serving stack of that name and its champion parameter.
`--package` skips that lookup and explains one package. For each package (tools/lineage_sources.py
reads it): its approval status and the approval gate's decisions on it, from the platform's audit log
group (who approved, when, the metric against its threshold, the card status, bias violations); source
(repository, commit); the MLflow run the build logged its training to (experiment tracking); model
card (status, owner, risk rating, intended uses, whether bias was assessed); feature group and
event-time range, raw training data, other customer metadata; metrics reports; the pipeline execution that registered it (`MetadataProperties.GeneratedBy`), its training
jobs, their input data with the object versions current when each job started; and SageMaker's
lineage graph above the package. A package registered by hand, or before a record existed, says "not
recorded" (or "no approval decision recorded", "none recorded") where the record is missing.

Where the stage serves in its own account (`environment.deployment_accounts`), say how to reach it:
`--serving-profile NAME` (an AWS CLI profile of that account) and/or `--serving-role-arn ARN` (a role to
assume there, such as the model's `<platform>-<model>-<stg|prd>-ops` role; with a profile, assumed with
its credentials). What serves (the endpoint, its configuration and models, the serving stack) is then
read there; the registry, the audit log group, the training jobs, SageMaker's lineage graph and the
data buckets with the default credentials (the tooling account). Without either option, everything is
read with one set of credentials (`make lineage MODEL=... ARGS="--serving-profile prod"`).

Exit status: 0 answered (missing records included), 1 nothing served (no endpoint or serving stack),
2 a read failed (access denied, throttled, not found behind a recorded reference) or bad arguments.

IAM (region R, account A, platform P): sagemaker:DescribeEndpoint, DescribeEndpointConfig,
DescribeModel on the stage's endpoint and its models; cloudformation:DescribeStacks on the serving
stack (batch models); sagemaker:DescribeModelPackage on arn:aws:sagemaker:R:A:model-package/<model>/*;
sagemaker:ListPipelineExecutionSteps on the model's pipeline executions; sagemaker:DescribeTrainingJob;
logs:FilterLogEvents on arn:aws:logs:R:A:log-group:/P/audit-decisions (CloudWatch Logs decrypts it
with the platform key itself); s3:ListBucketVersions on the buckets of the training data and of the
jobs' input channels; sagemaker:ListArtifacts and sagemaker:QueryLineage (the lineage graph above the
package). With a serving account, the endpoint's and the serving stack's permissions above are the
serving profile's or role's there, and sts:AssumeRole on the role.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, replace

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from config import ConfigError, load_config
from lambdas.common.accounts import add_serving_arguments, cli_serving_session
from lambdas.common.aws import RetryableError
from lambdas.common.contracts import STAGES, Stage, audit_log_group_name, serving_name
from lambdas.common.endpoints import ServingVariant, batch_champion, serving_variants
from tools.lineage_records import (
    READ_METADATA_KEYS,
    ApprovalDecision,
    DataLocation,
    ExperimentRun,
    Lineage,
    ModelCardSummary,
    PackageLineage,
    VariantLineage,
)
from tools.lineage_sources import AwsClients, ReadFailed, describe_package

EXIT_OK, EXIT_NOT_SERVING, EXIT_READ_FAILED = 0, 1, 2
NOT_RECORDED = "not recorded"
NOT_STATED = "not stated"
NO_MODEL_CARD = "no model card (registered before model cards)"
NO_DECISION = "no approval decision recorded"
# The tree shows this much of a card's intended uses (--json has all of it).
INTENDED_USES_WIDTH = 160


class NotServing(Exception):
    """Nothing is served where the model's stage should be: no endpoint or serving stack."""


def served_variants(clients: AwsClients, name: str, *, batch: bool) -> list[ServingVariant]:
    """What `name` serves (the endpoint, or the batch model's serving stack); NotServing when it does not exist."""
    try:
        if batch:
            champion, notes = batch_champion(clients.cloudformation, name, strict=True)
            variants = [champion] if champion else []
        else:
            variants, notes = serving_variants(clients.endpoint_reader, name, strict=True)
    except RetryableError as error:
        raise ReadFailed(str(error)) from error
    if not variants:
        raise NotServing(notes[0] if batch and notes else f"endpoint {name} not found (not deployed yet?)")
    return variants


def lineage(
    clients: AwsClients, *, platform: str, model: str, stage: Stage, batch: bool, package_arn: str | None
) -> Lineage:
    audit_log_group = audit_log_group_name(platform)
    if package_arn:
        package = describe_package(clients, package_arn, audit_log_group=audit_log_group)
        return Lineage(None, "package", [VariantLineage(None, None, None, package)])
    name = serving_name(platform, model, stage)
    variants = [
        VariantLineage(
            variant=served.variant_name,
            model=served.model_name,
            traffic_percent=served.traffic_percent,
            package=(
                describe_package(clients, served.model_package_arn, audit_log_group=audit_log_group)
                if served.model_package_arn
                else None
            ),
        )
        for served in served_variants(clients, name, batch=batch)
    ]
    return Lineage(name, "serving stack" if batch else "endpoint", variants)


# --- the tree ------------------------------------------------------------------------------------


def render(answer: Lineage) -> str:
    """The human-readable tree."""
    if answer.serving is None:
        return "\n".join(line for variant in answer.variants for line in render_package(variant.package))
    lines = [f"{answer.kind} {answer.serving}"]
    for variant in answer.variants:
        traffic = f", {variant.traffic_percent:g}% of traffic" if variant.traffic_percent is not None else ""
        model = f", model {variant.model}" if variant.model else ""
        lines.append(f"variant {variant.variant}{traffic}{model}")
        lines += indented(render_package(variant.package))
    return "\n".join(lines)


def indented(lines: Sequence[str], depth: int = 1) -> list[str]:
    return ["  " * depth + line for line in lines]


def render_package(package: PackageLineage | None) -> list[str]:
    if package is None:
        return ["package: none (a model not created from a model package: no lineage)"]
    why = f': "{package.approval_description}"' if package.approval_description else ""
    source = f"{package.repository or NOT_RECORDED} @ {package.commit or NOT_RECORDED}"
    event_times = f"event time {package.event_time_from or NOT_RECORDED} to {package.event_time_to or NOT_RECORDED}"
    metadata = {key: value for key, value in package.customer_metadata.items() if key not in READ_METADATA_KEYS}
    lines = [
        f"package {package.arn}",
        f"  approval: {package.approval}{why}",
        *indented(render_decisions(package.approval_decisions), 2),
        f"  source: {source}" if package.repository or package.commit else f"  source: {NOT_RECORDED}",
        render_experiment_run(package.experiment_run),
        *indented(render_card(package.model_card)),
        f"  feature group: {package.feature_group}, {event_times}"
        if package.feature_group
        else f"  feature group: {NOT_RECORDED}",
        *indented(render_data("training data", package.training_data)),
        *(f"  metadata {key}: {value}" for key, value in sorted(metadata.items())),
        *(f"  metrics {report}: {uri}" for report, uri in package.metrics.items()),
        f"  pipeline execution: {package.pipeline_execution or NOT_RECORDED}",
    ]
    if package.pipeline_execution and not package.training:
        lines.append("    training step: none in the execution")
    for step in package.training:
        lines += [
            f"    training step {step.step_name}: {step.job_arn} ({step.status})",
            f"      started {step.started}, ended {step.ended}",
            *(
                line
                for channel, data in step.inputs.items()
                for line in indented(render_data(f"input {channel}", data), 3)
            ),
        ]
    if not package.sagemaker_lineage:
        return [*lines, "  sagemaker lineage: none recorded"]
    entities = (f"{entity.type} ({entity.lineage_type}): {entity.arn}" for entity in package.sagemaker_lineage)
    return [*lines, "  sagemaker lineage:", *indented(list(entities), 2)]


def render_experiment_run(run: ExperimentRun | None) -> str:
    if run is None:
        return f"  experiment run: {NOT_RECORDED}"
    return f"  experiment run: {run.run_id} on {run.tracking_server_arn or 'a tracking server not recorded'}"


def render_decisions(decisions: list[ApprovalDecision] | None) -> list[str]:
    if not decisions:
        return [f"decision: {NO_DECISION}" + (" (the audit log group does not exist yet)" if decisions is None else "")]
    lines = []
    for decision in decisions:
        lines.append(f"decision {decision.decision} at {decision.time} by {decision.changed_by}")
        if decision.metric_name:
            lines.append(
                f"  metric: {decision.metric_name} {decision.metric_value}, threshold {decision.threshold}"
                f" ({decision.metric_direction})"
            )
        lines.append(f"  model card: {decision.model_card_status or 'none'}")
        if decision.bias_policy:
            violations = decision.bias_violations
            found = "not read" if violations is None else "; ".join(violations) or "no violation"
            lines.append(f"  bias policy {decision.bias_policy}: {found}")
        if decision.deploy_pipeline_name:
            lines.append(f"  deployed by {decision.deploy_pipeline_name}, execution {decision.pipeline_execution_id}")
    return lines


def render_card(card: ModelCardSummary | None) -> list[str]:
    if card is None:
        return [f"model card: {NO_MODEL_CARD}"]
    if not card.readable:
        return [f"model card: {card.status}, unreadable card content"]
    uses = textwrap.shorten(card.intended_uses, INTENDED_USES_WIDTH, placeholder=" ...") if card.intended_uses else None
    bias = {True: "bias assessed", False: "bias not assessed", None: f"bias {NOT_STATED}"}[card.bias_assessed]
    return [
        f"model card: {card.status}, owner {card.owner or NOT_STATED}, risk rating {card.risk_rating or NOT_STATED}",
        f"  intended uses: {uses or NOT_STATED}",
        f"  evaluations: {', '.join(card.evaluations) or NOT_STATED}; {bias}",
    ]


def render_data(name: str, data: DataLocation | None) -> list[str]:
    """A location and the object versions current at its time (at most MAX_LISTED_OBJECTS, then a count)."""
    if data is None:
        return [f"{name}: {NOT_RECORDED}"]
    if data.as_of is None:
        return [f"{name}: {data.uri} (not in S3: versions not listed)"]
    lines = [f"{name}: {data.uri}, objects as of {data.as_of}"]
    for version in data.objects:
        which = f"version {version.version_id}" if version.version_id else "unversioned"
        lines.append(f"  {version.key} {which} (written {version.last_modified})")
    if not data.objects:
        lines.append("  no object")
    if data.more:
        lines.append(f"  and {data.more} more")
    if data.later:
        lines.append(f"  {data.later} more written since (not listed)")
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
    add_serving_arguments(parser)
    return parser.parse_args(argv)


RETRIES = Config(retries={"mode": "standard"})
# The session name of --serving-role-arn, as CloudTrail shows it in the serving account.
SESSION_NAME = "mlops-lineage"


def make_clients(region: str | None) -> AwsClients:
    session = boto3.Session(region_name=region)
    return AwsClients(
        sagemaker=session.client("sagemaker", config=RETRIES),
        cloudformation=session.client("cloudformation", config=RETRIES),
        logs=session.client("logs", config=RETRIES),
        s3=session.client("s3", config=RETRIES),
    )


def in_serving_account(clients: AwsClients, serving: boto3.Session | None) -> AwsClients:
    """`clients` with what serves read through `serving` (None: as they are)."""
    if serving is None:
        return clients
    return replace(
        clients,
        cloudformation=serving.client("cloudformation", config=RETRIES),
        serving_sagemaker=serving.client("sagemaker", config=RETRIES),
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
        serving = cli_serving_session(args, region_name=region, session_name=SESSION_NAME)
    except BotoCoreError as error:  # an unknown profile, or one without credentials
        print(f"error: the serving account cannot be reached: {error}", file=sys.stderr)
        return EXIT_READ_FAILED
    try:
        answer = lineage(
            in_serving_account(make_clients(region), serving),
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
