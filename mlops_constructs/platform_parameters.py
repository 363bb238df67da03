"""The platform's shared values, published in SSM Parameter Store for what this app does not deploy.

A SageMaker Projects product or a stack in another account cannot import the governance stack's
CloudFormation exports (exports are per account and region, and an imported export blocks every
change of its value); they read `/<platform>/platform/<key>` instead, at deploy time (a product's
template through parameters of type `AWS::SSM::Parameter::Value<String>` pinned to these names:
CloudFormation resolves at most 60 `{{resolve:ssm:...}}` references per template). The keys are the
contract `lambdas.common.contracts.PLATFORM_PARAMETERS`; every one of them is published, by the stack
that owns the value (the approval stack its gate's role, the governance stack the rest).
"""

from __future__ import annotations

from aws_cdk import aws_ssm as ssm
from constructs import Construct

from lambdas.common.contracts import PLATFORM_PARAMETERS, platform_parameter_name


def publish_platform_values(
    scope: Construct, *, platform_name: str, values: dict[str, str]
) -> dict[str, ssm.StringParameter]:
    """One String parameter per platform value; `values` must name keys of the contract only (the stack
    that owns a value publishes it; tests/unit/test_platform_parameters.py checks the app publishes all)."""
    unknown = set(values) - set(PLATFORM_PARAMETERS)
    if unknown or not values:
        raise ValueError(f"platform values: unknown {sorted(unknown)}; publish some of {sorted(PLATFORM_PARAMETERS)}")
    group = Construct(scope, "PlatformParameters")
    return {
        key: ssm.StringParameter(
            group,
            "".join(part.capitalize() for part in key.split("-")),
            parameter_name=platform_parameter_name(platform_name, key),
            string_value=values[key],
            description=f"{PLATFORM_PARAMETERS[key].capitalize()} (platform '{platform_name}')",
        )
        for key in PLATFORM_PARAMETERS
        if key in values
    }
