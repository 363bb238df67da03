"""Processing job: the model card of the package the pipeline registers.

Reads the test metrics (evaluation.json), Clarify's analyses (analysis.json of the
explainability check, and of the data- and model-bias checks when the model has facets) and
the card's settings (`card` and `clarify` of the model's settings, passed as JSON arguments),
and writes model_card.json = {"content": "<the card, as a JSON string>"}: the pipeline reads
`content` into the package's ModelCard.ModelCardContent (CreateModelPackage).

The card follows SageMaker's model package model card schema (no model_package_details;
model_overview holds only model_creator and model_artifact) and stays under the 100,000
characters of ModelCardContent. It says, for each facet value, whether the post-training
disparate impact (DI) and difference in positive proportions in predicted labels (DPPL) are
within the platform's bounds; a model without facets gets a card that says its bias was not
assessed.

Standard library only: this runs in the scikit-learn image like the other jobs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger("model_card")

MODEL_CARD_FILE = "model_card.json"
EVALUATION_FILE = "evaluation.json"
# CreateModelPackage's limit on ModelCardContent.
MAX_CARD_CHARACTERS = 100_000
# The card lists the features with the largest mean absolute SHAP value, at most this many.
MAX_ATTRIBUTIONS = 25
# The bounds of post-training bias, per facet value. The platform's approval gate holds a
# package's bias report to the same bounds (POST_TRAINING_BIAS_BOUNDS of its contracts module):
# DI, the four-fifths rule both ways; DPPL, predicted positive rates at most ten points apart.
POST_TRAINING_BIAS_BOUNDS: dict[str, tuple[float, float]] = {"DI": (0.8, 1.25), "DPPL": (-0.1, 0.1)}
# The risk rating as the model's settings spell it, and as the card's schema does.
RISK_RATINGS = {"low": "Low", "medium": "Medium", "high": "High", "unknown": "Unknown"}
# The schema's limits on the card's names and texts.
MAX_NAME = 63
MAX_TEXT = 2048
MAX_OBSERVATION = 2096
MAX_NOTES = 1024

Metric = dict[str, Any]
ATTRIBUTIONS = "Feature attributions"
BIAS_NOT_ASSESSED = (
    "Bias was not assessed: no facets are configured for this model (clarify is null in its"
    " settings), so the build ran no Clarify bias check."
)


@dataclass(frozen=True)
class Lineage:
    """Where the model comes from: its training data, commit, training job and artifact."""

    training_data: str
    source_commit: str
    training_job_arn: str
    model_artifact: str


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_analysis(directory: Path) -> dict[str, Any]:
    """The analysis in `directory`, where the job mounts the file a Clarify check step reports as
    its CalculatedBaselineConstraints (Clarify's analysis.json): the one JSON file there."""
    files = sorted(directory.glob("*.json"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"expected one Clarify analysis (JSON file) in {directory}, found {len(files)}"
        )
    analysis: dict[str, Any] = read_json(files[0])
    return analysis


def metric(name: str, value: float | bool | str, notes: str | None = None) -> Metric:
    """One metric of a metric group. JSON has no infinity nor NaN: those are written as text."""
    entry: Metric = {"name": name[:255]}
    if isinstance(value, bool):
        entry |= {"type": "boolean", "value": value}
    elif isinstance(value, int | float) and math.isfinite(value):
        entry |= {"type": "number", "value": float(value)}
    else:
        entry |= {"type": "string", "value": str(value)}
    if notes:
        entry["notes"] = notes[:MAX_NOTES]
    return entry


def as_number(value: Any) -> float | None:
    """A Clarify metric value: a number, "Infinity" or "-Infinity" (as it writes them), or null
    (where a metric is not defined, None here)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if value in ("Infinity", "-Infinity"):
        return float(value)
    return None


def metrics_section(evaluation: dict[str, Any]) -> dict[str, Any]:
    """evaluation.json's metrics, as the card's metric group of the test split."""
    ((section, metrics),) = evaluation.items()
    return {
        "name": "Test split metrics",
        "evaluation_observation": (
            "Measured by the build on the held-out test split, with the decision threshold the model"
            " serves (evaluation.json, the package's ModelQuality statistics)."
        ),
        "metric_groups": [
            {
                "name": section[:MAX_NAME],
                "metric_data": [metric(name, entry["value"]) for name, entry in metrics.items()],
            }
        ],
    }


def post_training_bias_section(analysis: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each facet value's DI and DPPL and whether they are within the bounds, and the violations."""
    report = analysis["post_training_bias_metrics"]
    groups, violations = [], []
    for facet, values in report["facets"].items():
        for group in values:
            facet_value = f"{facet}={group['value_or_threshold']}"
            measured = {entry["name"]: entry.get("value") for entry in group["metrics"]}
            metric_data = []
            for name, (low, high) in POST_TRAINING_BIAS_BOUNDS.items():
                value = as_number(measured.get(name))
                bounds = f"the platform's bounds are [{low}, {high}]"
                if value is None:
                    metric_data.append(metric(name, "not defined", f"Clarify could not compute it; {bounds}"))
                    continue
                within = low <= value <= high
                metric_data += [metric(name, value, bounds), metric(f"{name} within bounds", within)]
                if not within:
                    violations.append(f"{name} {value:.3g} for {facet_value} is outside [{low}, {high}]")
            groups.append({"name": facet_value[:MAX_NAME], "metric_data": metric_data})
    label = report.get("label_value_or_threshold")
    found = f"Outside the platform's bounds: {'; '.join(violations)}." if violations else "All within them."
    observation = (
        f"Post-training bias of the model's predictions on the test split, positive label(s) {label},"
        f" against the platform's bounds. {found}"
    )
    section = {
        "name": "Post-training bias",
        "evaluation_observation": observation[:MAX_OBSERVATION],
        "metric_groups": groups,
    }
    return section, violations


def pre_training_bias_section(analysis: dict[str, Any]) -> dict[str, Any]:
    """Each facet value's pre-training bias metrics (class imbalance, label proportions...)."""
    report = analysis["pre_training_bias_metrics"]
    groups = []
    for facet, values in report["facets"].items():
        for group in values:
            metric_data = [
                metric(entry["name"], number, entry.get("description"))
                for entry in group["metrics"]
                if (number := as_number(entry.get("value"))) is not None
            ]
            groups.append(
                {"name": f"{facet}={group['value_or_threshold']}"[:MAX_NAME], "metric_data": metric_data}
            )
    return {
        "name": "Pre-training bias",
        "evaluation_observation": "Bias in the labels of the test split, before any model (Clarify).",
        "metric_groups": groups,
    }


def attributions_section(analysis: dict[str, Any]) -> dict[str, Any]:
    """The features with the largest mean absolute SHAP value, per explained output, largest first."""
    groups = []
    for output, explanation in analysis["explanations"]["kernel_shap"].items():
        values = explanation["global_shap_values"]
        ranked = sorted(values.items(), key=lambda item: abs(item[1]), reverse=True)[:MAX_ATTRIBUTIONS]
        groups.append(
            {
                "name": f"Mean |SHAP| ({output})"[:MAX_NAME],
                "metric_data": [metric(feature, value) for feature, value in ranked],
            }
        )
    return {
        "name": ATTRIBUTIONS,
        "evaluation_observation": (
            "Global SHAP values (Kernel SHAP, Clarify) of the model's score on the test split: the"
            f" {MAX_ATTRIBUTIONS} most influential features at most, largest first."
        ),
        "metric_groups": groups,
    }


def not_assessed_section() -> dict[str, Any]:
    return {
        "name": "Bias",
        "evaluation_observation": BIAS_NOT_ASSESSED,
        "metric_groups": [],
    }


def bias_statement(clarify: dict[str, Any] | None, violations: list[str]) -> str:
    """What the card says of bias, for its additional information."""
    if clarify is None:
        return BIAS_NOT_ASSESSED
    facets = ", ".join(f"{facet['name']} in {facet['values']}" for facet in clarify["facets"])
    gate = (
        "the platform's approval gate rejects a package outside them"
        if clarify["bias_policy"] == "block"
        else "the platform's approval gate records any violation and deploys the package"
    )
    bounds = ", ".join(
        f"{name} within [{low}, {high}]" for name, (low, high) in POST_TRAINING_BIAS_BOUNDS.items()
    )
    found = f" This model: {'; '.join(violations)}." if violations else " This model is within them."
    return (
        f"Bias assessed for the facets {facets} against the positive label(s) {clarify['label_values']}."
        f" Post-training bounds: {bounds}; bias policy {clarify['bias_policy']}: {gate}.{found}"
    )


def build_card(
    card: dict[str, str],
    clarify: dict[str, Any] | None,
    evaluation: dict[str, Any],
    explainability: dict[str, Any],
    lineage: Lineage,
    data_bias: dict[str, Any] | None = None,
    model_bias: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The card's content, in the model package model card schema."""
    evaluation_details = [metrics_section(evaluation)]
    violations: list[str] = []
    if clarify is None:
        evaluation_details.append(not_assessed_section())
    else:
        if data_bias is None or model_bias is None:
            raise ValueError("a model with facets needs both bias analyses (pre- and post-training)")
        post_training, violations = post_training_bias_section(model_bias)
        evaluation_details += [post_training, pre_training_bias_section(data_bias)]
    evaluation_details.append(attributions_section(explainability))
    risk = card["risk_rating"]
    return {
        "model_overview": {"model_creator": card["owner"], "model_artifact": [lineage.model_artifact]},
        "intended_uses": {
            "purpose_of_model": card["description"],
            "intended_uses": card["intended_uses"],
            "risk_rating": RISK_RATINGS[risk],
            "explanations_for_risk_rating": (
                f"Rated {risk} in the platform's configuration by the model's owner ({card['owner']})."
                if risk != "unknown"
                else "Not rated in the platform's configuration (models[].card.risk_rating)."
            )[:MAX_TEXT],
        },
        "training_details": {
            "training_observations": (
                f"Trained on {lineage.training_data} by the build of commit {lineage.source_commit}."
            )[:MAX_NOTES],
            "training_job_details": {
                "training_arn": lineage.training_job_arn,
                "training_datasets": [lineage.training_data],
            },
        },
        "evaluation_details": evaluation_details,
        "additional_information": {
            "caveats_and_recommendations": card["limitations"],
            "ethical_considerations": bias_statement(clarify, violations)[:MAX_TEXT],
            "custom_details": {
                "source_commit": lineage.source_commit,
                "training_data": lineage.training_data,
            },
        },
    }


def card_text(content: dict[str, Any]) -> str:
    """The card as ModelCardContent: compact JSON, its attributions cut from the least influential
    while it is longer than MAX_CARD_CHARACTERS; ValueError if even none would do."""
    groups = [
        group
        for section in content["evaluation_details"]
        if section["name"] == ATTRIBUTIONS
        for group in section["metric_groups"]
    ]
    while True:
        text = json.dumps(content, allow_nan=False, separators=(",", ":"))
        if len(text) <= MAX_CARD_CHARACTERS:
            return text
        longest = max(groups, key=lambda group: len(group["metric_data"]), default=None)
        if longest is None or not longest["metric_data"]:
            raise ValueError(f"the model card is longer than {MAX_CARD_CHARACTERS} characters")
        # Halve the longest list, not one entry at a time: a card far too long gets short quickly.
        del longest["metric_data"][len(longest["metric_data"]) // 2 :]
        LOGGER.warning(
            "cut the feature attributions to keep the card under %d characters", MAX_CARD_CHARACTERS
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    # A container argument holds at most 256 characters: a JSON setting may come in pieces (one
    # `--card=<piece>` each, so that no piece reads as an option), which are joined in order.
    parser.add_argument("--card", action="append", required=True, help="the card's settings (JSON)")
    parser.add_argument("--clarify", action="append", default=[], help="Clarify's settings (JSON)")
    parser.add_argument("--evaluation-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--explainability-dir", type=Path, default=Path("/opt/ml/processing/explainability"))
    parser.add_argument("--data-bias-dir", type=Path, default=None)
    parser.add_argument("--model-bias-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/card"))
    parser.add_argument("--training-data", required=True)
    parser.add_argument("--source-commit", required=True)
    parser.add_argument("--training-job-arn", required=True)
    parser.add_argument("--model-artifact", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    card = json.loads("".join(args.card))
    clarify = json.loads("".join(args.clarify)) if args.clarify else None
    evaluation = read_json(args.evaluation_dir / EVALUATION_FILE)
    explainability = read_analysis(args.explainability_dir)
    data_bias = read_analysis(args.data_bias_dir) if args.data_bias_dir else None
    model_bias = read_analysis(args.model_bias_dir) if args.model_bias_dir else None
    lineage = Lineage(args.training_data, args.source_commit, args.training_job_arn, args.model_artifact)

    text = card_text(build_card(card, clarify, evaluation, explainability, lineage, data_bias, model_bias))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / MODEL_CARD_FILE).write_text(json.dumps({"content": text}))
    LOGGER.info("model card: %d characters", len(text))


if __name__ == "__main__":
    main()
