"""Synthesizing a serving template inside the app's synthesis, in an app of its own.

Nothing of the model's name, its gate's threshold or its inference instance type enters the template
(they are the template's `MODEL_NAME_PARAMETER`, `METRIC_THRESHOLD_PARAMETER` and
`INFERENCE_INSTANCE_TYPE_PARAMETER`), so they may be tokens of the calling app (a SageMaker Projects
product's parameters): the rendered stack's id and description are the platform's and the stage's only.
"""

from __future__ import annotations

import tempfile
from typing import Any

from aws_cdk import App as CdkApp
from aws_cdk import BootstraplessSynthesizer, Environment

from config.schema import ModelConfig
from lambdas.common.contracts import Stage
from mlops_constructs.compliance import add_compliance_checks
from mlops_constructs.serving.template import ServingTemplateStack


def render_serving_template(
    *,
    platform_name: str,
    model: ModelConfig,
    stage: Stage,
    monitored_features: list[str],
    env: Environment,
    context: dict[str, Any],
) -> dict[str, Any]:
    """Synthesize one stage's serving template in an app of its own, compliance checks included."""
    # An output directory of its own: under the CDK CLI, CDK_OUTDIR would point it at the main app's.
    with tempfile.TemporaryDirectory(prefix="serving-template-") as outdir:
        app = CdkApp(context=context, analytics_reporting=False, outdir=outdir)
        stack = ServingTemplateStack(
            app,
            # Not the deployed stack's name (the deploy pipeline names that): a literal for any model.
            f"{platform_name}-serving-{stage}",
            platform_name=platform_name,
            model=model,
            stage=stage,
            monitored_features=monitored_features,
            env=env,
            synthesizer=BootstraplessSynthesizer(),
            description=f"Serving of one model of {platform_name} in {stage}, deployed by its deploy pipeline",
        )
        add_compliance_checks(app)
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template
