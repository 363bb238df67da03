"""jobs/model_card.py: the model card of a package, from the test metrics, Clarify's analyses and the
card's settings, as the pipeline passes them (workflow/registration.py)."""

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
    training_data="s3://mlops-artifacts-test/churn/data/raw/4f2c9e1d/",
    source_commit="4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
    training_job_arn="arn:aws:sagemaker:eu-west-1:123456789012:training-job/pipelines-abc-trainmodel-1",
    model_artifact="s3://mlops-artifacts-test/churn/models/pipelines-abc/output/model.tar.gz",
)
EVALUATION = {
    "binary_classification_metrics": {
        "auc": {"value": 0.83, "standard_deviation": "NaN"},
        "f1": {"value": 0.61, "standard_deviation": "NaN"},
    }
}


def bias_group(value: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One facet value of a Clarify bias report, as analysis.json spells it."""
    return {
        "value_or_threshold": value,
        "metrics": [
            {"name": name, "description": f"{name} of the facet", "value": measured}
            for name, measured in metrics.items()
        ],
    }


def post_training(di: Any = 0.93, dppl: Any = 0.02) -> dict[str, Any]:
    return {
        "version": "1.0",
        "post_training_bias_metrics": {
            "label": "churned",
            "label_value_or_threshold": "1",
            "facets": {
                "senior_citizen": [bias_group("1", {"AD": 0.01, "DI": di, "DPPL": dppl, "RD": -0.03})]
            },
        },
    }


PRE_TRAINING = {
    "version": "1.0",
    "pre_training_bias_metrics": {
        "label": "churned",
        "label_value_or_threshold": "1",
        "facets": {"senior_citizen": [bias_group("1", {"CI": 0.68, "DPL": -0.05, "CDDL": None})]},
    },
}


def explanation(values: dict[str, float]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "explanations": {"kernel_shap": {"label0": {"global_shap_values": values, "expected_value": 0.27}}},
    }


EXPLAINABILITY = explanation(
    {"tenure_months": 0.09, "contract_type": -0.12, "support_calls_90d": 0.05, "senior_citizen": 0.004}
)


@pytest.fixture
def settings(config: ModelConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The example's `card` and `clarify` settings, as the pipeline passes them to the job."""
    assert config.clarify is not None
    return config.card.model_dump(), config.clarify.model_dump()


def card_with_bias(settings: tuple[dict[str, Any], dict[str, Any]], **post: Any) -> dict[str, Any]:
    card, clarify = settings
    return model_card.build_card(
        card, clarify, EVALUATION, EXPLAINABILITY, LINEAGE, PRE_TRAINING, post_training(**post)
    )


def section(content: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [item for item in content["evaluation_details"] if item["name"] == name]
    return found


def metrics_of(group: dict[str, Any]) -> dict[str, Any]:
    return {entry["name"]: entry["value"] for entry in group["metric_data"]}


def assert_follows_the_model_package_card_schema(content: dict[str, Any]) -> None:
    """Valid for SageMaker's model card shapes (the SDK's), with no field they do not know (they
    would drop it), and the model package card's restrictions."""
    assert ModelCardContent.model_validate(content).model_dump(mode="json", exclude_unset=True) == content
    assert "model_package_details" not in content
    assert set(content["model_overview"]) <= {"model_creator", "model_artifact"}


def test_a_card_with_bias_reports_states_the_settings_the_measures_and_the_lineage(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    card, _ = settings

    content = card_with_bias(settings)

    assert_follows_the_model_package_card_schema(content)
    assert content["model_overview"] == {
        "model_creator": "customer-analytics (churn-models@example.com)",
        "model_artifact": [LINEAGE.model_artifact],
    }
    uses = content["intended_uses"]
    assert (uses["purpose_of_model"], uses["intended_uses"]) == (card["description"], card["intended_uses"])
    assert uses["risk_rating"] == "Medium"
    assert "customer-analytics" in uses["explanations_for_risk_rating"]
    assert content["training_details"]["training_job_details"] == {
        "training_arn": LINEAGE.training_job_arn,
        "training_datasets": [LINEAGE.training_data],
    }
    assert LINEAGE.source_commit in content["training_details"]["training_observations"]
    assert content["additional_information"]["caveats_and_recommendations"] == card["limitations"]
    assert [item["name"] for item in content["evaluation_details"]] == [
        "Test split metrics",
        "Post-training bias",
        "Pre-training bias",
        "Feature attributions",
    ]
    (test_group,) = section(content, "Test split metrics")["metric_groups"]
    assert test_group == {
        "name": "binary_classification_metrics",
        "metric_data": [
            {"name": "auc", "type": "number", "value": 0.83},
            {"name": "f1", "type": "number", "value": 0.61},
        ],
    }


def test_each_facet_values_post_training_bias_is_held_to_the_platforms_bounds(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    content = card_with_bias(settings, di=0.93, dppl=0.02)

    bias = section(content, "Post-training bias")
    (group,) = bias["metric_groups"]
    assert group["name"] == "senior_citizen=1"
    assert metrics_of(group) == {
        "DI": 0.93,
        "DI within bounds": True,
        "DPPL": 0.02,
        "DPPL within bounds": True,
    }
    assert "All within them" in bias["evaluation_observation"]
    statement = content["additional_information"]["ethical_considerations"]
    assert "senior_citizen in [1]" in statement
    assert "DI within [0.8, 1.25], DPPL within [-0.1, 0.1]" in statement
    assert "rejects a package outside them" in statement  # bias_policy: block


@pytest.mark.parametrize(
    ("di", "dppl", "outside"),
    [
        (0.71, 0.02, "DI 0.71 for senior_citizen=1 is outside [0.8, 1.25]"),
        (1.3, 0.02, "DI 1.3 for senior_citizen=1 is outside [0.8, 1.25]"),
        (0.93, -0.15, "DPPL -0.15 for senior_citizen=1 is outside [-0.1, 0.1]"),
        # Clarify writes an infinite ratio as text: as far outside the bounds as it gets.
        ("Infinity", 0.02, "DI inf for senior_citizen=1 is outside [0.8, 1.25]"),
    ],
)
def test_a_metric_outside_the_bounds_is_marked_as_a_violation(
    settings: tuple[dict[str, Any], dict[str, Any]], di: Any, dppl: float, outside: str
) -> None:
    content = card_with_bias(settings, di=di, dppl=dppl)

    bias = section(content, "Post-training bias")
    measured = metrics_of(bias["metric_groups"][0])
    assert (measured["DI within bounds"], measured["DPPL within bounds"]) == (
        0.8 <= float(di) <= 1.25,
        -0.1 <= dppl <= 0.1,
    )
    assert outside in bias["evaluation_observation"]
    assert outside in content["additional_information"]["ethical_considerations"]
    assert_follows_the_model_package_card_schema(content)  # no infinity in the JSON


def test_a_metric_clarify_could_not_compute_is_said_so_not_judged(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    content = card_with_bias(settings, di=None)

    measured = metrics_of(section(content, "Post-training bias")["metric_groups"][0])
    assert measured["DI"] == "not defined"
    assert "DI within bounds" not in measured
    assert measured["DPPL within bounds"] is True


def test_pre_training_bias_lists_the_metrics_clarify_computed(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    (group,) = section(card_with_bias(settings), "Pre-training bias")["metric_groups"]

    # CDDL needs a group variable, which the checks do not set: Clarify leaves it null.
    assert metrics_of(group) == {"CI": 0.68, "DPL": -0.05}


def test_the_attributions_are_the_largest_mean_absolute_shap_values_first(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    (group,) = section(card_with_bias(settings), "Feature attributions")["metric_groups"]

    assert group["name"] == "Mean |SHAP| (label0)"
    assert list(metrics_of(group)) == [
        "contract_type",
        "tenure_months",
        "support_calls_90d",
        "senior_citizen",
    ]


def test_a_model_without_facets_gets_a_card_that_says_bias_was_not_assessed(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    card, _ = settings

    content = model_card.build_card(
        card | {"risk_rating": "unknown"}, None, EVALUATION, EXPLAINABILITY, LINEAGE
    )

    assert_follows_the_model_package_card_schema(content)
    assert [item["name"] for item in content["evaluation_details"]] == [
        "Test split metrics",
        "Bias",
        "Feature attributions",
    ]
    assert "not assessed" in section(content, "Bias")["evaluation_observation"]
    assert "no facets" in content["additional_information"]["ethical_considerations"]
    assert content["intended_uses"]["risk_rating"] == "Unknown"


def test_a_model_with_facets_needs_both_bias_analyses(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    card, clarify = settings

    with pytest.raises(ValueError, match="both bias analyses"):
        model_card.build_card(card, clarify, EVALUATION, EXPLAINABILITY, LINEAGE, PRE_TRAINING, None)


def test_the_card_lists_a_bounded_number_of_attributions_and_stays_under_the_limit(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    card, clarify = settings
    # A model of many features with long names, each with an attribution.
    many = explanation({f"feature_{index:04d}_" + "x" * 200: index / 10_000 for index in range(3000)})

    text = model_card.card_text(
        model_card.build_card(card, clarify, EVALUATION, many, LINEAGE, PRE_TRAINING, post_training())
    )

    assert len(text) <= model_card.MAX_CARD_CHARACTERS
    (group,) = section(json.loads(text), "Feature attributions")["metric_groups"]
    assert len(group["metric_data"]) == model_card.MAX_ATTRIBUTIONS
    assert group["metric_data"][0]["name"].startswith("feature_2999_")


def test_a_card_over_the_limit_loses_attributions_first_and_fails_when_that_is_not_enough(
    settings: tuple[dict[str, Any], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    card, clarify = settings
    content = model_card.build_card(
        card, clarify, EVALUATION, EXPLAINABILITY, LINEAGE, PRE_TRAINING, post_training()
    )
    full = model_card.card_text(json.loads(json.dumps(content)))

    monkeypatch.setattr(model_card, "MAX_CARD_CHARACTERS", len(full) - 1)
    shorter = json.loads(model_card.card_text(json.loads(json.dumps(content))))
    (group,) = section(shorter, "Feature attributions")["metric_groups"]
    assert (
        0
        < len(group["metric_data"])
        < len(EXPLAINABILITY["explanations"]["kernel_shap"]["label0"]["global_shap_values"])
    )
    assert section(shorter, "Post-training bias") == section(content, "Post-training bias")

    monkeypatch.setattr(model_card, "MAX_CARD_CHARACTERS", 1000)
    with pytest.raises(ValueError, match="longer than 1000 characters"):
        model_card.card_text(content)


def write_analysis(directory: Path, analysis: dict[str, Any]) -> Path:
    # The file a check reports as its CalculatedBaselineConstraints, mounted under its own name.
    directory.mkdir(parents=True)
    (directory / "analysis.json").write_text(json.dumps(analysis))
    return directory


def job_arguments(tmp_path: Path, card: dict[str, Any], clarify: dict[str, Any] | None) -> list[str]:
    """The job's arguments as the pipeline writes them (JSON settings in pieces), local paths here."""
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / model_card.EVALUATION_FILE).write_text(json.dumps(EVALUATION))
    arguments = [str(piece) for piece in json_arguments("--card", card)]
    arguments += ["--evaluation-dir", str(tmp_path / "evaluation")]
    arguments += ["--explainability-dir", str(write_analysis(tmp_path / "explainability", EXPLAINABILITY))]
    if clarify is not None:
        arguments += [str(piece) for piece in json_arguments("--clarify", clarify)]
        arguments += ["--data-bias-dir", str(write_analysis(tmp_path / "data-bias", PRE_TRAINING))]
        arguments += ["--model-bias-dir", str(write_analysis(tmp_path / "model-bias", post_training(di=0.7)))]
    return [
        *arguments,
        "--output-dir", str(tmp_path / "card"),
        "--training-data", LINEAGE.training_data,
        "--source-commit", LINEAGE.source_commit,
        "--training-job-arn", LINEAGE.training_job_arn,
        "--model-artifact", LINEAGE.model_artifact,
    ]  # fmt: skip


@pytest.mark.parametrize("with_facets", [True, False])
def test_the_job_writes_the_card_as_a_json_string_under_content(
    settings: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path, with_facets: bool
) -> None:
    card, clarify = settings

    model_card.main(job_arguments(tmp_path, card, clarify if with_facets else None))

    document = json.loads((tmp_path / "card" / model_card.MODEL_CARD_FILE).read_text())
    assert list(document) == ["content"]
    assert isinstance(document["content"], str)
    content = json.loads(document["content"])
    assert_follows_the_model_package_card_schema(content)
    assert content["intended_uses"]["intended_uses"] == card["intended_uses"]
    names = [item["name"] for item in content["evaluation_details"]]
    assert ("Post-training bias" in names) is with_facets
    if with_facets:
        assert "DI 0.7 for senior_citizen=1" in content["additional_information"]["ethical_considerations"]


def test_long_settings_reach_the_job_in_pieces_it_joins_even_those_that_look_like_options(
    settings: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    card, _ = settings
    # Texts long enough for many pieces, with spaces nowhere and a dash where a piece may start.
    card = card | {"limitations": "-" * 700, "intended_uses": "x" * 2048}

    pieces = json_arguments("--card", card)
    lineage = ["--training-data", "s3://b/d/", "--source-commit", "c"]
    lineage += ["--training-job-arn", "arn", "--model-artifact", "s3://b/m"]
    arguments = model_card.parse_args([*map(str, pieces), *lineage])

    assert len(pieces) > 10
    assert all(len(str(piece)) <= MAX_CONTAINER_ARGUMENT for piece in pieces)
    assert json.loads("".join(arguments.card)) == card


def test_the_cards_bounds_are_the_platforms() -> None:
    # The platform's approval gate (contracts.POST_TRAINING_BIAS_BOUNDS) applies the same bounds.
    assert model_card.POST_TRAINING_BIAS_BOUNDS == {"DI": (0.8, 1.25), "DPPL": (-0.1, 0.1)}


def test_the_job_reads_what_the_settings_and_evaluate_spell() -> None:
    assert set(model_card.RISK_RATINGS) == set(typing.get_args(RiskRating))
    assert model_card.EVALUATION_FILE == evaluate.EVALUATION_FILE
