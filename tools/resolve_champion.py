"""Champion resolution: which packages production serves after this deployment, and the baselines to monitor.

    python -m tools.resolve_champion --stack-name S (--endpoint-name E | --replace) --new-package-arn ARN
                                     --output champion.env [--monitoring-output-s3-uri URI]
                                     [--kms-key-arn ARN] [--region R]

Run by the deploy pipeline's Production stage (CodeBuild, from the deploy bundle: this module, and
`lambdas/common/{accounts,contracts,errors,serving_state}.py`, with nothing but boto3 installed) right before the
production stack is deployed. It reads who serves now (`lambdas.common.serving_state`: the production
stack's package parameters and the endpoint's current weights) and decides:

- production has no stack yet, no champion, or its champion is the new package: the new package is
  the champion, alone;
- otherwise the current champion stays champion (the challenger it had, if the traffic shift promoted
  it: `who_serves`) and the new package is its challenger, replacing any challenger on trial;
- with `--replace` (a batch model: no endpoint, no A/B) the new package replaces the champion; the
  stack is still read, so that one CloudFormation would not update stops here.

The baselines are the champion package's (`lambdas.common.serving_state.champion_baselines`): its
data-quality baseline, and its Clarify explainability and bias baselines, each empty when the package
registered none (the template then creates no monitor of that kind). The explainability monitor runs
not the package's analysis config but one written for this deployment, naming the model Clarify
explains (`serving_state.clarify_deployment`): it goes to `--monitoring-output-s3-uri` (the deploy
pipeline's monitoring output, `contracts.clarify_config_uri`), encrypted with `--kms-key-arn`; both
default to the environment (`contracts.MONITORING_OUTPUT_VARIABLE`, `contracts.MONITORING_KEY_VARIABLE`),
where the deploy pipeline sets them. Clarify's monitors find the features of a captured JSON request by
the names the package's config gives them (CLARIFY_FEATURES, "" for CSV requests).

It writes `export NAME=value` lines (`contracts.CHAMPION_VARIABLES`: CHAMPION_ARN, CHALLENGER_ARN, a
variable per baseline and CLARIFY_FEATURES) to `--output`, which the buildspec sources so CodeBuild
exports them to the pipeline, and prints what it decided.

Any failure to read AWS fails the action (exit 1), except the one answer that means "nothing there
yet": the production stack does not exist. So does a production stack CloudFormation would not update
now (an operation in progress, a failed state), with the reason and what to do. An unreadable production must never read as an empty one:
the new package would then be deployed as the only champion and the serving champion dropped. So does
a champion whose Clarify baselines production's monitors could not run (the reason is printed).

Exit status: 0 resolved, 1 AWS could not be read or the champion cannot be monitored (nothing
exported), 2 bad arguments.

Production may serve in its own account (`environment.deployment_accounts`): the deploy pipeline then
sets SERVING_ROLE_ARN (`contracts.SERVING_ROLE_ARN_ENV`) to the model's ops role there, and what serves is
read, and the explainability config written, as that role (`lambdas.common.accounts`); the packages and
their Clarify configs are read in this (the tooling) account. A refused AssumeRole fails the action
naming the role. Unset or empty: everything is in this account.

IAM: cloudformation:DescribeStacks on the production stack, sagemaker:DescribeEndpoint on the
production endpoint (not with --replace), sagemaker:DescribeModelPackage on the model's packages,
s3:GetObject on the packages' Clarify analysis configs, s3:PutObject under the monitoring output's
`contracts.CLARIFY_CONFIGS_FOLDER`, and the platform key (decrypt and generate data keys). With
SERVING_ROLE_ARN: sts:AssumeRole on it, and the role grants the production stack's, the endpoint's and
the monitoring output's permissions above (and its key's, kms:GenerateDataKey).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.accounts import serving_role_arn, serving_session
from lambdas.common.contracts import (
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_PARAMETERS,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    CHAMPION_VARIABLES,
    EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER,
    MONITORING_KEY_VARIABLE,
    MONITORING_OUTPUT_VARIABLE,
    NO_CHALLENGER,
    PACKAGE_ARN,
)
from lambdas.common.serving_state import (
    ChampionNotMonitorable,
    ClarifyDeployment,
    Serving,
    champion_baselines,
    clarify_deployment,
    not_updatable,
    read_serving_stack,
    read_variant_weights,
    who_serves,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The CodeBuild exported variables, in the order the buildspec declares them.
EXPORTED = tuple(CHAMPION_VARIABLES)
# The session name of the serving role, as CloudTrail shows it in the serving account.
SESSION_NAME = "resolve-champion"


@dataclass(frozen=True)
class Resolution:
    champion: str
    challenger: str  # NO_CHALLENGER for none
    # The champion's baselines, by template parameter (contracts.BASELINE_PARAMETERS; "" for none), and
    # where Clarify finds the features (CLARIFY_FEATURES_PARAMETER).
    baselines: Mapping[str, str]
    reason: str
    # What production's Clarify monitors need of this deployment (the explainability config to write).
    clarify: ClarifyDeployment = field(default_factory=ClarifyDeployment)

    def variables(self) -> dict[str, str]:
        """The exported variables, by the template parameter each one sets."""
        values = {CHAMPION_PARAMETER: self.champion, CHALLENGER_PARAMETER: self.challenger, **self.baselines}
        return {variable: values[parameter] for variable, parameter in CHAMPION_VARIABLES.items()}

    def monitored(self) -> str:
        """Which of the champion's baselines production is monitored against, in words."""
        present = [parameter for parameter in BASELINE_PARAMETERS if self.baselines.get(parameter)]
        return ", ".join(present) or "none"


@dataclass(frozen=True)
class AwsClients:
    """`cloudformation` reads the production stack; `sagemaker` and `s3` the packages and their Clarify
    configs. Where production serves in another account, `serving_sagemaker` reads its endpoint and
    `serving_s3` writes to its monitoring output (None: `sagemaker` and `s3` do)."""

    cloudformation: Any
    sagemaker: Any
    s3: Any
    serving_sagemaker: Any = None
    serving_s3: Any = None

    @property
    def endpoint_reader(self) -> Any:
        return self.serving_sagemaker or self.sagemaker

    @property
    def monitoring_writer(self) -> Any:
        return self.serving_s3 or self.s3


class ProductionNotUpdatable(Exception):
    """The production stack exists but cannot be deployed over now; the message says why and what to do."""


def current_serving(cloudformation: Any, sagemaker: Any, stack_name: str, endpoint_name: str | None) -> Serving | None:
    """Who production serves now, or None when it has no stack yet (without an endpoint: its stack's champion).

    A stack CloudFormation would refuse to update (an operation in progress, a failed state) stops
    here with the reason, rather than later in the deploy action with a less helpful one.
    """
    stack = read_serving_stack(cloudformation, stack_name)
    if stack is None:
        return None
    problem = not_updatable(stack)
    if problem is not None:
        raise ProductionNotUpdatable(f"production stack {stack_name} is {stack.status}: {problem}")
    if endpoint_name is None:
        return Serving(champion=stack.champion or None, challenger=None)
    return who_serves(stack, read_variant_weights(sagemaker, endpoint_name))


def decide(serving: Serving | None, new_package_arn: str, *, replace: bool = False) -> tuple[str, str, str]:
    """(champion, challenger, why) after deploying `new_package_arn` (`replace`: it takes the champion's place)."""
    if replace and serving is not None and serving.champion not in (None, new_package_arn):
        return new_package_arn, NO_CHALLENGER, f"the new package replaces champion {serving.champion}"
    if serving is None:
        return new_package_arn, NO_CHALLENGER, "production has no stack yet: the new package is the first champion"
    if serving.champion is None:
        return new_package_arn, NO_CHALLENGER, "production has no champion: the new package is the champion"
    if serving.champion == new_package_arn:
        return new_package_arn, NO_CHALLENGER, "the new package is the champion already: served alone"
    replaced = f", replacing challenger {serving.challenger}" if serving.challenger else ""
    return serving.champion, new_package_arn, f"the new package is challenger of champion {serving.champion}{replaced}"


def resolve(
    clients: AwsClients,
    *,
    stack_name: str,
    endpoint_name: str | None,
    new_package_arn: str,
    monitoring_output_s3_uri: str,
) -> Resolution:
    """Raises ClientError/BotoCoreError when AWS cannot be read (except a production stack that does not
    exist), ChampionNotMonitorable when the champion's Clarify baselines cannot be run.

    Without an endpoint (a batch model) the new package replaces the champion. The production stack's
    name is its serving name (contracts.serving_name), which names what Clarify serves the champion as.
    """
    serving = current_serving(clients.cloudformation, clients.endpoint_reader, stack_name, endpoint_name)
    champion, challenger, reason = decide(serving, new_package_arn, replace=endpoint_name is None)
    package = clients.sagemaker.describe_model_package(ModelPackageName=champion)
    clarify = clarify_deployment(
        clients.s3,
        package,
        package_arn=champion,
        serving_name=stack_name,
        monitoring_output_s3_uri=monitoring_output_s3_uri,
    )
    baselines = champion_baselines(package, clarify)
    return Resolution(champion=champion, challenger=challenger, baselines=baselines, reason=reason, clarify=clarify)


def render_exports(variables: Mapping[str, str]) -> str:
    """`export NAME=value` lines, shell-quoted (values come from AWS answers)."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


def _package_arn(text: str) -> str:
    if not PACKAGE_ARN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a versioned model package ARN")
    return text


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.resolve_champion", description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", required=True, help="the production serving stack")
    serving = parser.add_mutually_exclusive_group(required=True)
    serving.add_argument("--endpoint-name", help="the production endpoint (a real-time model)")
    serving.add_argument("--replace", action="store_true", help="a batch model: the new package replaces the champion")
    parser.add_argument("--new-package-arn", required=True, type=_package_arn, help="the package being deployed")
    parser.add_argument("--output", required=True, type=Path, help="file to write the export lines to")
    # The deploy pipeline sets these in the environment (its buildspec passes only the packages).
    for option, variable, what in (
        ("--monitoring-output-s3-uri", MONITORING_OUTPUT_VARIABLE, "where production's monitors write"),
        ("--kms-key-arn", MONITORING_KEY_VARIABLE, "the platform key, for the explainability config written"),
    ):
        default = os.environ.get(variable)
        parser.add_argument(option, default=default, required=default is None, help=f"{what} (default: ${variable})")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    return parser.parse_args(argv)


def make_clients(region: str | None, role_arn: str | None = None) -> AwsClients:
    """This account's clients, and what serves through `role_arn`'s session (None: this account's)."""
    session = boto3.Session(region_name=region)
    serving = serving_session(role_arn, session_name=SESSION_NAME, region_name=region, base=session)
    retries = Config(retries={"mode": "standard", "max_attempts": 5})
    elsewhere = serving is not session
    return AwsClients(
        cloudformation=serving.client("cloudformation", config=retries),
        sagemaker=session.client("sagemaker", config=retries),
        s3=session.client("s3", config=retries),
        serving_sagemaker=serving.client("sagemaker", config=retries) if elsewhere else None,
        serving_s3=serving.client("s3", config=retries) if elsewhere else None,
    )


def main(argv: Sequence[str] | None = None, *, clients: AwsClients | None = None) -> int:
    args = parse_args(argv)
    try:
        clients = clients or make_clients(args.region, serving_role_arn())
        resolution = resolve(
            clients,
            stack_name=args.stack_name,
            endpoint_name=args.endpoint_name,
            new_package_arn=args.new_package_arn,
            monitoring_output_s3_uri=args.monitoring_output_s3_uri,
        )
        resolution.clarify.write(clients.monitoring_writer, kms_key_arn=args.kms_key_arn)
    except (ClientError, BotoCoreError) as error:
        print(f"error: could not read what production serves, so nothing is deployed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (ProductionNotUpdatable, ChampionNotMonitorable) as error:
        print(f"error: {error}; nothing is deployed", file=sys.stderr)
        return EXIT_FAILED
    args.output.write_text(render_exports(resolution.variables()))
    print(resolution.reason)
    print(
        f"champion={resolution.champion} challenger={resolution.challenger or 'none'} "
        f"baseline={resolution.baselines[BASELINE_CONSTRAINTS_PARAMETER] or 'none'} "
        f"baselines={resolution.monitored()}"
    )
    if resolution.clarify.explainability_config is not None:
        print(f"explainability config={resolution.baselines[EXPLAINABILITY_ANALYSIS_CONFIG_PARAMETER]}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
