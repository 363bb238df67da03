"""The assessment behind the metric gate, in the pipeline definition: the model-quality baseline,
Clarify's checks, the model card and what the package records of them."""

import csv
import io
import json
from pathlib import Path
from typing import Any

import jmespath
import pandas as pd
import pytest

import evaluate
import inference
import model_card
import preprocess
from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.registration import (
    MAX_CONTAINER_ARGUMENT,
    PREDICTION_COLUMNS,
    clarify_headers,
)

from .conftest import BUCKET, BuiltPipeline
from .pipeline_definitions import Definition, all_steps, get, join

SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
MODEL_MONITOR_IMAGE = "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
CLARIFY_IMAGE = "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"
# What the gate lets through, in the order of their data.
ASSESSMENT = [
    ("BaselineModelQuality", "QualityCheck"),
    ("CreateModel", "Model"),
    ("CheckDataBias", "ClarifyCheck"),
    ("CheckModelBias", "ClarifyCheck"),
    ("CheckModelExplainability", "ClarifyCheck"),
    ("WriteModelCard", "Processing"),
    ("RegisterModel", "RegisterModel"),
]
CHECKS = ("CheckDataBias", "CheckModelBias", "CheckModelExplainability")


def if_steps(definition: Definition) -> list[dict[str, Any]]:
    (gate,) = [step for step in definition["Steps"] if step["Type"] == "Condition"]
    steps: list[dict[str, Any]] = gate["Arguments"]["IfSteps"]
    return steps


def execution_folder(name: str, model: str = "demand") -> dict[str, Any]:
    """Where a step writes: the model's prefix, one folder per execution."""
    return join(f"s3://{BUCKET}/{model}", "pipelines", get("Execution.PipelineExecutionId"), name)


def uploaded_json(built: BuiltPipeline, uri: str) -> Any:
    prefix = f"s3://{BUCKET}/"
    assert uri.startswith(prefix)
    return json.loads(built.uploaded[uri.removeprefix(prefix)])


def analysis_config(built: BuiltPipeline, check: str) -> Any:
    """The analysis configuration a check's job reads, as the SDK uploaded it."""
    inputs = all_steps(built.definition)[check]["Arguments"]["ProcessingInputs"]
    (uri,) = [i["S3Input"]["S3Uri"] for i in inputs if i["InputName"] == "analysis_config"]
    return uploaded_json(built, uri)


def json_source(reference: str) -> dict[str, Any]:
    return {"ContentType": "application/json", "S3Uri": get(reference)}


@pytest.fixture(scope="module")
def definition(built_pipeline: BuiltPipeline) -> Definition:
    return built_pipeline.definition


def test_only_a_model_that_clears_the_gate_is_assessed_then_registered(built_pipeline: BuiltPipeline) -> None:
    assert [(step["Name"], step["Type"]) for step in if_steps(built_pipeline.definition)] == ASSESSMENT


def test_the_model_clarify_serves_is_the_registered_container_with_the_models_tags(
    built_pipeline: BuiltPipeline, build_env: BuildEnvironment
) -> None:
    steps = all_steps(built_pipeline.definition)
    model = steps["CreateModel"]["Arguments"]
    (registered,) = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"]

    assert model["ExecutionRoleArn"] == build_env.pipeline_role_arn
    assert model["PrimaryContainer"]["Image"] == registered["Image"] == SKLEARN_IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == registered["ModelDataUrl"]
    assert model["PrimaryContainer"]["Environment"].items() <= registered["Environment"].items()
    assert model["Tags"] == [{"Key": "mlops:model", "Value": "demand"}]
    for name in ("CheckModelBias", "CheckModelExplainability"):
        assert steps[name]["ModelName"] == get("Steps.CreateModel.ModelName")


def test_clarify_checks_the_test_split_with_the_models_jobs_and_records_new_baselines(
    built_pipeline: BuiltPipeline, build_env: BuildEnvironment
) -> None:
    steps = all_steps(built_pipeline.definition)
    dataset = get(
        f"Steps.PreprocessData.ProcessingOutputConfig.Outputs['{preprocess.CLARIFY_DATASET}'].S3Output.S3Uri"
    )

    for name, check_type in [
        ("CheckDataBias", "DATA_BIAS"),
        ("CheckModelBias", "MODEL_BIAS"),
        ("CheckModelExplainability", "MODEL_EXPLAINABILITY"),
    ]:
        step = steps[name]
        arguments = step["Arguments"]
        inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in arguments["ProcessingInputs"]}
        (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
        # The platform's approval gate holds the bias report to its bounds, not the build.
        assert (step["CheckType"], step["SkipCheck"], step["RegisterNewBaseline"]) == (check_type, True, True)
        assert arguments["AppSpecification"]["ImageUri"] == CLARIFY_IMAGE
        assert arguments["RoleArn"] == build_env.pipeline_role_arn
        assert arguments["ProcessingResources"]["ClusterConfig"]["InstanceType"] == get(
            "Parameters.ProcessingInstanceType"
        )
        assert inputs["dataset"] == dataset
        # Uploaded while the definition is built, one folder per commit and check.
        assert inputs["analysis_config"] == (
            f"s3://{BUCKET}/demand/clarify/{build_env.source_commit}/{name}/analysis_config.json"
        )
        assert output["S3Output"]["S3Uri"] == execution_folder(name)


def test_clarify_reads_the_dataset_preprocess_writes_and_calls_the_model_as_it_is_served(
    built_pipeline: BuiltPipeline,
) -> None:
    configs = {name: analysis_config(built_pipeline, name) for name in CHECKS}
    endpoint = {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "content_type": "application/json",
        "accept_type": "application/json",
        # The body jobs/inference.py reads: {"instances": [{<feature>: value, ...}, ...]}.
        "content_template": '{"instances":$records}',
        "record_template": "$features_kvp",
        # The forecasts of an answer {"predictions": [{"prediction": ...}, ...]}.
        "label": "predictions[*].prediction",
    }

    assert clarify_headers() == list(preprocess.CLARIFY_COLUMNS)
    for config in configs.values():
        assert config["dataset_type"] == "text/csv"
        assert config["headers"] == list(preprocess.CLARIFY_COLUMNS)
        assert config["label"] == "units_sold"
    assert configs["CheckModelBias"]["predictor"] == endpoint
    assert configs["CheckModelExplainability"]["predictor"] == endpoint


def test_bias_is_checked_per_facet_above_the_settings_threshold(
    built_pipeline: BuiltPipeline, config: ModelConfig
) -> None:
    data_bias, model_bias = (
        analysis_config(built_pipeline, name) for name in ("CheckDataBias", "CheckModelBias")
    )

    # Holiday weeks against the others; a week's sales (actual or forecast) above 34 units is positive.
    for bias in (data_bias, model_bias):
        assert bias["facet"] == [{"name_or_index": "holiday", "value_or_threshold": [1]}]
        assert bias["label_values_or_threshold"] == [34.0]
    assert data_bias["methods"]["pre_training_bias"] == {"methods": "all"}
    assert model_bias["methods"]["post_training_bias"] == {"methods": "all"}
    assert config.clarify is not None
    assert config.clarify.threshold == 34.0


def test_the_model_is_explained_with_seeded_kernel_shap(built_pipeline: BuiltPipeline) -> None:
    explainability = analysis_config(built_pipeline, "CheckModelExplainability")

    assert explainability["methods"]["shap"] == {
        "num_samples": 100,
        "agg_method": "mean_abs",
        "seed": 42,
        "use_logit": False,
        "save_local_shap_values": False,
    }


def test_the_model_quality_baseline_reads_the_forecasts_evaluate_writes(definition: Definition) -> None:
    step = all_steps(definition)["BaselineModelQuality"]
    arguments = step["Arguments"]
    (dataset,) = arguments["ProcessingInputs"]
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
    environment = arguments["Environment"]

    assert (step["CheckType"], step["SkipCheck"], step["RegisterNewBaseline"]) == (
        "MODEL_QUALITY",
        True,
        True,
    )
    assert arguments["AppSpecification"] == {"ImageUri": MODEL_MONITOR_IMAGE}
    assert dataset["S3Input"]["S3Uri"] == get(
        "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['predictions'].S3Output.S3Uri"
    )
    assert json.loads(environment["dataset_format"])["csv"]["header"] is True
    assert (
        environment["problem_type"],
        environment["inference_attribute"],
        environment["ground_truth_attribute"],
    ) == ("Regression", evaluate.PREDICTION_COLUMN, evaluate.LABEL_COLUMN)
    assert PREDICTION_COLUMNS == {
        "inference": evaluate.PREDICTION_COLUMN,
        "ground_truth": evaluate.LABEL_COLUMN,
    }
    assert "probability_attribute" not in environment
    assert output["S3Output"]["S3Uri"] == execution_folder("model-quality")


def test_the_package_records_every_report_and_the_baselines_model_monitor_checks_against(
    built_pipeline: BuiltPipeline, build_env: BuildEnvironment
) -> None:
    arguments = all_steps(built_pipeline.definition)["RegisterModel"]["Arguments"]
    metrics, baselines = arguments["ModelMetrics"], arguments["DriftCheckBaselines"]
    config_prefix = f"s3://{BUCKET}/demand/clarify/{build_env.source_commit}"

    assert metrics["ModelQuality"]["Constraints"] == json_source(
        "Steps.BaselineModelQuality.CalculatedBaselineConstraints"
    )
    # The approval gate reads the post-training bias report (Clarify's analysis.json).
    assert metrics["Bias"] == {
        "PreTrainingReport": json_source("Steps.CheckDataBias.CalculatedBaselineConstraints"),
        "PostTrainingReport": json_source("Steps.CheckModelBias.CalculatedBaselineConstraints"),
    }
    assert metrics["Explainability"] == {
        "Report": json_source("Steps.CheckModelExplainability.CalculatedBaselineConstraints")
    }
    assert baselines["ModelQuality"] == {
        "Statistics": json_source("Steps.BaselineModelQuality.BaselineUsedForDriftCheckStatistics"),
        "Constraints": json_source("Steps.BaselineModelQuality.BaselineUsedForDriftCheckConstraints"),
    }
    bias, explainability = baselines["Bias"], baselines["Explainability"]
    assert bias["PreTrainingConstraints"] == json_source(
        "Steps.CheckDataBias.BaselineUsedForDriftCheckConstraints"
    )
    assert bias["PostTrainingConstraints"] == json_source(
        "Steps.CheckModelBias.BaselineUsedForDriftCheckConstraints"
    )
    assert explainability["Constraints"] == json_source(
        "Steps.CheckModelExplainability.BaselineUsedForDriftCheckConstraints"
    )
    # The monitors' analysis configurations, uploaded while the definition is built.
    assert (
        bias["ConfigFile"]["ContentType"] == explainability["ConfigFile"]["ContentType"] == "application/json"
    )
    assert bias["ConfigFile"]["S3Uri"].startswith(f"{config_prefix}/CheckModelBias/")
    assert explainability["ConfigFile"]["S3Uri"].startswith(f"{config_prefix}/CheckModelExplainability/")
    assert uploaded_json(built_pipeline, bias["ConfigFile"]["S3Uri"]) == {
        "label_values_or_threshold": [34.0],
        "facet": [{"name_or_index": "holiday", "value_or_threshold": [1]}],
        "headers": list(preprocess.CLARIFY_COLUMNS),
        "label": "units_sold",
    }
    monitor = uploaded_json(built_pipeline, explainability["ConfigFile"]["S3Uri"])
    # The endpoint receives the features only.
    assert monitor["headers"] == list(preprocess.CLARIFY_COLUMNS[:-1])
    assert set(monitor["methods"]) == {"shap"}


def test_every_package_carries_its_model_card_pending_review(definition: Definition) -> None:
    steps = all_steps(definition)
    card_step = steps["WriteModelCard"]
    (output,) = card_step["Arguments"]["ProcessingOutputConfig"]["Outputs"]

    assert steps["RegisterModel"]["Arguments"]["ModelCard"] == {
        "ModelCardContent": {
            "Std:JsonGet": {
                "PropertyFile": get("Steps.WriteModelCard.PropertyFiles.ModelCard"),
                "Path": model_card.CONTENT_KEY,
            }
        },
        "ModelCardStatus": "PendingReview",
    }
    assert card_step["PropertyFiles"] == [
        {"PropertyFileName": "ModelCard", "OutputName": "model_card", "FilePath": model_card.MODEL_CARD_FILE}
    ]
    assert output["S3Output"]["LocalPath"] == str(model_card.parse_args(CARD_ARGUMENTS).output_dir)
    assert output["S3Output"]["S3Uri"] == execution_folder("model_card")


# What model_card.py needs besides the settings, for parse_args.
CARD_ARGUMENTS = [
    "--card={}",
    "--training-data=x",
    "--source-commit=x",
    "--training-job-arn=x",
    "--model-artifact=x",
]


def card_job_arguments(definition: Definition) -> tuple[list[str], dict[str, Any]]:
    """WriteModelCard's container arguments, its pipeline variables written as their JSON, and its
    inputs by name."""
    arguments = all_steps(definition)["WriteModelCard"]["Arguments"]
    container = [
        item if isinstance(item, str) else json.dumps(item)
        for item in arguments["AppSpecification"]["ContainerArguments"]
    ]
    inputs = {i["InputName"]: i["S3Input"] for i in arguments["ProcessingInputs"]}
    return container, inputs


def test_the_model_card_job_gets_the_settings_lineage_and_every_clarify_report(
    definition: Definition, config: ModelConfig, build_env: BuildEnvironment
) -> None:
    container, inputs = card_job_arguments(definition)
    parsed = model_card.parse_args(container)

    # Container arguments are at most 256 characters: the settings come in pieces, joined in order.
    assert all(len(argument) <= MAX_CONTAINER_ARGUMENT for argument in container)
    assert len(parsed.card) > 1
    assert json.loads("".join(parsed.card)) == config.card.model_dump()
    assert config.clarify is not None
    assert json.loads("".join(parsed.clarify)) == config.clarify.model_dump()
    assert parsed.training_data == json.dumps(get("Parameters.InputDataUrl"))
    assert parsed.source_commit == build_env.source_commit
    assert parsed.training_job_arn == json.dumps(get("Steps.TrainModel.TrainingJobArn"))
    assert parsed.model_artifact == json.dumps(get("Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"))
    # Each report is mounted where the job reads it, which also makes the card wait for its check.
    for name, check, directory in [
        ("explainability", "CheckModelExplainability", parsed.explainability_dir),
        ("data-bias", "CheckDataBias", parsed.data_bias_dir),
        ("model-bias", "CheckModelBias", parsed.model_bias_dir),
    ]:
        assert inputs[name]["S3Uri"] == get(f"Steps.{check}.CalculatedBaselineConstraints")
        assert inputs[name]["LocalPath"] == str(directory)
    assert inputs["evaluation"]["S3Uri"] == get(
        "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"
    )
    assert inputs["evaluation"]["LocalPath"] == str(parsed.evaluation_dir)


# --- a model without Clarify facets ------------------------------------------------------------------


def test_a_model_without_facets_is_explained_but_not_checked_for_bias(
    other_model_pipeline: BuiltPipeline,
) -> None:
    footfall_definition = other_model_pipeline.definition
    steps = all_steps(footfall_definition)
    register = steps["RegisterModel"]["Arguments"]
    container, inputs = card_job_arguments(footfall_definition)
    parsed = model_card.parse_args(container)

    assert [step["Name"] for step in if_steps(footfall_definition)] == [
        name for name, _ in ASSESSMENT if name not in ("CheckDataBias", "CheckModelBias")
    ]
    assert register["ModelMetrics"]["Bias"] == {}
    assert "Report" in register["ModelMetrics"]["Explainability"]
    assert "Bias" not in register["DriftCheckBaselines"]
    assert set(register["DriftCheckBaselines"]["Explainability"]) == {"ConfigFile", "Constraints"}
    # Its card says bias was not assessed: no bias report, no Clarify settings.
    assert (parsed.clarify, parsed.data_bias_dir, parsed.model_bias_dir) == ([], None, None)
    assert set(inputs) == {"evaluation", "explainability", "code", "entrypoint"}


def test_clarify_calls_a_model_that_answers_csv_by_its_column(other_model_pipeline: BuiltPipeline) -> None:
    steps = all_steps(other_model_pipeline.definition)
    predictor = analysis_config(other_model_pipeline, "CheckModelExplainability")["predictor"]

    assert predictor["accept_type"] == "text/csv"
    assert predictor["label"] == 0
    assert predictor["instance_type"] == "ml.c5.xlarge"
    assert {"Key": "mlops:model", "Value": "footfall"} in steps["CreateModel"]["Arguments"]["Tags"]


def clarify_request(rows: pd.DataFrame, predictor: dict[str, Any]) -> str:
    """A request as Clarify writes it from the dataset's rows (their features, named by the headers)."""
    if predictor["content_type"] == "text/csv":
        return str(rows.to_csv(header=False, index=False))
    records = rows.to_json(orient="records")
    assert predictor["record_template"] == "$features_kvp"
    return str(predictor["content_template"]).replace("$records", records)


def clarify_reads(answer: str, predictor: dict[str, Any]) -> list[Any]:
    """What Clarify reads of each row's answer at the predictor's `label`."""
    if predictor["accept_type"] == "text/csv":
        return [line[predictor["label"]] for line in csv.reader(io.StringIO(answer))]
    return list(jmespath.search(predictor["label"], json.loads(answer)))


@pytest.mark.parametrize(
    ("pipeline_fixture", "checks"),
    [
        ("built_pipeline", ("CheckModelBias", "CheckModelExplainability")),
        ("other_model_pipeline", ("CheckModelExplainability",)),  # CSV answers
    ],
)
def test_clarify_reads_a_forecast_per_row_in_the_models_answers(
    request: pytest.FixtureRequest, local_run: Path, pipeline_fixture: str, checks: tuple[str, ...]
) -> None:
    """The requests Clarify writes are ones the serving handlers read, and it finds in their answers
    each row's forecast, the one the model serves."""
    built: BuiltPipeline = request.getfixturevalue(pipeline_fixture)
    model = inference.model_fn(str(local_run / "model"))
    dataset = pd.read_csv(
        local_run / preprocess.CLARIFY_DATASET / f"{preprocess.CLARIFY_DATASET}.csv", header=None
    )

    for check in checks:
        config = analysis_config(built, check)
        rows = dataset.set_axis(config["headers"], axis="columns").drop(columns=config["label"]).head(7)
        predictor = config["predictor"]
        frame = inference.input_fn(clarify_request(rows, predictor), predictor["content_type"])
        answer, _ = inference.output_fn(inference.predict_fn(frame, model), predictor["accept_type"])

        read = [float(forecast) for forecast in clarify_reads(answer, predictor)]
        assert read == pytest.approx(list(model.predict(rows))), check
