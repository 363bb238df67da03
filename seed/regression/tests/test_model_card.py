"""jobs/model_card.py: every package's model card, from the settings and the build's reports."""

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from sagemaker.core.shapes.model_card_shapes import ModelCardContent

import evaluate
import model_card
from workflow.config import ModelConfig, RiskRating
from workflow.registration import MAX_CONTAINER_ARGUMENT, json_arguments

LINEAGE = model_card.Lineage(
    training_data="s3://mlops-artifacts-test/demand/data/raw/4f2c9e1d/",
    source_commit="4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
    training_job_arn="arn:aws:sagemaker:eu-west-1:123456789012:training-job/demand-train-2026",
    model_artifact="s3://mlops-artifacts-test/demand/models/demand-train-2026/output/model.tar.gz",
)
EVALUATION = {
    "regression_metrics": {
        name: {"value": value, "standard_deviation": "NaN"}
        for name, value in {"rmse": 7.1, "mae": 4.8, "mse": 50.41, "r2": 0.92}.items()
    }
}
# Clarify's analysis.json of each check, as it writes them for the example model.
EXPLAINABILITY = {
    "version": "1.0",
    "explanations": {
        "kernel_shap": {
            "label0": {
                "global_shap_values": {
                    "price": 3.1,
                    "promotion": 6.4,
                    "week_of_year": 2.2,
                    "store_size_sqm": 4.0,
                    "holiday": 1.1,
                    "category": 2.9,
                    "units_last_week": 14.8,
                },
                "expected_value": 40.2,
            }
        }
    },
}


def bias_report(stage: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "1.0",
        f"{stage}_bias_metrics": {
            "label": "units_sold",
            "label_value_or_threshold": "(34.0, 227.2]",
            "facets": {
                "holiday": [
                    {
                        "value_or_threshold": "1",
                        "metrics": [
                            {"name": name, "description": f"{name} of the facet", "value": value}
                            for name, value in metrics.items()
                        ],
                    }
                ]
            },
        },
    }


DATA_BIAS = bias_report("pre_training", {"CI": 0.66, "DPL": -0.18, "KL": None})
WITHIN_BOUNDS = bias_report("post_training", {"DI": 1.12, "DPPL": -0.06, "RD": None})
OUTSIDE_BOUNDS = bias_report("post_training", {"DI": 1.41, "DPPL": -0.06, "RD": 0.3})


def settings(config: ModelConfig) -> tuple[dict[str, str], dict[str, Any] | None]:
    """The card's and Clarify's settings, as the pipeline passes them to the job."""
    clarify = None if config.clarify is None else config.clarify.model_dump()
    return config.card.model_dump(), clarify


def card_of(config: ModelConfig, model_bias: dict[str, Any] | None = WITHIN_BOUNDS) -> dict[str, Any]:
    card, clarify = settings(config)
    bias = {"data_bias": DATA_BIAS, "model_bias": model_bias} if clarify is not None else {}
    return model_card.build_card(card, clarify, EVALUATION, EXPLAINABILITY, LINEAGE, **bias)


def section(content: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [entry for entry in content["evaluation_details"] if entry["name"] == name]
    assert len(found) == 1, name
    return found[0]


def metric_values(group: dict[str, Any]) -> dict[str, Any]:
    return {entry["name"]: entry["value"] for entry in group["metric_data"]}


def test_the_card_follows_the_model_package_model_card_schema(config: ModelConfig) -> None:
    content = card_of(config)

    # SageMaker's shape of the card's content keeps every field the card sets, as it sets it.
    parsed = ModelCardContent.model_validate(content)
    assert parsed.model_dump(mode="json", exclude_unset=True) == content
    # A package's card has no model_package_details, and only these two of model_overview.
    assert set(content["model_overview"]) == {"model_creator", "model_artifact"}
    assert "model_package_details" not in content


def test_the_card_states_the_settings_and_where_the_model_comes_from(config: ModelConfig) -> None:
    content = card_of(config)
    uses, information = content["intended_uses"], content["additional_information"]

    assert content["model_overview"] == {
        "model_creator": "supply-chain-analytics (demand-models@example.com)",
        "model_artifact": [LINEAGE.model_artifact],
    }
    assert uses["purpose_of_model"] == "Forecasts next week's unit sales per store and product."
    assert uses["intended_uses"] == config.card.intended_uses
    assert uses["risk_rating"] == "Low"
    assert information["caveats_and_recommendations"] == config.card.limitations
    training = content["training_details"]
    assert training["training_job_details"] == {
        "training_arn": LINEAGE.training_job_arn,
        "training_datasets": [LINEAGE.training_data],
    }
    assert LINEAGE.source_commit in training["training_observations"]
    assert information["custom_details"]["source_commit"] == LINEAGE.source_commit


def test_the_card_reports_the_test_metrics_and_the_largest_attributions_first(config: ModelConfig) -> None:
    content = card_of(config)
    (metrics,) = section(content, "Test split metrics")["metric_groups"]
    (attributions,) = section(content, model_card.ATTRIBUTIONS)["metric_groups"]

    assert metric_values(metrics) == {"rmse": 7.1, "mae": 4.8, "mse": 50.41, "r2": 0.92}
    assert list(metric_values(attributions)) == [
        "units_last_week",
        "promotion",
        "store_size_sqm",
        "price",
        "category",
        "week_of_year",
        "holiday",
    ]


def test_post_training_bias_within_the_bounds_is_reported_per_facet_value(config: ModelConfig) -> None:
    content = card_of(config, WITHIN_BOUNDS)
    post_training = section(content, "Post-training bias")
    (group,) = post_training["metric_groups"]

    assert group["name"] == "holiday=1"
    assert metric_values(group) == {
        "DI": 1.12,
        "DI within bounds": True,
        "DPPL": -0.06,
        "DPPL within bounds": True,
    }
    assert "All within them." in post_training["evaluation_observation"]
    assert "(34.0, 227.2]" in post_training["evaluation_observation"]
    assert metric_values(section(content, "Pre-training bias")["metric_groups"][0]) == {
        "CI": 0.66,
        "DPL": -0.18,
    }
    ethics = content["additional_information"]["ethical_considerations"]
    assert "holiday in [1]" in ethics
    assert "above 34 units" in ethics
    assert "This model is within them." in ethics


def test_bias_outside_the_bounds_is_named_with_what_the_gate_does_with_it(config: ModelConfig) -> None:
    content = card_of(config, OUTSIDE_BOUNDS)
    post_training = section(content, "Post-training bias")
    violation = "DI 1.41 for holiday=1 is outside [0.8, 1.25]"

    assert metric_values(post_training["metric_groups"][0])["DI within bounds"] is False
    assert violation in post_training["evaluation_observation"]
    ethics = content["additional_information"]["ethical_considerations"]
    assert violation in ethics
    # The example model reports bias: the approval gate records it and deploys.
    assert "bias policy report" in ethics
    assert "records any violation and deploys" in ethics


def test_a_metric_clarify_could_not_compute_is_stated_not_judged(config: ModelConfig) -> None:
    undefined = bias_report("post_training", {"DI": None, "DPPL": "Infinity"})

    (group,) = section(card_of(config, undefined), "Post-training bias")["metric_groups"]

    values = metric_values(group)
    assert values["DI"] == "not defined"
    assert "DI within bounds" not in values
    assert values["DPPL"] == "inf"
    assert values["DPPL within bounds"] is False


def test_a_model_without_facets_has_a_card_that_says_bias_was_not_assessed(config: ModelConfig) -> None:
    content = card_of(config.model_copy(update={"clarify": None}))

    assert section(content, "Bias")["evaluation_observation"].startswith("Bias was not assessed")
    assert content["additional_information"]["ethical_considerations"].startswith("Bias was not assessed")
    assert [entry["name"] for entry in content["evaluation_details"]] == [
        "Test split metrics",
        "Bias",
        model_card.ATTRIBUTIONS,
    ]
    ModelCardContent.model_validate(content)


def test_a_model_with_facets_needs_its_bias_reports(config: ModelConfig) -> None:
    card, clarify = settings(config)

    with pytest.raises(ValueError, match="needs both bias analyses"):
        model_card.build_card(card, clarify, EVALUATION, EXPLAINABILITY, LINEAGE, data_bias=DATA_BIAS)


def test_a_card_too_long_for_a_package_is_cut_from_its_least_influential_features(
    config: ModelConfig,
) -> None:
    many = {f"feature_{index:05d}": 1.0 / (index + 1) for index in range(20_000)}
    explainability = {"explanations": {"kernel_shap": {"label0": {"global_shap_values": many}}}}
    card, clarify = settings(config)
    content = model_card.build_card(
        card, clarify, EVALUATION, explainability, LINEAGE, DATA_BIAS, WITHIN_BOUNDS
    )

    text = model_card.card_text(content)

    assert len(text) <= model_card.MAX_CARD_CHARACTERS
    (attributions,) = section(json.loads(text), model_card.ATTRIBUTIONS)["metric_groups"]
    assert 0 < len(attributions["metric_data"]) <= model_card.MAX_ATTRIBUTIONS
    assert attributions["metric_data"][0]["name"] == "feature_00000"


def write_json(directory: Path, name: str, document: dict[str, Any]) -> Path:
    directory.mkdir(parents=True)
    (directory / name).write_text(json.dumps(document))
    return directory


def test_the_job_writes_the_card_the_pipeline_reads_into_the_package(
    config: ModelConfig, local_run: Path, tmp_path: Path
) -> None:
    card, clarify = settings(config)
    reports = {
        name: write_json(tmp_path / name, "analysis.json", report)
        for name, report in [
            ("explainability", EXPLAINABILITY),
            ("data-bias", DATA_BIAS),
            ("model-bias", OUTSIDE_BOUNDS),
        ]
    }
    # As the pipeline passes them: the settings in pieces of container arguments, the reports mounted.
    model_card.main(
        [
            *map(str, json_arguments("--card", card)),
            *map(str, json_arguments("--clarify", clarify)),
            "--evaluation-dir", str(local_run / "evaluation"),
            *(argument for name, path in reports.items() for argument in (f"--{name}-dir", str(path))),
            "--output-dir", str(tmp_path / "card"),
            "--training-data", LINEAGE.training_data,
            "--source-commit", LINEAGE.source_commit,
            "--training-job-arn", LINEAGE.training_job_arn,
            "--model-artifact", LINEAGE.model_artifact,
        ]
    )  # fmt: skip

    written = json.loads((tmp_path / "card" / model_card.MODEL_CARD_FILE).read_text())
    assert list(written) == [model_card.CONTENT_KEY]
    content = json.loads(written[model_card.CONTENT_KEY])
    assert content["intended_uses"]["intended_uses"] == config.card.intended_uses
    rmse = metric_values(section(content, "Test split metrics")["metric_groups"][0])["rmse"]
    assert (
        rmse
        == json.loads((local_run / "evaluation" / "evaluation.json").read_text())["regression_metrics"][
            "rmse"
        ]["value"]
    )
    assert "DI 1.41 for holiday=1" in content["additional_information"]["ethical_considerations"]
    ModelCardContent.model_validate(content)


def test_a_card_that_cannot_be_cut_short_enough_fails_the_job(
    config: ModelConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_card, "MAX_CARD_CHARACTERS", 1000)

    with pytest.raises(ValueError, match="longer than 1000 characters"):
        model_card.card_text(card_of(config))


def test_long_settings_reach_the_job_in_pieces_it_joins_even_those_that_look_like_options(
    config: ModelConfig,
) -> None:
    card, _ = settings(config)
    # Texts long enough for many pieces, with no space anywhere and a dash where a piece may start.
    card = card | {"limitations": "-" * 700, "intended_uses": "x" * 2048}

    pieces = json_arguments("--card", card)
    lineage = ["--training-data", "s3://b/d/", "--source-commit", "c", "--training-job-arn", "arn"]
    arguments = model_card.parse_args([*map(str, pieces), *lineage, "--model-artifact", "s3://b/m"])

    assert len(pieces) > 10
    assert all(len(str(piece)) <= MAX_CONTAINER_ARGUMENT for piece in pieces)
    assert json.loads("".join(arguments.card)) == card


def test_the_cards_bounds_are_the_platforms() -> None:
    # The platform's approval gate (contracts.POST_TRAINING_BIAS_BOUNDS) applies the same bounds.
    assert model_card.POST_TRAINING_BIAS_BOUNDS == {"DI": (0.8, 1.25), "DPPL": (-0.1, 0.1)}


def test_the_job_reads_what_the_settings_and_evaluate_spell() -> None:
    assert set(model_card.RISK_RATINGS) == set(typing.get_args(RiskRating))
    assert model_card.EVALUATION_FILE == evaluate.EVALUATION_FILE
