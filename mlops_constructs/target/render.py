"""Synthesizing a project-created model's roles template inside the app's synthesis, in an app of its own.

Nothing of the model's name enters the template (it is the template's `MODEL_NAME_PARAMETER`), so it may
be a token of the calling app (a SageMaker Projects product's parameter): the rendered stack's id and
description are the platform's and the stage's only.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from aws_cdk import App as CdkApp
from aws_cdk import BootstraplessSynthesizer, Environment

from config.schema import ModelConfig
from lambdas.common.contracts import STAGE_CODES
from mlops_constructs.accounts import ServingAccount
from mlops_constructs.compliance import add_compliance_checks
from mlops_constructs.target.roles_template import ModelRolesTemplateStack

# What CloudFormation takes as a StackSet's TemplateBody; a larger template goes by TemplateURL.
TEMPLATE_BODY_MAX_BYTES = 51_200


def render_model_roles_template(
    *, account: ServingAccount, model: ModelConfig, context: dict[str, Any]
) -> dict[str, Any]:
    """Synthesize one stage account's roles template of a model in an app of its own, compliance checks
    included (any unacknowledged finding fails the synthesis)."""
    # An output directory of its own: under the CDK CLI, CDK_OUTDIR would point it at the main app's.
    with tempfile.TemporaryDirectory(prefix="model-roles-template-") as outdir:
        app = CdkApp(context=context, analytics_reporting=False, outdir=outdir)
        stack = ModelRolesTemplateStack(
            app,
            f"{account.platform_name}-model-roles-{STAGE_CODES[account.stage]}",
            account=account,
            model=model,
            env=Environment(account=account.account, region=account.region),
            synthesizer=BootstraplessSynthesizer(),
            description=f"One model's roles of {account.platform_name} in the {account.stage} account,"
            " deployed by its project's StackSet",
        )
        add_compliance_checks(app)
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def model_roles_template_body(template: dict[str, Any]) -> str:
    """`template` as a StackSet's TemplateBody (compact JSON); refused past CloudFormation's limit."""
    body = json.dumps(template, separators=(",", ":"))
    if len(body.encode()) > TEMPLATE_BODY_MAX_BYTES:
        raise ValueError(
            f"the roles template takes {len(body.encode())} bytes, over a TemplateBody's {TEMPLATE_BODY_MAX_BYTES}"
        )
    return body
