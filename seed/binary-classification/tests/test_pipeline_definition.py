"""The SageMaker Pipeline definition, built offline against moto and read back as JSON: the steps
every model runs, up to the metric gate, and the package's contract and lineage
(tests/test_pipeline_assessment.py checks the assessment behind the gate)."""

import json
from pathlib import Path

import pytest

import evaluate
import preprocess
from workflow.config import ModelConfig
from workflow.environment import BuildEnvironment
from workflow.pipeline import CLARIFY_DATASET_OUTPUT, TRAIN_FEATURES_OUTPUT

from .conftest import BUCKET, BuiltPipeline
from .pipeline_definitions import Definition, all_steps, get

SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
MODEL_MONITOR_IMAGE = "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
# What every model runs, in this order; the assessment and registration run behind the gate.
GATE = "CheckAucAtLeast0_75"


@pytest.fixture(scope="module")
def definition(built_pipeline: BuiltPipeline) -> Definition:
    return built_pipeline.definition


@pytest.fixture(scope="module")
def multiclass_definition(multiclass_pipeline: BuiltPipeline) -> Definition:
    return multiclass_pipeline.definition


def test_the_pipeline_has_the_expected_parameters_and_defaults(
    definition: Definition, config: ModelConfig, build_env: BuildEnvironment
) -> None:
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}

    assert parameters == {
        "InputDataUrl": f"s3://{BUCKET}/churn/data/raw/{build_env.source_commit}/",
        "SamplePayloadUrl": (
            f"s3://{BUCKET}/churn/sample-payloads/{build_env.source_commit}/sample_payloads.tar.gz"
        ),
        # An execution started without them claims no feature group.
        "FeatureGroupName": "none",
        "EventTimeFrom": "none",
        "EventTimeTo": "none",
        "ModelApprovalStatus": "PendingManualApproval",
        "ProcessingInstanceType": config.processing_instance_type,
        "TrainingInstanceType": config.training_instance_type,
    }
    assert {p["Type"] for p in definition["Parameters"]} == {"String"}


def test_the_pipeline_records_no_experiments(definition: Definition) -> None:
    # Lineage lives in the model package; without Experiments the pipeline role needs no such rights.
    assert definition["PipelineExperimentConfig"] is None


def test_steps_run_preprocess_baseline_train_evaluate_then_the_metric_gate(definition: Definition) -> None:
    top_level = [(step["Name"], step["Type"]) for step in definition["Steps"]]

    assert top_level == [
        ("PreprocessData", "Processing"),
        ("BaselineDataQuality", "QualityCheck"),
        ("TrainModel", "Training"),
        ("EvaluateModel", "Processing"),
        ("CheckAucAtLeast0_75", "Condition"),
    ]


def test_the_baseline_runs_beside_training_and_the_gate_waits_for_it(definition: Definition) -> None:
    steps = all_steps(definition)
    baseline = steps["BaselineDataQuality"]
    references = json.dumps(baseline["Arguments"])

    # Only the preprocessed data feeds the baseline: nothing makes it wait for training.
    assert "Steps.PreprocessData." in references
    assert "Steps.TrainModel." not in references
    assert "Steps.EvaluateModel." not in references
    assert "DependsOn" not in baseline
    # Registration, inside the gate, reads the baseline's outputs; the gate waits for the step, so
    # that no package is registered without a baseline (nor is a failed baseline ignored).
    assert steps["CheckAucAtLeast0_75"]["DependsOn"] == ["BaselineDataQuality"]
    assert "Steps.BaselineDataQuality." in json.dumps(steps["RegisterModel"]["Arguments"])


def test_each_step_consumes_the_previous_steps_outputs(definition: Definition) -> None:
    steps = all_steps(definition)
    preprocess_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps["PreprocessData"]["Arguments"]["ProcessingInputs"]
    }
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in steps["TrainModel"]["Arguments"]["InputDataConfig"]
    }
    evaluate_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"] for i in steps["EvaluateModel"]["Arguments"]["ProcessingInputs"]
    }

    assert preprocess_inputs["raw"] == get("Parameters.InputDataUrl")
    assert channels["train"] == get(
        "Steps.PreprocessData.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    )
    assert channels["validation"] == get(
        "Steps.PreprocessData.ProcessingOutputConfig.Outputs['validation'].S3Output.S3Uri"
    )
    assert evaluate_inputs["model"] == get("Steps.TrainModel.ModelArtifacts.S3ModelArtifacts")
    assert evaluate_inputs["test"] == get(
        "Steps.PreprocessData.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    )


def test_jobs_run_the_scikit_learn_image_on_the_parameterised_instance_types(definition: Definition) -> None:
    steps = all_steps(definition)
    training = steps["TrainModel"]["Arguments"]

    assert training["AlgorithmSpecification"]["TrainingImage"] == SKLEARN_IMAGE
    assert training["ResourceConfig"]["InstanceType"] == get("Parameters.TrainingInstanceType")
    assert training["HyperParameters"] == {
        "learning-rate": "0.05",
        "max-iter": "150",
        "max-leaf-nodes": "8",
        "seed": "42",
        "problem-type": "binary_classification",
    }
    for name in ("PreprocessData", "EvaluateModel"):
        processing = steps[name]["Arguments"]
        assert processing["AppSpecification"]["ImageUri"] == SKLEARN_IMAGE
        assert processing["ProcessingResources"]["ClusterConfig"]["InstanceType"] == get(
            "Parameters.ProcessingInstanceType"
        )


def test_the_baseline_profiles_the_training_features_with_the_model_monitor_analyzer(
    definition: Definition, build_env: BuildEnvironment
) -> None:
    baseline = all_steps(definition)["BaselineDataQuality"]
    arguments = baseline["Arguments"]
    (dataset,) = arguments["ProcessingInputs"]
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
    environment = arguments["Environment"]

    assert arguments["AppSpecification"] == {"ImageUri": MODEL_MONITOR_IMAGE}
    assert arguments["RoleArn"] == build_env.pipeline_role_arn
    assert arguments["ProcessingResources"]["ClusterConfig"]["InstanceType"] == get(
        "Parameters.ProcessingInstanceType"
    )
    assert dataset["S3Input"]["S3Uri"] == get(
        f"Steps.PreprocessData.ProcessingOutputConfig.Outputs['{TRAIN_FEATURES_OUTPUT}'].S3Output.S3Uri"
    )
    assert environment["dataset_source"] == dataset["S3Input"]["LocalPath"]
    assert json.loads(environment["dataset_format"]) == {"json": {"lines": True}}
    assert output["S3Output"]["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{BUCKET}/churn", "pipelines", get("Execution.PipelineExecutionId"), "baseline"],
        }
    }
    assert environment["output_path"] == output["S3Output"]["LocalPath"]
    # The first run of a model has nothing to compare with: record the baseline, never fail on it.
    assert baseline["CheckType"] == "DATA_QUALITY"
    assert baseline["SkipCheck"] is True
    assert baseline["RegisterNewBaseline"] is True


def test_preprocess_uploads_its_datasets_from_where_it_writes_them(definition: Definition) -> None:
    outputs = all_steps(definition)["PreprocessData"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    local_paths = {o["OutputName"]: o["S3Output"]["LocalPath"] for o in outputs}
    default_output_dir = preprocess.parse_args([]).output_dir

    assert TRAIN_FEATURES_OUTPUT == preprocess.TRAIN_FEATURES
    assert CLARIFY_DATASET_OUTPUT == preprocess.CLARIFY_DATASET
    assert local_paths == {
        name: str(default_output_dir / name)
        for name in ("train", "validation", "test", preprocess.TRAIN_FEATURES, preprocess.CLARIFY_DATASET)
    }


def test_volumes_outputs_and_the_model_package_use_the_platform_kms_key(
    definition: Definition, build_env: BuildEnvironment
) -> None:
    steps = all_steps(definition)
    key = build_env.kms_key_arn
    training = steps["TrainModel"]["Arguments"]

    assert training["ResourceConfig"]["VolumeKmsKeyId"] == key
    assert training["OutputDataConfig"]["KmsKeyId"] == key
    for name in ("PreprocessData", "BaselineDataQuality", "EvaluateModel"):
        processing = steps[name]["Arguments"]
        assert processing["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
        assert processing["ProcessingOutputConfig"]["KmsKeyId"] == key
    assert steps["RegisterModel"]["Arguments"]["SecurityConfig"] == {"KmsKeyId": key}


def test_every_output_and_uploaded_file_stays_under_the_model_prefix(built_pipeline: BuiltPipeline) -> None:
    steps = all_steps(built_pipeline.definition)
    output_roots = [
        output["S3Output"]["S3Uri"]["Std:Join"]["Values"][0]
        for step in steps.values()
        if step["Type"] in ("Processing", "QualityCheck", "ClarifyCheck")
        for output in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    ]
    uploaded = list(built_pipeline.uploaded)

    assert set(output_roots) == {f"s3://{BUCKET}/churn"}
    assert (
        steps["TrainModel"]["Arguments"]["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/churn/models"
    )
    assert uploaded
    assert all(key.startswith("churn/") for key in uploaded)
    assert any(key.endswith("/train.py") for key in uploaded)


def test_the_gate_compares_the_evaluation_metric_with_the_configured_threshold(
    definition: Definition,
) -> None:
    gate = all_steps(definition)["CheckAucAtLeast0_75"]["Arguments"]

    assert gate["Conditions"] == [
        {
            "Type": "GreaterThanOrEqualTo",
            "LeftValue": {
                "Std:JsonGet": {
                    "PropertyFile": get("Steps.EvaluateModel.PropertyFiles.EvaluationReport"),
                    "Path": "binary_classification_metrics.auc.value",
                }
            },
            "RightValue": 0.75,
        }
    ]
    assert gate["IfSteps"][-1]["Name"] == "RegisterModel"
    assert gate["ElseSteps"] == [
        {
            "Name": "MetricBelowThreshold",
            "Type": "Fail",
            "Arguments": {"ErrorMessage": "auc is below the required 0.75: model not registered"},
        }
    ]


def test_the_gate_reads_the_report_that_evaluate_writes(definition: Definition) -> None:
    evaluate_step = all_steps(definition)["EvaluateModel"]
    outputs = evaluate_step["Arguments"]["ProcessingOutputConfig"]["Outputs"]

    assert evaluate_step["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": evaluate.EVALUATION_FILE,
        }
    ]
    assert [(o["OutputName"], o["S3Output"]["LocalPath"]) for o in outputs] == [
        ("evaluation", str(evaluate.parse_args([]).output_dir)),
        ("predictions", str(evaluate.parse_args([]).predictions_dir)),
    ]


def test_the_gate_lets_through_the_model_trained_locally(definition: Definition, local_run: Path) -> None:
    (condition,) = all_steps(definition)["CheckAucAtLeast0_75"]["Arguments"]["Conditions"]
    report = json.loads((local_run / "evaluation" / evaluate.EVALUATION_FILE).read_text())

    measured = report
    for key in condition["LeftValue"]["Std:JsonGet"]["Path"].split("."):
        measured = measured[key]

    assert measured >= condition["RightValue"]


def test_the_model_is_registered_pending_approval_with_metrics_and_lineage(
    definition: Definition, build_env: BuildEnvironment
) -> None:
    register = all_steps(definition)["RegisterModel"]
    arguments = register["Arguments"]

    assert register["Type"] == "RegisterModel"
    assert arguments["ModelPackageGroupName"] == "churn"
    assert arguments["ModelApprovalStatus"] == get("Parameters.ModelApprovalStatus")
    assert arguments["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": {
            "Std:Join": {
                "On": "/",
                "Values": [
                    get("Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"),
                    "evaluation.json",
                ],
            }
        },
    }
    assert arguments["ModelMetrics"]["ModelDataQuality"] == {
        "Statistics": {
            "ContentType": "application/json",
            "S3Uri": get("Steps.BaselineDataQuality.CalculatedBaselineStatistics"),
        },
        "Constraints": {
            "ContentType": "application/json",
            "S3Uri": get("Steps.BaselineDataQuality.CalculatedBaselineConstraints"),
        },
    }
    assert arguments["CustomerMetadataProperties"] == {
        "model_name": "churn",
        "source_commit": build_env.source_commit,
        "training_data_s3_uri": get("Parameters.InputDataUrl"),
        # Where the training set came from in the Feature Store (the platform's lineage tool reads these).
        "feature_group_name": get("Parameters.FeatureGroupName"),
        "event_time_from": get("Parameters.EventTimeFrom"),
        "event_time_to": get("Parameters.EventTimeTo"),
        "pipeline_execution_arn": get("Execution.PipelineExecutionArn"),
        "mlops:problem-type": "binary_classification",
        "mlops:content-type": "application/json",
        "mlops:accept": "application/json",
        "mlops:prediction-attribute": "label",
        "mlops:probability-attribute": "probability",
    }
    assert arguments["MetadataProperties"] == {
        "CommitId": build_env.source_commit,
        "Repository": build_env.source_repository,
        "GeneratedBy": get("Execution.PipelineExecutionArn"),
    }


def test_the_model_is_registered_with_the_baseline_the_monitor_checks_drift_against(
    definition: Definition,
) -> None:
    # The platform's Model Monitor reads DriftCheckBaselines.ModelDataQuality of the deployed package.
    drift_baselines = all_steps(definition)["RegisterModel"]["Arguments"]["DriftCheckBaselines"]

    assert {"ModelDataQuality": drift_baselines["ModelDataQuality"]} == {
        "ModelDataQuality": {
            "Statistics": {
                "ContentType": "application/json",
                "S3Uri": get("Steps.BaselineDataQuality.BaselineUsedForDriftCheckStatistics"),
            },
            "Constraints": {
                "ContentType": "application/json",
                "S3Uri": get("Steps.BaselineDataQuality.BaselineUsedForDriftCheckConstraints"),
            },
        }
    }


def test_the_registered_container_serves_the_trained_artifact_with_its_own_script(
    definition: Definition,
) -> None:
    specification = all_steps(definition)["RegisterModel"]["Arguments"]["InferenceSpecification"]
    (container,) = specification["Containers"]

    assert container["Image"] == SKLEARN_IMAGE
    assert container["ModelDataUrl"] == get("Steps.TrainModel.ModelArtifacts.S3ModelArtifacts")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert specification["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]
    assert specification["SupportedContentTypes"] == ["application/json", "text/csv"]


def test_the_package_carries_the_models_inference_contract(
    definition: Definition, config: ModelConfig
) -> None:
    arguments = all_steps(definition)["RegisterModel"]["Arguments"]
    contract = config.package_metadata.customer_metadata_properties

    # CreateModelPackage's Task and SamplePayloadUrl (register(task=..., sample_payload_url=...)).
    assert arguments["Task"] == "CLASSIFICATION"
    assert arguments["SamplePayloadUrl"] == get("Parameters.SamplePayloadUrl")
    # The contract rides along with the lineage properties, under its mlops:* names.
    assert {
        key: value
        for key, value in arguments["CustomerMetadataProperties"].items()
        if key.startswith("mlops:")
    } == contract.as_properties()
    assert arguments["InferenceSpecification"]["SupportedResponseMIMETypes"] == [
        "application/json",
        "text/csv",
    ]
    assert contract.content_type in arguments["InferenceSpecification"]["SupportedContentTypes"]


def test_the_jobs_are_told_the_problem_type(definition: Definition) -> None:
    steps = all_steps(definition)

    assert steps["PreprocessData"]["Arguments"]["AppSpecification"]["ContainerArguments"] == [
        "--problem-type",
        "binary_classification",
    ]
    assert steps["TrainModel"]["Arguments"]["HyperParameters"]["problem-type"] == "binary_classification"
    # evaluate.py reads it from the model's metadata, which training writes.
    assert "ContainerArguments" not in steps["EvaluateModel"]["Arguments"]["AppSpecification"]


class TestMulticlassModel:
    def test_the_jobs_train_and_evaluate_a_multiclass_model(self, multiclass_definition: Definition) -> None:
        steps = all_steps(multiclass_definition)

        assert steps["PreprocessData"]["Arguments"]["AppSpecification"]["ContainerArguments"] == [
            "--problem-type",
            "multiclass_classification",
        ]
        assert (
            steps["TrainModel"]["Arguments"]["HyperParameters"]["problem-type"] == "multiclass_classification"
        )

    def test_the_gate_reads_the_multiclass_section_of_the_report(
        self, multiclass_definition: Definition
    ) -> None:
        gate = all_steps(multiclass_definition)["CheckWeightedF1AtLeast0_55"]["Arguments"]

        (condition,) = gate["Conditions"]
        assert condition["Type"] == "GreaterThanOrEqualTo"
        assert (
            condition["LeftValue"]["Std:JsonGet"]["Path"]
            == "multiclass_classification_metrics.weighted_f1.value"
        )
        assert condition["RightValue"] == 0.55
        assert gate["ElseSteps"][0]["Arguments"]["ErrorMessage"] == (
            "weighted_f1 is below the required 0.55: model not registered"
        )

    def test_the_gate_lets_through_the_multiclass_model_trained_locally(
        self, multiclass_definition: Definition, multiclass_run: Path
    ) -> None:
        (condition,) = all_steps(multiclass_definition)["CheckWeightedF1AtLeast0_55"]["Arguments"][
            "Conditions"
        ]
        report = json.loads((multiclass_run / "evaluation" / evaluate.EVALUATION_FILE).read_text())

        measured = report
        for key in condition["LeftValue"]["Std:JsonGet"]["Path"].split("."):
            measured = measured[key]

        assert measured >= condition["RightValue"]

    def test_the_package_declares_the_multiclass_problem_type(
        self, multiclass_definition: Definition
    ) -> None:
        arguments = all_steps(multiclass_definition)["RegisterModel"]["Arguments"]

        assert arguments["CustomerMetadataProperties"]["mlops:problem-type"] == "multiclass_classification"
        assert arguments["Task"] == "CLASSIFICATION"


def test_another_models_settings_flow_into_the_definition(other_model_pipeline: BuiltPipeline) -> None:
    # Every metric of this template is better higher; a lower-is-better gate is the same mechanism
    # the platform uses for, say, a regression model's error.
    definition = other_model_pipeline.definition

    steps = all_steps(definition)
    gate = steps["CheckF1AtMost0_6"]["Arguments"]
    (condition,) = gate["Conditions"]
    register = steps["RegisterModel"]["Arguments"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "binary_classification_metrics.f1.value"
    assert condition["RightValue"] == 0.6
    assert gate["ElseSteps"] == [
        {
            "Name": "MetricAboveThreshold",
            "Type": "Fail",
            "Arguments": {"ErrorMessage": "f1 is above the allowed 0.6: model not registered"},
        }
    ]
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert parameters["SamplePayloadUrl"].startswith(f"s3://{BUCKET}/fraud/sample-payloads/")
    assert register["ModelPackageGroupName"] == "fraud-models"
    (baseline_output,) = steps["BaselineDataQuality"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert baseline_output["S3Output"]["S3Uri"]["Std:Join"]["Values"][0] == f"s3://{BUCKET}/fraud"
    assert register["CustomerMetadataProperties"]["model_name"] == "fraud"
    assert register["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == [
        "ml.c5.xlarge",
        "ml.m5.xlarge",
    ]
    assert all(key.startswith("fraud/") for key in other_model_pipeline.uploaded)


def test_every_job_carries_the_models_tags(definition: Definition, config: ModelConfig) -> None:
    """The platform lets the pipeline role create, read and stop only the jobs tagged with its model."""
    assert config.resource_tags == {"mlops:model": "churn"}
    jobs = {
        name: step["Arguments"]
        for name, step in all_steps(definition).items()
        if step["Type"] in ("Processing", "Training", "QualityCheck", "ClarifyCheck", "Model")
    }
    assert set(jobs) == {
        "PreprocessData",
        "BaselineDataQuality",
        "TrainModel",
        "EvaluateModel",
        "BaselineModelQuality",
        "CreateModel",
        "CheckDataBias",
        "CheckModelBias",
        "CheckModelExplainability",
        "WriteModelCard",
    }
    for name, arguments in jobs.items():
        assert {"Key": "mlops:model", "Value": "churn"} in arguments.get("Tags", []), name
