"""Champion resolution (tools/resolve_champion.py): who production serves after a deployment, and what
production's monitors take of the champion.

botocore's Stubber stands in for CloudFormation and SageMaker: moto 5.2.5's CloudFormation cannot
create the serving stack's SageMaker resources, and the failures that matter here (throttling, access
denied) are AWS answers moto never gives. Every stubbed call asserts its exact request. S3 and KMS are
moto's: the champion's Clarify analysis configs its build registered, and the one the resolution writes
for the explainability monitor.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.common.contracts import (
    BASELINE_PARAMETERS,
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    CHAMPION_VARIABLES,
    CSV_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    InferenceContract,
)
from tests.tools.conftest import REGION, client
from tools import resolve_champion
from tools.resolve_champion import EXIT_FAILED, EXIT_OK, EXIT_USAGE, AwsClients, main

STACK = "mlops-churn-production"
ENDPOINT = "mlops-churn-production"
STACK_ID = f"arn:aws:cloudformation:eu-west-1:123456789012:stack/{STACK}/0a1b2c3d"
CURRENT = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/5"
TRIAL = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/6"
NEW = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/7"
STATISTICS = "s3://data/churn/pipelines/e1/baseline/statistics.json"
CONSTRAINTS = "s3://data/churn/pipelines/e1/baseline/constraints.json"
BIAS_CONFIG = "s3://data/churn/pipelines/e1/clarify-bias/analysis_config.json"
BIAS_CONSTRAINTS = "s3://data/churn/pipelines/e1/clarify-bias/analysis.json"
EXPLAINABILITY_CONFIG = "s3://data/churn/pipelines/e1/clarify-explainability/analysis_config.json"
EXPLAINABILITY_CONSTRAINTS = "s3://data/churn/pipelines/e1/clarify-explainability/analysis.json"
# DescribeModelPackage's DriftCheckBaselines of a package built with every check the platform monitors.
DATA_QUALITY_BASELINE = {
    "ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": STATISTICS},
        "Constraints": {"ContentType": "application/json", "S3Uri": CONSTRAINTS},
    }
}
CLARIFY_BASELINES = {
    "Bias": {
        "ConfigFile": {"ContentType": "application/json", "S3Uri": BIAS_CONFIG},
        "PreTrainingConstraints": {"ContentType": "application/json", "S3Uri": "s3://data/pre-training.json"},
        "PostTrainingConstraints": {"ContentType": "application/json", "S3Uri": BIAS_CONSTRAINTS},
    },
    "Explainability": {
        "ConfigFile": {"ContentType": "application/json", "S3Uri": EXPLAINABILITY_CONFIG},
        "Constraints": {"ContentType": "application/json", "S3Uri": EXPLAINABILITY_CONSTRAINTS},
    },
}
ALL_BASELINES = DATA_QUALITY_BASELINE | CLARIFY_BASELINES
# The model's inference contract, which its packages record (CustomerMetadataProperties).
CONTRACT = InferenceContract(
    "binary_classification", JSON_CONTENT_TYPE, JSON_CONTENT_TYPE, "label", probability_attribute="probability"
)
CSV_CONTRACT = InferenceContract(
    "binary_classification", CSV_CONTENT_TYPE, CSV_CONTENT_TYPE, "0", probability_attribute="1"
)
FEATURES = ["tenure_months", "monthly_charges", "contract-type"]
# The monitoring analysis configs as ClarifyCheckStep uploads them (the SDK's ExplainabilityAnalysisConfig
# and BiasAnalysisConfig): the explainability one without the label, its predictor without a model.
EXPLAINABILITY_DOCUMENT = {
    "headers": FEATURES,
    "methods": {"shap": {"num_samples": 100, "agg_method": "mean_abs", "save_local_shap_values": False, "seed": 42}},
    "predictor": {
        "instance_type": "ml.c5.large",
        "initial_instance_count": 1,
        "content_type": "application/json",
        "accept_type": "application/json",
        "content_template": '{"instances":$records}',
        "record_template": "$features_kvp",
    },
}
BIAS_DOCUMENT = {
    "headers": [*FEATURES, "churned"],
    "label": "churned",
    "label_values_or_threshold": [1],
    "facet": [{"name_or_index": "contract-type", "value_or_threshold": ["month-to-month"]}],
}
# Where the deploy pipeline's monitors write (the data capture bucket), and the platform key.
CAPTURES = "mlops-churn-captures"
MONITORING_OUTPUT = f"s3://{CAPTURES}/churn/monitoring"
FEATURE_NAMES = "tenure_months,monthly_charges,contract-type"


def written_config(champion: str) -> str:
    return f"{MONITORING_OUTPUT}/clarify-configs/model-explainability-{champion.rsplit('/', 1)[1]}.json"


@pytest.fixture
def kms_key() -> Iterator[str]:
    """A fake account (moto) with the champion's Clarify configs in its data bucket, the data capture
    bucket, and the platform key (its ARN)."""
    with mock_aws():
        s3 = client("s3")
        for bucket in ("data", CAPTURES):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for uri, document in ((EXPLAINABILITY_CONFIG, EXPLAINABILITY_DOCUMENT), (BIAS_CONFIG, BIAS_DOCUMENT)):
            s3.put_object(Bucket="data", Key=uri.removeprefix("s3://data/"), Body=json.dumps(document).encode())
        yield client("kms").create_key(Description="platform")["KeyMetadata"]["Arn"]


@pytest.fixture
def stubs(kms_key: str) -> Iterator[tuple[Stubber, Stubber]]:
    cloudformation, sagemaker = Stubber(client("cloudformation")), Stubber(client("sagemaker"))
    with cloudformation, sagemaker:
        yield cloudformation, sagemaker
        cloudformation.assert_no_pending_responses()
        sagemaker.assert_no_pending_responses()


def s3_object(uri: str) -> dict[str, Any]:
    """The object at `uri` in the fake account: its JSON and how it is encrypted."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    answer = client("s3").get_object(Bucket=bucket, Key=key)
    return {
        "document": json.loads(answer["Body"].read()),
        "encryption": (answer.get("ServerSideEncryption"), answer.get("SSEKMSKeyId")),
        "content_type": answer["ContentType"],
    }


def stack_exists(stubber: Stubber, champion: str, challenger: str = "", status: str = "UPDATE_COMPLETE") -> None:
    parameters = [
        {"ParameterKey": CHAMPION_PARAMETER, "ParameterValue": champion},
        {"ParameterKey": CHALLENGER_PARAMETER, "ParameterValue": challenger},
        {"ParameterKey": "ExecutionRoleArn", "ParameterValue": "arn:aws:iam::123456789012:role/serving"},
    ]
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": STACK,
                    "StackId": STACK_ID,
                    "StackStatus": status,
                    "CreationTime": "2026-11-01T00:00:00Z",
                    "Parameters": parameters,
                }
            ]
        },
        {"StackName": STACK},
    )


def stack_missing(stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK} does not exist",
        http_status_code=400,
        expected_params={"StackName": STACK},
    )


def endpoint_weights(stubber: Stubber, **weights: float) -> None:
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
            "EndpointConfigName": "config",
            "EndpointStatus": "InService",
            "CreationTime": "2026-11-01T00:00:00Z",
            "LastModifiedTime": "2026-11-02T00:00:00Z",
            "ProductionVariants": [
                {"VariantName": name, "CurrentWeight": weight, "DesiredWeight": weight}
                for name, weight in weights.items()
            ],
        },
        {"EndpointName": ENDPOINT},
    )


def package(
    stubber: Stubber,
    arn: str,
    *,
    baselines: dict[str, Any] | None = ALL_BASELINES,
    contract: InferenceContract | None = CONTRACT,
) -> None:
    """DescribeModelPackage of `arn`, with these DriftCheckBaselines (None: a package with none), recording
    `contract` (None: none) and the model's inference instance type, as the seeds' builds register them."""
    answer: dict[str, Any] = {
        "ModelPackageName": "churn",
        "ModelPackageArn": arn,
        "CreationTime": "2026-11-01T00:00:00Z",
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "InferenceSpecification": {
            "Containers": [{"Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1.2-1"}],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            "SupportedTransformInstanceTypes": ["ml.m5.large"],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    }
    if baselines is not None:
        answer["DriftCheckBaselines"] = baselines
    if contract is not None:
        answer["CustomerMetadataProperties"] = contract.to_properties()
    stubber.add_response("describe_model_package", answer, {"ModelPackageName": arn})


def run(tmp_path: Path, new: str = NEW, *, replace: bool = False, kms_key: str = "") -> tuple[int, dict[str, str]]:
    """main() with the stubbed clients; the exported variables as a shell would see them after sourcing.

    `replace`: a batch model's resolution (no endpoint; the new package replaces the champion).
    """
    output = tmp_path / "champion.env"
    serving = ["--replace"] if replace else ["--endpoint-name", ENDPOINT]
    written = ["--monitoring-output-s3-uri", MONITORING_OUTPUT, "--kms-key-arn", kms_key or "arn:aws:kms:key/none"]
    code = main(
        ["--stack-name", STACK, *serving, "--new-package-arn", new, "--output", str(output), *written],
        clients=AwsClients(cloudformation=client("cloudformation"), sagemaker=client("sagemaker"), s3=client("s3")),
    )
    if not output.exists():
        return code, {}
    names = " ".join(f'"${name}"' for name in resolve_champion.EXPORTED)
    shown = subprocess.run(  # noqa: S603 - sources the file the tool wrote, as the buildspec does
        ["/bin/bash", "-c", f". {shlex.quote(str(output))} && printf '%s\\n' {names}"],
        capture_output=True,
        text=True,
        check=True,
        env={},
    ).stdout.split("\n")
    return code, dict(zip(resolve_champion.EXPORTED, shown, strict=False))


def exported(champion: str, challenger: str, *, data_quality: bool = True, clarify: bool = True) -> dict[str, str]:
    """What the deploy action receives: the packages, and the champion's baselines ("" where it has none):
    the explainability monitor's the config written for this deployment, and the features' selection."""
    return {
        "CHAMPION_ARN": champion,
        "CHALLENGER_ARN": challenger,
        "BASELINE_STATISTICS": STATISTICS if data_quality else "",
        "BASELINE_CONSTRAINTS": CONSTRAINTS if data_quality else "",
        "BIAS_ANALYSIS_CONFIG": BIAS_CONFIG if clarify else "",
        "BIAS_CONSTRAINTS": BIAS_CONSTRAINTS if clarify else "",
        "EXPLAINABILITY_ANALYSIS_CONFIG": written_config(champion) if clarify else "",
        "EXPLAINABILITY_CONSTRAINTS": EXPLAINABILITY_CONSTRAINTS if clarify else "",
        "CLARIFY_FEATURES": FEATURE_NAMES if clarify else "",
    }


def test_first_deployment_makes_the_package_champion_alone(stubs, tmp_path: Path) -> None:
    cloudformation, sagemaker = stubs
    stack_missing(cloudformation)
    package(sagemaker, NEW)
    assert run(tmp_path) == (EXIT_OK, exported(NEW, ""))


def test_next_deployment_adds_the_package_as_challenger_monitored_against_the_champion(stubs, tmp_path: Path) -> None:
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT)
    endpoint_weights(sagemaker, champion=1.0)
    package(sagemaker, CURRENT)
    assert run(tmp_path) == (EXIT_OK, exported(CURRENT, NEW))


def test_a_challenger_the_traffic_shift_promoted_is_the_champion_now(stubs, tmp_path: Path) -> None:
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT, TRIAL)
    endpoint_weights(sagemaker, champion=0.0, challenger=1.0)
    package(sagemaker, TRIAL)
    assert run(tmp_path) == (EXIT_OK, exported(TRIAL, NEW))


def test_a_challenger_still_on_trial_is_replaced_and_the_champion_stays(stubs, tmp_path: Path) -> None:
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT, TRIAL)
    endpoint_weights(sagemaker, champion=0.7, challenger=0.3)
    package(sagemaker, CURRENT)
    assert run(tmp_path) == (EXIT_OK, exported(CURRENT, NEW))


def test_redeploying_the_champion_serves_it_alone_and_a_package_without_baseline_is_unmonitored(
    stubs, tmp_path: Path
) -> None:
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, NEW, TRIAL)
    endpoint_weights(sagemaker, champion=0.9, challenger=0.1)
    package(sagemaker, NEW, baselines=None)
    assert run(tmp_path) == (EXIT_OK, exported(NEW, "", data_quality=False, clarify=False))


def test_a_champion_registered_before_its_build_ran_clarify_is_monitored_for_data_quality_only(
    stubs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Empty Clarify baselines: the template's conditions leave its bias and explainability monitors out."""
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT)
    endpoint_weights(sagemaker, champion=1.0)
    package(sagemaker, CURRENT, baselines=DATA_QUALITY_BASELINE)
    assert run(tmp_path) == (EXIT_OK, exported(CURRENT, NEW, clarify=False))
    assert "baselines=BaselineStatisticsS3Uri, BaselineConstraintsS3Uri\n" in capsys.readouterr().out


def test_every_baseline_the_template_takes_is_exported_from_where_the_package_carries_it(
    stubs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The variables are contracts.CHAMPION_VARIABLES; each sets the template parameter of the same baseline."""
    cloudformation, sagemaker = stubs
    stack_missing(cloudformation)
    package(sagemaker, NEW)
    code, variables = run(tmp_path)
    assert code == EXIT_OK
    assert set(variables) == set(CHAMPION_VARIABLES) == set(exported(NEW, ""))
    parameters = {CHAMPION_VARIABLES[variable]: value for variable, value in variables.items()}
    assert {parameter: parameters[parameter] for parameter in BASELINE_PARAMETERS} == {
        "BaselineStatisticsS3Uri": STATISTICS,
        "BaselineConstraintsS3Uri": CONSTRAINTS,
        "BiasAnalysisConfigS3Uri": BIAS_CONFIG,
        "BiasConstraintsS3Uri": BIAS_CONSTRAINTS,  # post-training: what the model's predictions are judged on
        # The package's config, written for this deployment with the model to explain (tested below).
        "ExplainabilityAnalysisConfigS3Uri": written_config(NEW),
        "ExplainabilityConstraintsS3Uri": EXPLAINABILITY_CONSTRAINTS,
    }
    assert parameters["ClarifyFeatureNames"] == FEATURE_NAMES
    assert f"baseline={CONSTRAINTS} baselines=" in capsys.readouterr().out


def test_a_stack_whose_endpoint_is_gone_keeps_its_champion_parameter(stubs, tmp_path: Path) -> None:
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT, TRIAL)
    sagemaker.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "{ENDPOINT}".',
        http_status_code=400,
    )
    package(sagemaker, CURRENT)
    assert run(tmp_path) == (EXIT_OK, exported(CURRENT, NEW))


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        ("Throttling", "Rate exceeded", 400),
        ("AccessDenied", "not authorized to perform: cloudformation:DescribeStacks", 403),
        ("ValidationError", "1 validation error detected: Value at 'stackName' failed", 400),
        ("InternalFailure", "internal error", 500),
    ],
)
def test_a_production_stack_that_cannot_be_read_fails_the_action(
    stubs, tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, message: str, status: int
) -> None:
    """Only "does not exist" means no production: anything else would drop the serving champion."""
    cloudformation, _ = stubs
    cloudformation.add_client_error(
        "describe_stacks", service_error_code=code, service_message=message, http_status_code=status
    )
    assert run(tmp_path) == (EXIT_FAILED, {})
    assert code in capsys.readouterr().err
    assert not (tmp_path / "champion.env").exists(), "nothing may be exported for the deploy action"


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_an_endpoint_that_cannot_be_read_fails_the_action(stubs, tmp_path: Path, code: str) -> None:
    """A promoted challenger is only visible in the weights: guessing would demote it."""
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT, TRIAL)
    sagemaker.add_client_error("describe_endpoint", service_error_code=code, http_status_code=400)
    assert run(tmp_path) == (EXIT_FAILED, {})


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("UPDATE_IN_PROGRESS", "wait for the operation in progress"),
        ("ROLLBACK_COMPLETE", "its first deployment failed and nothing is served: delete the stack"),
        ("UPDATE_ROLLBACK_FAILED", "it needs attention in the CloudFormation console first"),
    ],
)
def test_a_production_stack_that_cannot_be_updated_now_fails_the_action_saying_why(
    stubs, tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str, advice: str
) -> None:
    cloudformation, _ = stubs
    stack_exists(cloudformation, CURRENT, status=status)
    assert run(tmp_path) == (EXIT_FAILED, {})
    error = capsys.readouterr().err
    assert f"production stack {STACK} is {status}: {advice}" in error


def test_a_champion_package_that_cannot_be_read_fails_the_action(stubs, tmp_path: Path) -> None:
    """Its baseline decides what Model Monitor watches: an empty one would switch monitoring off."""
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT)
    endpoint_weights(sagemaker, champion=1.0)
    sagemaker.add_client_error("describe_model_package", service_error_code="ThrottlingException")
    assert run(tmp_path) == (EXIT_FAILED, {})


def test_a_new_package_that_is_not_a_versioned_package_arn_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path, new="arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/churn")
    assert exit_info.value.code == EXIT_USAGE


# --- what production's Clarify monitors take of the champion ------------------------------------------


def test_the_explainability_config_names_the_champions_model_to_explain_and_is_written_encrypted(
    stubs, tmp_path: Path, kms_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The package's monitoring config has no model (ClarifyCheckStep drops it); Kernel SHAP needs one:
    the config written for the deployment names the model the production template creates of the champion,
    its shadow endpoints under production's name, and how to call it and read its score."""
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT)
    endpoint_weights(sagemaker, champion=1.0)
    package(sagemaker, CURRENT)
    code, variables = run(tmp_path, kms_key=kms_key)
    assert (code, variables["EXPLAINABILITY_ANALYSIS_CONFIG"]) == (EXIT_OK, written_config(CURRENT))
    written = s3_object(written_config(CURRENT))
    assert written["encryption"] == ("aws:kms", kms_key)
    assert written["content_type"] == "application/json"
    config = written["document"]
    assert {key: config[key] for key in ("headers", "methods")} == {
        key: EXPLAINABILITY_DOCUMENT[key] for key in ("headers", "methods")
    }, "the analysis the baseline was computed with"
    assert config["predictor"] == {
        "model_name": "mlops-churn-production-clarify-5",  # contracts.clarify_model_name: the champion's version
        "instance_type": "ml.m5.large",  # the package's inference instance type
        "initial_instance_count": 1,
        "content_type": "application/json",
        "accept_type": "application/json",
        "content_template": '{"instances":$records}',
        "record_template": "$features_kvp",
        "label": "predictions[*].probability",  # the score the baseline explained, for every record
        "endpoint_name_prefix": "mlops-churn-production-clarify",  # what the monitoring role may create
    }
    assert f"explainability config={written_config(CURRENT)}" in capsys.readouterr().out


def test_a_csv_models_config_calls_it_with_rows_and_reads_its_scores_by_column(
    stubs, tmp_path: Path, kms_key: str
) -> None:
    cloudformation, sagemaker = stubs
    stack_missing(cloudformation)
    package(sagemaker, NEW, contract=CSV_CONTRACT)
    code, variables = run(tmp_path, kms_key=kms_key)
    assert code == EXIT_OK
    assert variables["CLARIFY_FEATURES"] == "", "a CSV request's rows are its features"
    predictor = s3_object(written_config(NEW))["document"]["predictor"]
    assert (predictor["content_type"], predictor["accept_type"], predictor["label"]) == ("text/csv", "text/csv", 1)
    assert "content_template" not in predictor
    assert "record_template" not in predictor


def test_a_champion_with_a_bias_baseline_only_gets_its_features_located_and_no_config_written(
    stubs, tmp_path: Path, kms_key: str
) -> None:
    """The bias monitor needs no model (it judges captured predictions): its features by the bias config's
    headers, the label (which requests do not hold) left out."""
    cloudformation, sagemaker = stubs
    stack_missing(cloudformation)
    package(sagemaker, NEW, baselines={"Bias": CLARIFY_BASELINES["Bias"]})
    code, variables = run(tmp_path, kms_key=kms_key)
    assert code == EXIT_OK
    assert (variables["CLARIFY_FEATURES"], variables["EXPLAINABILITY_ANALYSIS_CONFIG"]) == (FEATURE_NAMES, "")
    assert client("s3").list_objects_v2(Bucket=CAPTURES).get("KeyCount") == 0


@pytest.mark.parametrize(
    ("contract", "document", "reason"),
    [
        (None, EXPLAINABILITY_DOCUMENT, "records no inference contract"),
        (CONTRACT, {**EXPLAINABILITY_DOCUMENT, "headers": []}, "no feature names"),
        (
            CONTRACT,
            {**EXPLAINABILITY_DOCUMENT, "headers": [f"feature_{n:03}_of_the_model" for n in range(12)]},
            "more than the 256 a monitoring job takes",
        ),
        (CONTRACT, ["not", "a", "config"], "not an analysis config"),
    ],
)
def test_a_champion_whose_clarify_baseline_cannot_be_run_fails_the_action(
    stubs, tmp_path: Path, capsys: pytest.CaptureFixture[str], contract, document, reason: str
) -> None:
    """Deploying it would leave production unexplained, or the monitor failing every hour unnoticed."""
    client("s3").put_object(
        Bucket="data", Key=EXPLAINABILITY_CONFIG.removeprefix("s3://data/"), Body=json.dumps(document).encode()
    )
    cloudformation, sagemaker = stubs
    stack_missing(cloudformation)
    package(sagemaker, NEW, contract=contract)
    assert run(tmp_path) == (EXIT_FAILED, {})
    error = capsys.readouterr().err
    assert reason in error
    assert error.endswith("; nothing is deployed\n")


def test_a_clarify_config_that_cannot_be_read_fails_the_action(
    stubs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client("s3").delete_object(Bucket="data", Key=EXPLAINABILITY_CONFIG.removeprefix("s3://data/"))
    cloudformation, sagemaker = stubs
    stack_missing(cloudformation)
    package(sagemaker, NEW)
    assert run(tmp_path) == (EXIT_FAILED, {})
    assert "NoSuchKey" in capsys.readouterr().err


def test_the_monitoring_output_and_key_default_to_what_the_pipeline_sets_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arguments = ["--stack-name", STACK, "--replace", "--new-package-arn", NEW, "--output", str(tmp_path / "e")]
    with pytest.raises(SystemExit) as missing:
        resolve_champion.parse_args(arguments)
    assert missing.value.code == EXIT_USAGE
    monkeypatch.setenv("MONITORING_OUTPUT_S3_URI", MONITORING_OUTPUT)
    monkeypatch.setenv("MONITORING_KMS_KEY_ARN", "arn:aws:kms:eu-west-1:123456789012:key/k")
    parsed = resolve_champion.parse_args(arguments)
    assert (parsed.monitoring_output_s3_uri, parsed.kms_key_arn) == (
        MONITORING_OUTPUT,
        "arn:aws:kms:eu-west-1:123456789012:key/k",
    )


def test_values_are_shell_quoted_so_an_answer_cannot_inject_commands(tmp_path: Path) -> None:
    rendered = resolve_champion.render_exports({"CHAMPION_ARN": "x'; touch /tmp/owned; '"})
    assert rendered == "export CHAMPION_ARN='x'\"'\"'; touch /tmp/owned; '\"'\"''\n"


# --- a batch model: no endpoint, no A/B ------------------------------------------------------------


def test_a_batch_package_replaces_the_champion_and_brings_its_own_baseline(stubs, tmp_path: Path) -> None:
    cloudformation, sagemaker = stubs
    stack_exists(cloudformation, CURRENT)  # no endpoint is read: the stubs would fail on any other call
    package(sagemaker, NEW)
    assert run(tmp_path, replace=True) == (EXIT_OK, exported(NEW, ""))


def test_a_first_batch_deployment_makes_the_package_champion(stubs, tmp_path: Path) -> None:
    cloudformation, sagemaker = stubs
    stack_missing(cloudformation)
    package(sagemaker, NEW, baselines=None)
    assert run(tmp_path, replace=True) == (EXIT_OK, exported(NEW, "", data_quality=False, clarify=False))


def test_a_batch_stack_that_cannot_be_updated_now_fails_the_action(stubs, tmp_path: Path) -> None:
    cloudformation, _ = stubs
    stack_exists(cloudformation, CURRENT, status="UPDATE_IN_PROGRESS")
    assert run(tmp_path, replace=True) == (EXIT_FAILED, {})


def test_endpoint_and_replace_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--stack-name", STACK, "--endpoint-name", ENDPOINT, "--replace", "--new-package-arn", NEW,
              "--output", str(tmp_path / "x")])  # fmt: skip
    assert raised.value.code == EXIT_USAGE
