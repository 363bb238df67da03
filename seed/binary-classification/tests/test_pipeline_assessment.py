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
from workflow.registration import MODEL_CARD_STATUS, PREDICTION_COLUMNS

from .conftest import BUCKET, BuiltPipeline, multiclass_config
from .pipeline_definitions import Definition, all_steps, get, join

CLARIFY_IMAGE = "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"
CHECKS = ("CheckDataBias", "CheckModelBias", "CheckModelExplainability")
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
# The model card job's required arguments, with placeholder values.
LINEAGE_ARGUMENTS = [
    "--training-data",
    "d",
    "--source-commit",
    "c",
    "--training-job-arn",
    "a",
    "--model-artifact",
    "m",
]


def if_steps(definition: Definition) -> list[dict[str, Any]]:
    (gate,) = [step for step in definition["Steps"] if step["Type"] == "Condition"]
    steps: list[dict[str, Any]] = gate["Arguments"]["IfSteps"]
    return steps


def analysis_config(built: BuiltPipeline, check: str) -> dict[str, Any]:
    """The analysis configuration a check's job reads, as the SDK uploaded it."""
    inputs = all_steps(built.definition)[check]["Arguments"]["ProcessingInputs"]
    (uri,) = [i["S3Input"]["S3Uri"] for i in inputs if i["InputName"] == "analysis_config"]
    return uploaded_json(built, uri)


def uploaded_json(built: BuiltPipeline, uri: str) -> dict[str, Any]:
    prefix = f"s3://{BUCKET}/"
    assert uri.startswith(prefix)
    document: dict[str, Any] = json.loads(built.uploaded[uri.removeprefix(prefix)])
    return document


def json_metrics(s3_uri: object) -> dict[str, object]:
    return {"ContentType": "application/json", "S3Uri": s3_uri}


def container_arguments(step: dict[str, Any]) -> list[str]:
    """The step's container arguments, each reference to the pipeline as its reference text."""
    return [
        argument if isinstance(argument, str) else json.dumps(argument)
        for argument in step["Arguments"]["AppSpecification"]["ContainerArguments"]
    ]


def test_only_a_model_that_clears_the_gate_is_assessed_then_registered(built_pipeline: BuiltPipeline) -> None:
    definition = built_pipeline.definition

    assert [(step["Name"], step["Type"]) for step in if_steps(definition)] == ASSESSMENT
    # Each step only reads what the steps before it (or before the gate) produce.
    done = {step["Name"] for step in definition["Steps"]}
    for step in if_steps(definition):
        references = json.dumps(step)
        later = {name for name, _ in ASSESSMENT} - done - {step["Name"]}
        assert not [name for name in later if f"Steps.{name}." in references], step["Name"]
        done.add(step["Name"])


def test_the_checks_record_this_models_reports_and_check_nothing(built_pipeline: BuiltPipeline) -> None:
    steps = all_steps(built_pipeline.definition)

    assert {name: steps[name]["CheckType"] for name in CHECKS} == {
        "CheckDataBias": "DATA_BIAS",
        "CheckModelBias": "MODEL_BIAS",
        "CheckModelExplainability": "MODEL_EXPLAINABILITY",
    }
    assert steps["BaselineModelQuality"]["CheckType"] == "MODEL_QUALITY"
    for name in (*CHECKS, "BaselineModelQuality"):
        # The platform's approval gate, not the build, holds the reports to its bounds.
        assert (steps[name]["SkipCheck"], steps[name]["RegisterNewBaseline"]) == (True, True), name
        assert steps[name]["ModelPackageGroupName"] is None, name
    # The model checks call the model the pipeline creates; the data check needs none.
    assert "ModelName" not in steps["CheckDataBias"]
    for name in ("CheckModelBias", "CheckModelExplainability"):
        assert steps[name]["ModelName"] == get("Steps.CreateModel.ModelName")
        assert steps[name]["Arguments"]["AppSpecification"] == {"ImageUri": CLARIFY_IMAGE}


def test_the_assessment_jobs_run_as_the_others_do(
    built_pipeline: BuiltPipeline, build_env: BuildEnvironment
) -> None:
    steps = all_steps(built_pipeline.definition)

    for name in (*CHECKS, "BaselineModelQuality", "WriteModelCard"):
        arguments = steps[name]["Arguments"]
        cluster = arguments["ProcessingResources"]["ClusterConfig"]
        assert arguments["RoleArn"] == build_env.pipeline_role_arn, name
        assert cluster["VolumeKmsKeyId"] == build_env.kms_key_arn, name
        assert cluster["InstanceType"] == get("Parameters.ProcessingInstanceType"), name
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == build_env.kms_key_arn, name
        assert arguments["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}, name
        assert arguments["Tags"] == [{"Key": "mlops:model", "Value": "churn"}], name
        for output in arguments["ProcessingOutputConfig"]["Outputs"]:
            values = output["S3Output"]["S3Uri"]["Std:Join"]["Values"]
            assert values[:3] == [f"s3://{BUCKET}/churn", "pipelines", get("Execution.PipelineExecutionId")]
    assert steps["CreateModel"]["Arguments"]["Tags"] == [{"Key": "mlops:model", "Value": "churn"}]
    assert steps["CreateModel"]["Arguments"]["ExecutionRoleArn"] == build_env.pipeline_role_arn


def test_clarify_serves_the_container_the_package_registers(built_pipeline: BuiltPipeline) -> None:
    steps = all_steps(built_pipeline.definition)
    created = steps["CreateModel"]["Arguments"]["PrimaryContainer"]
    (registered,) = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"]

    assert (created["Image"], created["ModelDataUrl"]) == (registered["Image"], registered["ModelDataUrl"])
    assert created["Environment"].items() <= registered["Environment"].items()
    assert created["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"


def test_clarify_reads_the_test_split_as_preprocess_writes_it(
    built_pipeline: BuiltPipeline, local_run: Path
) -> None:
    steps = all_steps(built_pipeline.definition)
    headers = preprocess.clarify_columns("churned")
    dataset = pd.read_csv(
        local_run / preprocess.CLARIFY_DATASET / f"{preprocess.CLARIFY_DATASET}.csv", header=None
    )

    for check in CHECKS:
        config = analysis_config(built_pipeline, check)
        (data,) = [i for i in steps[check]["Arguments"]["ProcessingInputs"] if i["InputName"] == "dataset"]
        assert data["S3Input"]["S3Uri"] == get(
            "Steps.PreprocessData.ProcessingOutputConfig.Outputs['clarify_dataset'].S3Output.S3Uri"
        )
        assert (config["dataset_type"], config["headers"], config["label"]) == (
            "text/csv",
            headers,
            "churned",
        )
    # No header row: as many columns as headers, and every row a customer of the test split.
    assert dataset.shape == (len(pd.read_csv(local_run / "test" / "test.csv")), len(headers))
    assert dataset.set_axis(headers, axis="columns").equals(pd.read_csv(local_run / "test" / "test.csv"))


def test_the_bias_checks_hold_the_configured_facets_against_the_configured_labels(
    built_pipeline: BuiltPipeline, config: ModelConfig
) -> None:
    assert config.clarify is not None
    pre, post = (analysis_config(built_pipeline, check) for check in ("CheckDataBias", "CheckModelBias"))

    for analysis in (pre, post):
        assert analysis["facet"] == [{"name_or_index": "senior_citizen", "value_or_threshold": [1]}]
        assert analysis["label_values_or_threshold"] == [1] == config.clarify.label_values
    assert pre["methods"]["pre_training_bias"] == {"methods": "all"}
    assert post["methods"]["post_training_bias"] == {"methods": "all"}
    # The label the model answers, its decision threshold applied: none applied here.
    assert "probability_threshold" not in post


def test_the_model_checks_call_the_model_with_its_own_contract(built_pipeline: BuiltPipeline) -> None:
    bias, explainability = (
        analysis_config(built_pipeline, check) for check in ("CheckModelBias", "CheckModelExplainability")
    )
    endpoint = {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "content_type": "application/json",
        "accept_type": "application/json",
        "content_template": '{"instances":$records}',
        "record_template": "$features_kvp",
    }

    assert bias["predictor"] == endpoint | {"label": "predictions[*].label"}
    # SHAP explains the answer's probability (of churning, for this binary model).
    assert explainability["predictor"] == endpoint | {"label": "predictions[*].probability"}
    assert explainability["methods"]["shap"] == {
        "use_logit": False,
        "save_local_shap_values": False,
        "num_samples": 100,
        "agg_method": "mean_abs",
        "seed": 42,
    }


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
    ("pipeline_fixture", "run_fixture", "checks"),
    [
        ("built_pipeline", "local_run", ("CheckModelBias", "CheckModelExplainability")),
        ("other_model_pipeline", "local_run", ("CheckModelExplainability",)),  # CSV contract
        ("multiclass_pipeline", "multiclass_run", ("CheckModelBias", "CheckModelExplainability")),
    ],
)
def test_clarify_can_read_the_models_answers(
    request: pytest.FixtureRequest, pipeline_fixture: str, run_fixture: str, checks: tuple[str, ...]
) -> None:
    """The requests Clarify writes are ones the serving handlers read, and it finds in their answers
    a label or probability per row."""
    built: BuiltPipeline = request.getfixturevalue(pipeline_fixture)
    run: Path = request.getfixturevalue(run_fixture)
    model = inference.model_fn(str(run / "model"))
    dataset = pd.read_csv(run / preprocess.CLARIFY_DATASET / f"{preprocess.CLARIFY_DATASET}.csv", header=None)

    for check in checks:
        config = analysis_config(built, check)
        rows = dataset.set_axis(config["headers"], axis="columns").drop(columns=config["label"]).head(7)
        predictor = config["predictor"]
        frame = inference.input_fn(clarify_request(rows, predictor), predictor["content_type"])
        answer, _ = inference.output_fn(inference.predict_fn(frame, model), predictor["accept_type"])

        read = clarify_reads(answer, predictor)
        assert len(read) == len(rows), check
        if check == "CheckModelBias":
            assert {str(label) for label in read} <= {str(label) for label in model.classes}
            assert set(config["label_values_or_threshold"]) <= set(model.classes)
        else:
            assert all(0.0 <= float(probability) <= 1.0 for probability in read)


def test_the_model_quality_baseline_reads_evaluates_predictions(
    built_pipeline: BuiltPipeline, multiclass_pipeline: BuiltPipeline
) -> None:
    step = all_steps(built_pipeline.definition)["BaselineModelQuality"]["Arguments"]
    multiclass = all_steps(multiclass_pipeline.definition)["BaselineModelQuality"]["Arguments"]
    (dataset,) = step["ProcessingInputs"]

    assert PREDICTION_COLUMNS == {
        "ground_truth": evaluate.LABEL_COLUMN,
        "inference": evaluate.PREDICTION_COLUMN,
        "probability": evaluate.PROBABILITY_COLUMN,
    }
    assert dataset["S3Input"]["S3Uri"] == get(
        "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['predictions'].S3Output.S3Uri"
    )
    assert step["Environment"]["dataset_source"] == dataset["S3Input"]["LocalPath"]
    assert json.loads(step["Environment"]["dataset_format"])["csv"]["header"] is True
    assert {key: step["Environment"][key] for key in ("analysis_type", "problem_type")} == {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "BinaryClassification",
    }
    assert {
        key: step["Environment"].get(key) for key in ("inference_attribute", "probability_attribute")
    } == {
        "inference_attribute": "prediction",
        "probability_attribute": "probability",
    }
    assert step["Environment"]["ground_truth_attribute"] == "label"
    # A multiclass answer's probability is the answered class's: not a score of every class.
    assert multiclass["Environment"]["problem_type"] == "MulticlassClassification"
    assert "probability_attribute" not in multiclass["Environment"]


def test_the_package_records_the_assessments_reports(built_pipeline: BuiltPipeline) -> None:
    metrics = all_steps(built_pipeline.definition)["RegisterModel"]["Arguments"]["ModelMetrics"]
    evaluation = get("Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri")

    assert metrics["ModelQuality"] == {
        # The approval gate reads the gating metric from evaluation.json.
        "Statistics": json_metrics(join(evaluation, "evaluation.json")),
        "Constraints": json_metrics(get("Steps.BaselineModelQuality.CalculatedBaselineConstraints")),
    }
    assert metrics["Bias"] == {
        "PreTrainingReport": json_metrics(get("Steps.CheckDataBias.CalculatedBaselineConstraints")),
        # The approval gate holds this report (Clarify's analysis.json) to the platform's bounds.
        "PostTrainingReport": json_metrics(get("Steps.CheckModelBias.CalculatedBaselineConstraints")),
    }
    assert metrics["Explainability"] == {
        "Report": json_metrics(get("Steps.CheckModelExplainability.CalculatedBaselineConstraints"))
    }


def test_the_package_records_the_baselines_and_configurations_the_monitors_use(
    built_pipeline: BuiltPipeline, build_env: BuildEnvironment
) -> None:
    baselines = all_steps(built_pipeline.definition)["RegisterModel"]["Arguments"]["DriftCheckBaselines"]
    configuration_prefix = f"s3://{BUCKET}/churn/clarify/{build_env.source_commit}/"

    assert baselines["ModelQuality"] == {
        "Statistics": json_metrics(get("Steps.BaselineModelQuality.BaselineUsedForDriftCheckStatistics")),
        "Constraints": json_metrics(get("Steps.BaselineModelQuality.BaselineUsedForDriftCheckConstraints")),
    }
    bias, explainability = baselines["Bias"], baselines["Explainability"]
    assert bias["PreTrainingConstraints"] == json_metrics(
        get("Steps.CheckDataBias.BaselineUsedForDriftCheckConstraints")
    )
    assert bias["PostTrainingConstraints"] == json_metrics(
        get("Steps.CheckModelBias.BaselineUsedForDriftCheckConstraints")
    )
    assert explainability["Constraints"] == json_metrics(
        get("Steps.CheckModelExplainability.BaselineUsedForDriftCheckConstraints")
    )
    # The monitors' analysis configurations, uploaded (under the commit's folder) with the definition.
    for configuration in (bias["ConfigFile"], explainability["ConfigFile"]):
        assert configuration["ContentType"] == "application/json"
        assert configuration["S3Uri"].startswith(configuration_prefix)
    bias_monitor = uploaded_json(built_pipeline, bias["ConfigFile"]["S3Uri"])
    explainability_monitor = uploaded_json(built_pipeline, explainability["ConfigFile"]["S3Uri"])
    features = preprocess.clarify_columns("churned")
    assert bias_monitor == {
        "label_values_or_threshold": [1],
        "facet": [{"name_or_index": "senior_citizen", "value_or_threshold": [1]}],
        "headers": features,
        "label": "churned",
    }
    assert explainability_monitor["headers"] == features[:-1]  # explains the features, not the label
    assert explainability_monitor["methods"]["shap"]["num_samples"] == 100


def test_the_package_carries_its_model_card_pending_review(built_pipeline: BuiltPipeline) -> None:
    steps = all_steps(built_pipeline.definition)
    card_step = steps["WriteModelCard"]
    (output,) = card_step["Arguments"]["ProcessingOutputConfig"]["Outputs"]

    assert steps["RegisterModel"]["Arguments"]["ModelCard"] == {
        "ModelCardContent": {
            "Std:JsonGet": {
                "PropertyFile": get("Steps.WriteModelCard.PropertyFiles.ModelCard"),
                "Path": "content",
            }
        },
        "ModelCardStatus": MODEL_CARD_STATUS,
    }
    assert MODEL_CARD_STATUS == "PendingReview"
    # The property file is the one model_card.py writes, where it writes it.
    assert card_step["PropertyFiles"] == [
        {"PropertyFileName": "ModelCard", "OutputName": "model_card", "FilePath": model_card.MODEL_CARD_FILE}
    ]
    assert (output["OutputName"], output["S3Output"]["LocalPath"]) == (
        "model_card",
        str(model_card.parse_args(["--card={}", *LINEAGE_ARGUMENTS]).output_dir),
    )


def test_the_card_job_gets_the_settings_the_reports_and_the_lineage(
    built_pipeline: BuiltPipeline, config: ModelConfig, build_env: BuildEnvironment
) -> None:
    step = all_steps(built_pipeline.definition)["WriteModelCard"]
    arguments = container_arguments(step)
    inputs = {i["InputName"]: i["S3Input"] for i in step["Arguments"]["ProcessingInputs"]}

    assert all(len(argument) <= 256 for argument in arguments)  # CreateProcessingJob's limit
    parsed = model_card.parse_args(arguments)
    assert config.clarify is not None
    assert json.loads("".join(parsed.card)) == config.card.model_dump()
    assert json.loads("".join(parsed.clarify)) == config.clarify.model_dump()
    assert parsed.training_data == json.dumps(get("Parameters.InputDataUrl"))
    assert parsed.source_commit == build_env.source_commit
    assert parsed.training_job_arn == json.dumps(get("Steps.TrainModel.TrainingJobArn"))
    assert parsed.model_artifact == json.dumps(get("Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"))
    assert inputs["evaluation"]["S3Uri"] == get(
        "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"
    )
    assert str(parsed.evaluation_dir) == inputs["evaluation"]["LocalPath"]
    for name, check, directory in [
        ("explainability", "CheckModelExplainability", parsed.explainability_dir),
        ("data-bias", "CheckDataBias", parsed.data_bias_dir),
        ("model-bias", "CheckModelBias", parsed.model_bias_dir),
    ]:
        # The analysis file itself, mounted where the job reads it.
        assert inputs[name]["S3Uri"] == get(f"Steps.{check}.CalculatedBaselineConstraints")
        assert inputs[name]["LocalPath"] == str(directory)


def test_a_model_without_facets_is_explained_but_not_assessed_for_bias(
    other_model_pipeline: BuiltPipeline,
) -> None:
    definition = other_model_pipeline.definition
    steps = all_steps(definition)
    register = steps["RegisterModel"]["Arguments"]
    arguments = container_arguments(steps["WriteModelCard"])

    assert [(step["Name"], step["Type"]) for step in if_steps(definition)] == [
        step for step in ASSESSMENT if step[0] not in ("CheckDataBias", "CheckModelBias")
    ]
    assert not register["ModelMetrics"].get("Bias")
    assert "Bias" not in register["DriftCheckBaselines"]
    assert set(register["ModelMetrics"]["Explainability"]) == {"Report"}
    assert set(register["DriftCheckBaselines"]["Explainability"]) == {"Constraints", "ConfigFile"}
    parsed = model_card.parse_args(arguments)
    assert (parsed.clarify, parsed.data_bias_dir, parsed.model_bias_dir) == ([], None, None)
    # The CSV contract: Clarify sends rows and reads the probability in the second column of each line.
    predictor = analysis_config(other_model_pipeline, "CheckModelExplainability")["predictor"]
    assert (predictor["content_type"], predictor["accept_type"], predictor["label"]) == (
        "text/csv",
        "text/csv",
        1,
    )
    assert "content_template" not in predictor


def test_a_multiclass_models_positive_labels_are_classes(
    multiclass_pipeline: BuiltPipeline, config: ModelConfig
) -> None:
    bias = analysis_config(multiclass_pipeline, "CheckModelBias")
    clarify = multiclass_config(config).clarify
    assert clarify is not None

    assert bias["label"] == "next_action"
    assert bias["headers"] == preprocess.clarify_columns("next_action")
    assert bias["label_values_or_threshold"] == ["cancel"] == clarify.label_values
    assert bias["predictor"]["label"] == "predictions[*].label"
