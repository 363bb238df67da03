"""Roll a model's serving stack back to one approved model package, served alone as champion.

    python -m tools.rollback --model <model> --package-arn ARN [--platform-name mlops]
                             [--stage production] [--region R] [--timeout-minutes 60] [--yes]
                             [--serving-profile NAME] [--serving-role-arn ARN]

Run from the repository root (`make rollback MODEL=<model> PACKAGE=<model package ARN>`).
`--platform-name` and `--region` default to `name` and `environment.region` of config/platform.yaml,
and then `--model` must be one of its models.

The stack `<platform>-<model>-<stage>` is updated with its current template and parameters, except
ChampionModelPackageArn (the package), ChallengerModelPackageArn (cleared; staging templates have
none) and the baselines the template monitors production with (the package's own data-quality and
Clarify baselines, `contracts.BASELINE_PARAMETERS`, "" where it has none), as the deploy pipeline's
champion resolution sets them (`lambdas.common.serving_state.champion_baselines`): the explainability
monitor runs an analysis config written for the package, naming the model Clarify explains, under the
stack's monitoring output (encrypted with its platform key), and Clarify finds the features of captured
JSON requests by the package's names for them. Before that the tool refuses a package that does not
exist, is in another model's group or is not Approved, whose Clarify baselines production's monitors
could not run, and a stack that is not in a stable state; it shows the change and asks for
confirmation unless `--yes`. After UPDATE_COMPLETE it puts a "Model Rollback" event on the
`<platform>-audit` bus. A failed update (rolled back by CloudFormation: the endpoint keeps serving
what it served) exits non-zero with the reasons from the stack events.

The next run of the model's deploy pipeline deploys over the rollback, as it deploys over any release.

Where the stage serves in its own account (`environment.deployment_accounts`), say how to reach it:
`--serving-profile NAME` (an AWS CLI profile of that account) and/or `--serving-role-arn ARN` (a role to
assume there, such as the model's `<platform>-<model>-<stg|prd>-ops` role; with a profile, assumed with
its credentials). The serving stack is then read and updated, and the explainability config written,
in that account; the package is read, and the audit event put, with the default credentials (the
tooling account). Without either option, one account serves and keeps everything.
(`make rollback MODEL=... PACKAGE=... ARGS="--serving-profile prod"`.)

Exit status: 0 rolled back (or nothing to change), 1 refused, declined or failed, 2 bad arguments or an
invalid configuration.

IAM (region R, account A, stack S = <platform>-<model>-<stage>):
- sagemaker:DescribeModelPackage on arn:aws:sagemaker:R:A:model-package/<model>/*
- s3:GetObject on the package's Clarify analysis configs (<data bucket>/<model>/clarify/*), s3:PutObject
  under the stack's monitoring output (<data capture bucket>/<model>/monitoring/clarify-configs/*), and
  kms:Decrypt and kms:GenerateDataKey on the platform key
- cloudformation:DescribeStacks, cloudformation:UpdateStack, cloudformation:DescribeStackEvents on
  arn:aws:cloudformation:R:A:stack/S/*
- events:PutEvents on arn:aws:events:R:A:event-bus/<platform>-audit
- sts:GetCallerIdentity needs no permission.
With a serving account, the CloudFormation and the monitoring output's permissions are the serving
profile's or role's there (and kms:GenerateDataKey on its serving key), and sts:AssumeRole on the role.
The update runs with the stack's service role (the deploy pipeline's CloudFormation role), which
CloudFormation reuses without iam:PassRole. A stack without one is updated with the caller's own
credentials, which then also need every permission the serving template's changes need.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from config import ConfigError, load_config
from lambdas.common.accounts import add_serving_arguments, cli_serving_session
from lambdas.common.contracts import (
    APPROVED,
    CARD_APPROVED,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    KMS_KEY_PARAMETER,
    MODEL_NAME,
    MONITORING_OUTPUT_PARAMETER,
    NO_CHALLENGER,
    PACKAGE_ARN,
    ROLLBACK_DETAIL_TYPE,
    ROLLBACK_SOURCE,
    STAGES,
    Stage,
    audit_bus_name,
    model_package_group_name,
    serving_name,
)
from lambdas.common.errors import error_message
from lambdas.common.serving_state import (
    ChampionNotMonitorable,
    ClarifyDeployment,
    ServingStack,
    champion_baselines,
    clarify_deployment,
    not_updatable,
    read_serving_stack,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

WAITER_DELAY_SECONDS = 15


class RollbackRefused(Exception):
    """The rollback was not attempted: nothing has changed."""


class RollbackFailed(Exception):
    """The rollback was attempted and did not complete as asked."""


@dataclass(frozen=True)
class Target:
    """What to roll back, and where."""

    platform_name: str
    model: str
    stage: Stage
    package_arn: str

    @property
    def stack_name(self) -> str:
        return serving_name(self.platform_name, self.model, self.stage)

    @property
    def audit_bus_name(self) -> str:
        return audit_bus_name(self.platform_name)


@dataclass(frozen=True)
class Caller:
    arn: str
    account: str
    user_id: str


@dataclass(frozen=True)
class AwsClients:
    """`cloudformation` reaches the serving stack; `sagemaker`, `events` and `sts` the registry, the audit bus
    and the caller; `s3` reads the package's Clarify configs. `serving_s3` writes to the stack's monitoring
    output where it is in another account (None: `s3` does)."""

    cloudformation: Any
    sagemaker: Any
    events: Any
    sts: Any
    s3: Any
    serving_s3: Any = None

    @property
    def monitoring_writer(self) -> Any:
        return self.serving_s3 or self.s3


def check_package_arn(arn: str) -> None:
    if not PACKAGE_ARN.fullmatch(arn):
        raise RollbackRefused(
            f"{arn!r} is not a versioned model package ARN "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
        )


def check_package(sagemaker: Any, arn: str, model: str) -> dict[str, Any]:
    """The package, refused if it may not be served for `model`: missing, in another group, or not Approved."""
    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":  # SageMaker's "not found"
            raise RollbackRefused(f"model package {arn} not found: {error_message(error)}") from error
        raise
    group = package.get("ModelPackageGroupName")
    if group != model_package_group_name(model):
        raise RollbackRefused(f"model package {arn} belongs to group {group!r}, not to model {model!r}")
    approval = package.get("ModelApprovalStatus")
    if approval != APPROVED:
        raise RollbackRefused(f"model package {arn} is {approval}, not Approved: only approved packages are served")
    # A package with a model card was governed: the approval gate approved its card when it deployed it.
    # (A package registered before model cards has none, and may still be rolled back to.)
    card = package.get("ModelCard") or {}
    if card.get("ModelCardContent") and card.get("ModelCardStatus") != CARD_APPROVED:
        raise RollbackRefused(
            f"model package {arn} has a {card.get('ModelCardStatus')} model card, not Approved: the approval"
            " gate never deployed it, or it was rejected since"
        )
    return dict(package)


def other_parameters(stack: ServingStack) -> tuple[str, ...]:
    """The stack's parameters a rollback keeps (all but the packages it serves)."""
    return tuple(key for key in stack.parameters if key not in (CHAMPION_PARAMETER, CHALLENGER_PARAMETER))


def updatable_serving_stack(cloudformation: Any, stack_name: str) -> ServingStack:
    """The serving stack, when it exists, can be updated now and has a champion parameter."""
    stack = read_serving_stack(cloudformation, stack_name)
    if stack is None:
        raise RollbackRefused(f"stack {stack_name} does not exist: nothing is served to roll back")
    status = stack.status
    hint = not_updatable(stack)
    if hint is not None:
        raise RollbackRefused(f"stack {stack_name} is {status}: {hint}")
    if CHAMPION_PARAMETER not in stack.parameters:
        raise RollbackRefused(f"stack {stack_name} has no parameter {CHAMPION_PARAMETER}: not a serving stack")
    return stack


def clarify_of(s3: Any, stack: ServingStack, package_arn: str, package: dict[str, Any]) -> ClarifyDeployment:
    """What the stack's Clarify monitors need of `package` as its champion (nothing where the stack has no
    monitors: staging). Refused when its Clarify baselines could not be run."""
    monitoring_output = stack.parameters.get(MONITORING_OUTPUT_PARAMETER)
    if not monitoring_output:
        return ClarifyDeployment()
    try:
        return clarify_deployment(
            s3, package, package_arn=package_arn, serving_name=stack.name, monitoring_output_s3_uri=monitoring_output
        )
    except ChampionNotMonitorable as error:
        raise RollbackRefused(
            f"production's Clarify monitors could not run the package's baselines: {error}"
        ) from error


def update_parameters(
    stack: ServingStack, package_arn: str, baselines: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The package as champion, no challenger, its baselines where the template monitors with them, every
    other parameter as it is (NoEcho values included)."""
    baselines = baselines or {}
    no_challenger = (
        [{"ParameterKey": CHALLENGER_PARAMETER, "ParameterValue": NO_CHALLENGER}]
        if stack.challenger is not None
        else []
    )
    return [
        {"ParameterKey": CHAMPION_PARAMETER, "ParameterValue": package_arn},
        *no_challenger,
        *(
            {"ParameterKey": key, "ParameterValue": baselines[key]}
            if key in baselines
            else {"ParameterKey": key, "UsePreviousValue": True}
            for key in other_parameters(stack)
        ),
    ]


def describe_change(stack: ServingStack, target: Target, caller: Caller) -> str:
    kept = ", ".join(other_parameters(stack)) or "none"
    acting = f"as {stack.role_arn}" if stack.role_arn else "with your credentials (the stack has no service role)"
    challenger = (
        [f"  challenger: {stack.challenger or '(none)'}", "          ->  (none)"]
        if stack.challenger is not None
        else []
    )
    return "\n".join(
        [
            f"Roll back {stack.name} ({stack.status}) as {caller.arn}:",
            f"  champion:   {stack.champion or '(none)'}",
            f"          ->  {target.package_arn}",
            *challenger,
            f"  unchanged:  template and parameters {kept}",
            f"  CloudFormation acts {acting}",
        ]
    )


def update_stack(
    cloudformation: Any,
    stack: ServingStack,
    package_arn: str,
    *,
    baselines: dict[str, str],
    request_token: str,
    timeout_minutes: int,
    waiter_delay_seconds: int = WAITER_DELAY_SECONDS,
) -> None:
    """Update the stack and wait for UPDATE_COMPLETE; RollbackFailed with the stack events' reasons otherwise."""
    capabilities = {"Capabilities": list(stack.capabilities)} if stack.capabilities else {}
    try:
        cloudformation.update_stack(
            StackName=stack.stack_id,
            UsePreviousTemplate=True,
            Parameters=update_parameters(stack, package_arn, baselines),
            ClientRequestToken=request_token,
            **capabilities,
        )
    except ClientError as error:
        raise RollbackFailed(f"CloudFormation refused the update of {stack.name}: {error_message(error)}") from error
    waiter = cloudformation.get_waiter("stack_update_complete")
    try:
        waiter.wait(
            StackName=stack.stack_id,
            WaiterConfig={
                "Delay": waiter_delay_seconds,
                "MaxAttempts": max(1, math.ceil(timeout_minutes * 60 / max(1, waiter_delay_seconds))),
            },
        )
    except WaiterError as error:
        stacks = (error.last_response or {}).get("Stacks") or [{}]
        status = stacks[0].get("StackStatus")
        if error.kwargs.get("reason") == "Max attempts exceeded":
            raise RollbackFailed(
                f"{stack.name} is still {status} after {timeout_minutes} minutes; CloudFormation carries on: "
                "follow it in the console (no audit event was sent)"
            ) from error
        reasons = failure_reasons(cloudformation, stack.stack_id, request_token)
        outcome = (
            "CloudFormation rolled the update back: the endpoint serves what it served before"
            if status == "UPDATE_ROLLBACK_COMPLETE"
            else "the stack needs attention in the CloudFormation console"
        )
        raise RollbackFailed(
            f"the update of {stack.name} failed ({status or error}); {outcome}. Reasons, first cause first:\n  "
            + "\n  ".join(reasons or ["(no reason recorded in the stack events)"])
        ) from error


def failure_reasons(cloudformation: Any, stack_id: str, request_token: str) -> list[str]:
    """The reasons of the failed events of this update (ClientRequestToken), oldest first."""
    reasons: list[str] = []
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        for event in page["StackEvents"]:  # newest first
            if event.get("ClientRequestToken") != request_token:
                continue
            if event["ResourceStatus"].endswith("_FAILED") and event.get("ResourceStatusReason"):
                reasons.append(f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}")
            if (
                event["ResourceType"] == "AWS::CloudFormation::Stack"
                and event["ResourceStatus"] == "UPDATE_IN_PROGRESS"
            ):
                return reasons[::-1]  # the start of this update: older events belong to earlier operations
    return reasons[::-1]


def caller_identity(sts: Any) -> Caller:
    identity = sts.get_caller_identity()
    return Caller(arn=identity["Arn"], account=identity["Account"], user_id=identity["UserId"])


def put_audit_event(events: Any, target: Target, stack: ServingStack, caller: Caller, *, request_token: str) -> None:
    detail = {
        "model_name": target.model,
        "stage": target.stage,
        "stack_name": stack.name,
        "from_champion_package_arn": stack.champion or None,
        "from_challenger_package_arn": stack.challenger or None,
        "to_model_package_arn": target.package_arn,
        "rolled_back_by": asdict(caller),
        "client_request_token": request_token,
    }
    response = events.put_events(
        Entries=[
            {
                "Source": ROLLBACK_SOURCE,
                "DetailType": ROLLBACK_DETAIL_TYPE,
                "Detail": json.dumps(detail),
                "Resources": [target.package_arn, stack.stack_id],
                "EventBusName": target.audit_bus_name,
            }
        ]
    )
    # PutEvents reports a rejected entry in its answer, not as an error.
    if response.get("FailedEntryCount"):
        raise RollbackFailed(f"the audit event was not accepted: {response.get('Entries')}")


def rollback(
    clients: AwsClients,
    target: Target,
    *,
    confirm: Callable[[str], bool] | None,
    request_token: str,
    timeout_minutes: int = 60,
    waiter_delay_seconds: int = WAITER_DELAY_SECONDS,
) -> str:
    """Roll back and return what was done. `confirm` None means confirmed (--yes).

    Raises RollbackRefused before any change, RollbackFailed after the update was attempted.
    """
    check_package_arn(target.package_arn)
    caller = caller_identity(clients.sts)
    package = check_package(clients.sagemaker, target.package_arn, target.model)
    stack = updatable_serving_stack(clients.cloudformation, target.stack_name)
    if stack.champion == target.package_arn and not stack.challenger:
        return f"{stack.name} already serves {target.package_arn} alone: nothing to change"
    clarify = clarify_of(clients.s3, stack, target.package_arn, package)
    change = describe_change(stack, target, caller)
    if confirm is not None and not confirm(change):
        raise RollbackRefused("declined: nothing changed")
    clarify.write(clients.monitoring_writer, kms_key_arn=stack.parameters.get(KMS_KEY_PARAMETER) or None)
    update_stack(
        clients.cloudformation,
        stack,
        target.package_arn,
        baselines=champion_baselines(package, clarify),
        request_token=request_token,
        timeout_minutes=timeout_minutes,
        waiter_delay_seconds=waiter_delay_seconds,
    )
    try:
        put_audit_event(clients.events, target, stack, caller, request_token=request_token)
    except (ClientError, BotoCoreError, RollbackFailed) as error:
        raise RollbackFailed(
            f"{stack.name} now serves {target.package_arn} alone, but the audit event could not be put on "
            f"{target.audit_bus_name}: {error}. Record the rollback by hand."
        ) from error
    return f"{stack.name} now serves {target.package_arn} alone (audit event on {target.audit_bus_name})"


def ask(change: str) -> bool:
    """Show the change and read a yes; anything else, end of input included, is a no."""
    print(change)
    try:
        answer = input("Proceed? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _model_name(text: str) -> str:
    if not MODEL_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a model name (lower-case letters, digits, single hyphens)")
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.rollback",
        description="Roll a model's serving stack back to one approved model package, served alone as champion.",
    )
    parser.add_argument("--model", required=True, type=_model_name, help="model name, as in config/platform.yaml")
    parser.add_argument("--package-arn", required=True, help="ARN of the approved model package to serve")
    parser.add_argument("--platform-name", help="platform name (default: `name` in config/platform.yaml)")
    parser.add_argument("--stage", choices=STAGES, default="production", help="default: production")
    parser.add_argument("--region", help="AWS region (default: `environment.region` in config/platform.yaml)")
    parser.add_argument(
        "--timeout-minutes", type=_positive_int, default=60, help="how long to wait for the update (default 60)"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_serving_arguments(parser)
    return parser.parse_args(argv)


RETRIES = Config(retries={"mode": "standard"})
# The session name of --serving-role-arn, as CloudTrail shows it in the serving account.
SESSION_NAME = "mlops-rollback"


def make_clients(region: str | None) -> AwsClients:
    session = boto3.Session(region_name=region)
    return AwsClients(
        cloudformation=session.client("cloudformation", config=RETRIES),
        sagemaker=session.client("sagemaker", config=RETRIES),
        events=session.client("events", config=RETRIES),
        sts=session.client("sts", config=RETRIES),
        s3=session.client("s3", config=RETRIES),
    )


def in_serving_account(clients: AwsClients, serving: boto3.Session | None) -> AwsClients:
    """`clients` with the serving stack and its monitoring output reached through `serving` (None: as they are)."""
    if serving is None:
        return clients
    return replace(
        clients,
        cloudformation=serving.client("cloudformation", config=RETRIES),
        serving_s3=serving.client("s3", config=RETRIES),
    )


def new_request_token() -> str:
    """Marks the stack events of this update (to find its failure reasons) and its audit event."""
    return f"rollback-{uuid.uuid4()}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    platform_name, region = args.platform_name, args.region
    if platform_name is None or region is None:
        try:
            config = load_config()
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        configured_models = [model.name for model in config.models]
        if args.model not in configured_models:
            print(f"error: model {args.model!r} is not in the configuration: {configured_models}", file=sys.stderr)
            return EXIT_USAGE
        platform_name = platform_name or config.name
        region = region or config.environment.region
    target = Target(platform_name=platform_name, model=args.model, stage=args.stage, package_arn=args.package_arn)
    try:
        serving = cli_serving_session(args, region_name=region, session_name=SESSION_NAME)
    except BotoCoreError as error:  # an unknown profile, or one without credentials
        print(f"error: the serving account cannot be reached: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        done = rollback(
            in_serving_account(make_clients(region), serving),
            target,
            confirm=None if args.yes else ask,
            request_token=new_request_token(),
            timeout_minutes=args.timeout_minutes,
        )
    except RollbackRefused as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_FAILED
    except RollbackFailed as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(done)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
