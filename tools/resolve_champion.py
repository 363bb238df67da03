"""Champion resolution: which packages production serves after this deployment, and the baselines to monitor.

    python -m tools.resolve_champion --stack-name S (--endpoint-name E | --replace) --new-package-arn ARN
                                     --output champion.env [--region R]

Run by the deploy pipeline's Production stage (CodeBuild, from the deploy bundle: this module, and
`lambdas/common/{contracts,serving_state}.py`, with nothing but boto3 installed) right before the
production stack is deployed. It reads who serves now (`lambdas.common.serving_state`: the production
stack's package parameters and the endpoint's current weights) and decides:

- production has no stack yet, no champion, or its champion is the new package: the new package is
  the champion, alone;
- otherwise the current champion stays champion (the challenger it had, if the traffic shift promoted
  it: `who_serves`) and the new package is its challenger, replacing any challenger on trial;
- with `--replace` (a batch model: no endpoint, no A/B) the new package replaces the champion; the
  stack is still read, so that one CloudFormation would not update stops here.

The baselines are the champion package's (`lambdas.common.serving_state.package_baselines`): its
data-quality baseline, and its Clarify explainability and bias baselines, each empty when the package
registered none (the template then creates no monitor of that kind).

It writes `export NAME=value` lines (`contracts.CHAMPION_VARIABLES`: CHAMPION_ARN, CHALLENGER_ARN and
a variable per baseline) to `--output`, which the buildspec sources so CodeBuild exports them to the
pipeline, and prints what it decided.

Any failure to read AWS fails the action (exit 1), except the one answer that means "nothing there
yet": the production stack does not exist. So does a production stack CloudFormation would not update
now (an operation in progress, a failed state), with the reason and what to do. An unreadable production must never read as an empty one:
the new package would then be deployed as the only champion and the serving champion dropped.

Exit status: 0 resolved, 1 AWS could not be read (nothing written), 2 bad arguments.

IAM: cloudformation:DescribeStacks on the production stack, sagemaker:DescribeEndpoint on the
production endpoint (not with --replace), sagemaker:DescribeModelPackage on the model's packages.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.contracts import (
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_PARAMETERS,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    CHAMPION_VARIABLES,
    NO_CHALLENGER,
    PACKAGE_ARN,
)
from lambdas.common.serving_state import (
    Serving,
    not_updatable,
    package_baselines,
    read_serving_stack,
    read_variant_weights,
    who_serves,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The CodeBuild exported variables, in the order the buildspec declares them.
EXPORTED = tuple(CHAMPION_VARIABLES)


@dataclass(frozen=True)
class Resolution:
    champion: str
    challenger: str  # NO_CHALLENGER for none
    # The champion's baselines, by template parameter (contracts.BASELINE_PARAMETERS; "" for none).
    baselines: Mapping[str, str]
    reason: str

    def variables(self) -> dict[str, str]:
        """The exported variables, by the template parameter each one sets."""
        values = {CHAMPION_PARAMETER: self.champion, CHALLENGER_PARAMETER: self.challenger, **self.baselines}
        return {variable: values[parameter] for variable, parameter in CHAMPION_VARIABLES.items()}

    def monitored(self) -> str:
        """Which of the champion's baselines production is monitored against, in words."""
        present = [parameter for parameter in BASELINE_PARAMETERS if self.baselines.get(parameter)]
        return ", ".join(present) or "none"


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
    cloudformation: Any, sagemaker: Any, *, stack_name: str, endpoint_name: str | None, new_package_arn: str
) -> Resolution:
    """Raises ClientError/BotoCoreError when AWS cannot be read (except a production stack that does not exist).

    Without an endpoint (a batch model) the new package replaces the champion.
    """
    serving = current_serving(cloudformation, sagemaker, stack_name, endpoint_name)
    champion, challenger, reason = decide(serving, new_package_arn, replace=endpoint_name is None)
    baselines = package_baselines(sagemaker.describe_model_package(ModelPackageName=champion))
    return Resolution(champion=champion, challenger=challenger, baselines=baselines, reason=reason)


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
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, clients: tuple[Any, Any] | None = None) -> int:
    args = parse_args(argv)
    if clients is None:
        session = boto3.Session(region_name=args.region)
        retries = Config(retries={"mode": "standard", "max_attempts": 5})
        clients = (session.client("cloudformation", config=retries), session.client("sagemaker", config=retries))
    cloudformation, sagemaker = clients
    try:
        resolution = resolve(
            cloudformation,
            sagemaker,
            stack_name=args.stack_name,
            endpoint_name=args.endpoint_name,
            new_package_arn=args.new_package_arn,
        )
    except (ClientError, BotoCoreError) as error:
        print(f"error: could not read what production serves, so nothing is deployed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except ProductionNotUpdatable as error:
        print(f"error: {error}; nothing is deployed", file=sys.stderr)
        return EXIT_FAILED
    args.output.write_text(render_exports(resolution.variables()))
    print(resolution.reason)
    print(
        f"champion={resolution.champion} challenger={resolution.challenger or 'none'} "
        f"baseline={resolution.baselines[BASELINE_CONSTRAINTS_PARAMETER] or 'none'} "
        f"baselines={resolution.monitored()}"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
