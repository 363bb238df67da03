"""A model registers itself with the platform: one SSM parameter that says what the approval gate needs.

The stack that deploys a model writes `/<platform>/models/<model package group>` (a String parameter,
contracts.model_registration_parameter) whose value is the JSON the gate needs to gate that group:

    {"model_name": "demand", "deploy_pipeline_name": "<the deploy pipeline>", "metric_name": "rmse",
     "threshold": 12.0, "metric_direction": "lower_is_better", "serving_mode": "realtime",
     "production_serving_name": "mlops-demand-production", "bias_policy": "none"}

The gate (lambdas/approval_gate) reads it when one of the group's packages is approved or rejected; a
group without one is not the platform's, and its packages are ignored. So a model joins the gate by
being deployed, with no edit of the gate's configuration.

Why an SSM parameter, and not tags on the model package group or a DynamoDB table:
- Who may write it. Only the model's own stack writes it (CloudFormation, with its role). A group's
  tags can be changed by whoever may tag its packages (a data scientist's role, the build), and what
  they would say (which pipeline to start, which threshold to hold) is exactly what those people must
  not be able to change.
- Every entry point writes it the same way, without code: a model declared in config (this
  construct in its deploy stack), a SageMaker Project product (the same construct in the product's
  template), a model deployed from another account's pipeline: a resource in a template, nothing to
  call at deploy time, no table schema to share.
- It is versioned, and each change is in CloudTrail: what the gate believed about a model at a given
  time can be found out.
- Nothing to run: no table, no capacity, no backup; the gate reads one parameter by name.

The registration is configuration, not data: it goes with the stack (deleting the model's deploy
stack unregisters it, and the gate then ignores its packages).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from lambdas.common.contracts import BiasPolicy, Direction, ServingMode, model_registration_parameter


class ModelRegistration(Construct):
    """The SSM parameter registering one model package group with the platform's approval gate.

    Values may be tokens (a SageMaker Project product passes its template's parameters).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        model_package_group_name: str,
        model_name: str,
        metric_name: str,
        threshold: float,
        metric_direction: Direction,
        serving_mode: ServingMode,
        bias_policy: BiasPolicy,
        deploy_pipeline: codepipeline.IPipeline,
        production_serving_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.parameter_name = model_registration_parameter(platform_name, model_package_group_name)
        self.parameter = ssm.StringParameter(
            self,
            "Parameter",
            parameter_name=self.parameter_name,
            # Registry names are paths ("/<platform>/models/<group>"), also when the group is a token.
            simple_name=False,
            string_value=Stack.of(self).to_json_string(
                {
                    "model_name": model_name,
                    "deploy_pipeline_name": deploy_pipeline.pipeline_name,
                    "metric_name": metric_name,
                    "threshold": threshold,
                    "metric_direction": metric_direction,
                    "serving_mode": serving_mode,
                    "production_serving_name": production_serving_name,
                    "bias_policy": bias_policy,
                }
            ),
            description=f"Registers model '{model_name}' with the platform's approval gate",
            tier=ssm.ParameterTier.STANDARD,
        )
