"""Serving templates are rendered once per distinct template in a process (mlops_constructs/serving/render.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Environment, Stack

from config.schema import CodeConnectionsSource, PlatformConfig
from lambdas.common.contracts import STAGES
from mlops_constructs.serving import render
from tests.conftest import cdk_json_context

ENV = Environment(account="123456789012", region="eu-west-1")


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each rendering asked of the uncached function (a stand-in: what is cached is tested, not CDK)."""
    calls: list[dict[str, Any]] = []

    def fake_render(**arguments: Any) -> dict[str, Any]:
        calls.append(arguments)
        return {"Resources": {"Rendered": {"Type": "AWS::SNS::Topic", "Properties": {"n": len(calls)}}}}

    monkeypatch.setattr(render, "render_serving_template", fake_render)
    monkeypatch.setattr(render, "_RENDERED", {})
    return calls


def _template(config: PlatformConfig, **changes: Any) -> dict[str, Any]:
    model = config.models[0]
    stage = changes.pop("stage", "production")
    model = model.model_copy(update=changes)
    return render.serving_template(
        platform_name="mlops",
        model=model,
        stage=stage,
        monitored_features=config.monitored_features(config.models[0]),
        env=ENV,
        context=cdk_json_context(),
    )


def test_models_differing_only_in_the_templates_parameters_share_one_rendering(
    default_config: PlatformConfig, renders: list[dict[str, Any]]
) -> None:
    model = default_config.models[0]
    first = _template(default_config)
    again = _template(
        default_config,
        name="other-model",
        metric=model.metric.model_copy(update={"threshold": 0.9}),
        instance_types=model.instance_types.model_copy(update={"inference": "ml.c5.xlarge"}),
    )
    assert len(renders) == 1
    assert first == again

    def product_template(product: Stack) -> dict[str, Any]:
        """What a SageMaker Projects product renders: its model's settings are its parameters' tokens."""
        return _template(
            default_config,
            name=CfnParameter(product, "SageMakerProjectName").value_as_string,
            metric=model.metric.model_copy(
                update={"threshold": CfnParameter(product, "MetricThreshold", type="Number").value_as_number}
            ),
            instance_types=model.instance_types.model_copy(
                update={"training": CfnParameter(product, "TrainingInstanceType").value_as_string}
            ),
        )

    # Another product's tokens are other tokens: still one rendering for both (a token is never in it).
    product_template(Stack(App(), "Product"))
    product_template(Stack(App(), "OtherProduct"))
    assert len(renders) == 2


def test_anything_else_renders_anew(default_config: PlatformConfig, renders: list[dict[str, Any]]) -> None:
    model = default_config.models[0]
    assert model.variants is not None
    _template(default_config)
    _template(default_config, stage="staging")
    _template(
        default_config, variants=model.variants.model_copy(update={"champion_percent": 80, "challenger_percent": 20})
    )
    _template(default_config, instance_types=model.instance_types.model_copy(update={"training": "ml.m5.xlarge"}))
    assert len(renders) == 4
    assert [call["stage"] for call in renders] == ["production", "staging", "production", "production"]


def test_each_caller_gets_a_copy_of_its_own(default_config: PlatformConfig, renders: list[dict[str, Any]]) -> None:
    first = _template(default_config)
    first["Resources"].clear()
    assert _template(default_config)["Resources"] == {"Rendered": {"Type": "AWS::SNS::Topic", "Properties": {"n": 1}}}
    assert len(renders) == 1


@pytest.mark.parametrize("stage", STAGES)
def test_where_the_code_lives_is_not_in_the_serving_template(default_config: PlatformConfig, stage: Any) -> None:
    """Why the rendering's key leaves the source out: rendered for real, a model on a Git host serves
    exactly as the same model on CodeCommit does."""
    model = default_config.models[0]
    on_a_git_host = model.model_copy(
        update={
            "source": CodeConnectionsSource(
                provider="codeconnections",
                connection_arn="arn:aws:codeconnections:eu-west-1:123456789012:connection/0f4c8e2a-5b7d-4e1a-9c3f-2d6b8a1e7f90",
                repository="acme/churn",
                branch="main",
            )
        }
    )

    def rendered(candidate: Any) -> dict[str, Any]:
        return render.render_serving_template(
            platform_name="mlops",
            model=candidate,
            stage=stage,
            monitored_features=default_config.monitored_features(model),
            env=ENV,
            context=cdk_json_context(),
        )

    assert rendered(on_a_git_host) == rendered(model)
