"""Synthesizing a serving template inside the app's synthesis, in an app of its own.

Nothing of the model's name, its gate's threshold or its inference instance type enters the template
(they are the template's `MODEL_NAME_PARAMETER`, `METRIC_THRESHOLD_PARAMETER` and
`INFERENCE_INSTANCE_TYPE_PARAMETER`), so they may be tokens of the calling app (a SageMaker Projects
product's parameters): the rendered stack's id and description are the platform's and the stage's only.

`serving_template` renders each distinct template once per process: models that differ only in those
three, in their source repository, or in values that are tokens of the calling app (which cannot enter
another app's template) share one rendering. Synthesizing the serving templates is a third of a model's synthesis time.
"""

from __future__ import annotations

import copy
import json
import tempfile
from typing import Any

from aws_cdk import App as CdkApp
from aws_cdk import BootstraplessSynthesizer, Environment, Token

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


# What stands for the values that are the template's parameters, and for any token, in a rendering's key.
_PARAMETER, _TOKEN = "<parameter>", "<token>"
# Each rendering, by its key (`_key`), for the life of the process.
_RENDERED: dict[str, dict[str, Any]] = {}


def serving_template(
    *,
    platform_name: str,
    model: ModelConfig,
    stage: Stage,
    monitored_features: list[str],
    env: Environment,
    context: dict[str, Any],
) -> dict[str, Any]:
    """`render_serving_template`, rendered once per distinct template in this process (a copy each call)."""
    key = _key(platform_name, model, stage, monitored_features, env, context)
    if key not in _RENDERED:
        _RENDERED[key] = render_serving_template(
            platform_name=platform_name,
            model=model,
            stage=stage,
            monitored_features=monitored_features,
            env=env,
            context=context,
        )
    return copy.deepcopy(_RENDERED[key])


def _key(
    platform_name: str,
    model: ModelConfig,
    stage: Stage,
    monitored_features: list[str],
    env: Environment,
    context: dict[str, Any],
) -> str:
    """Everything a rendering depends on, with the template's parameters (name, threshold, inference
    instance type) and tokens of the calling app replaced by placeholders, and without the model's source."""
    settings = model.model_dump(mode="json")
    settings["name"] = _PARAMETER
    settings["metric"]["threshold"] = _PARAMETER
    settings["instance_types"]["inference"] = _PARAMETER
    # Where the model's code lives is the build's: nothing of it serves (tests/unit/test_serving_cache.py).
    settings.pop("source")
    return json.dumps(
        _without_tokens(
            {
                "platform": platform_name,
                "model": settings,
                "stage": stage,
                "features": monitored_features,
                "env": [env.account, env.region],
                "context": context,
            }
        ),
        sort_keys=True,
    )


def _without_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_tokens(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_tokens(item) for item in value]
    if isinstance(value, str | int | float) and not isinstance(value, bool) and Token.is_unresolved(value):
        return _TOKEN
    return value
