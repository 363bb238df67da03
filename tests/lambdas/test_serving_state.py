"""The one reader of "who serves a stage" (lambdas/common/serving_state.py).

Its callers' tests exercise it through their own flows (tests/tools/test_resolve_champion.py,
test_rollback.py, test_traffic_shift.py, test_approval_gate.py); these pin the rules they share.
"""

from __future__ import annotations

import jmespath
import pytest
from botocore.exceptions import ClientError

from lambdas.common.contracts import (
    CHALLENGER_PARAMETER,
    CHAMPION_PARAMETER,
    CSV_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    InferenceContract,
    clarify_answer_attribute,
    clarify_feature_names,
    clarify_features_attribute,
    explained_attribute,
    quoted,
)
from lambdas.common.serving_state import (
    ClarifyDeployment,
    Serving,
    ServingStack,
    champion_baselines,
    clarify_deployment,
    endpoint_missing,
    package_baselines,
    stack_missing,
    variant_weights,
    who_serves,
)

CHAMPION, CHALLENGER = "arn:champion", "arn:challenger"


def _stack(**parameters: str) -> ServingStack:
    return ServingStack(name="s", stack_id="id", status="UPDATE_COMPLETE", parameters=parameters)


def _error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Describe")


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"champion": 1.0, "challenger": 0.0}, Serving(CHAMPION, CHALLENGER)),
        ({"champion": 0.9, "challenger": 0.1}, Serving(CHAMPION, CHALLENGER)),
        ({"champion": 0.5, "challenger": 0.5}, Serving(CHAMPION, CHALLENGER)),  # a tie is no promotion
        ({"champion": 0.4, "challenger": 0.6}, Serving(CHALLENGER, CHAMPION)),
        ({"champion": 0.0, "challenger": 1.0}, Serving(CHALLENGER, CHAMPION)),
        ({"champion": None, "challenger": "1"}, Serving(CHAMPION, CHALLENGER)),  # unusable weights change nothing
        (None, Serving(CHAMPION, CHALLENGER)),  # the endpoint is gone: the parameters say it all
    ],
)
def test_the_champion_is_the_parameter_unless_the_challenger_carries_more_traffic(weights, expected) -> None:
    stack = _stack(**{CHAMPION_PARAMETER: CHAMPION, CHALLENGER_PARAMETER: CHALLENGER})
    assert who_serves(stack, weights) == expected


def test_without_a_challenger_the_weights_do_not_matter() -> None:
    assert who_serves(_stack(**{CHAMPION_PARAMETER: CHAMPION, CHALLENGER_PARAMETER: ""}), {"challenger": 1}) == (
        Serving(CHAMPION, None)
    )
    staging = _stack(**{CHAMPION_PARAMETER: CHAMPION})
    assert staging.challenger is None, "staging templates have no challenger parameter"
    assert who_serves(staging, {}) == Serving(CHAMPION, None)


def test_only_does_not_exist_means_nothing_deployed() -> None:
    assert stack_missing(_error("ValidationError", "Stack with id mlops-churn-production does not exist"))
    assert not stack_missing(_error("ValidationError", "1 validation error detected"))
    assert not stack_missing(_error("Throttling", "Rate exceeded"))
    assert not stack_missing(_error("AccessDenied", "Stack with id x does not exist"))
    assert endpoint_missing(_error("ValidationException", 'Could not find endpoint "e".'))
    assert not endpoint_missing(_error("ValidationException", "Endpoint name is too long"))
    assert not endpoint_missing(_error("AccessDeniedException", 'Could not find endpoint "e".'))


def test_weights_are_the_current_ones_by_variant() -> None:
    described = {"ProductionVariants": [{"VariantName": "champion", "CurrentWeight": 0.7, "DesiredWeight": 1.0}]}
    assert variant_weights(described) == {"champion": 0.7}
    assert variant_weights({}) == {}


def test_a_package_without_a_baseline_gives_empty_parameters() -> None:
    """Every baseline the serving templates take (data quality, Clarify's bias and explainability): empty."""
    assert package_baselines({}) == {
        "BaselineStatisticsS3Uri": "",
        "BaselineConstraintsS3Uri": "",
        "BiasAnalysisConfigS3Uri": "",
        "BiasConstraintsS3Uri": "",
        "ExplainabilityAnalysisConfigS3Uri": "",
        "ExplainabilityConstraintsS3Uri": "",
    }
    assert package_baselines({"DriftCheckBaselines": {"Bias": {"ConfigFile": {}}}}) == package_baselines({})


# --- what production's Clarify monitors read of a capture (lambdas/common/contracts.py) -------------------

JSON_CONTRACT = InferenceContract(
    "binary_classification", JSON_CONTENT_TYPE, JSON_CONTENT_TYPE, "label", probability_attribute="probability"
)
# A captured request of the platform's JSON contract, its records' keys in no particular order, and its answer.
CAPTURED_REQUEST = {
    "instances": [
        {"plan": "basic", "tenure-months": 3, "age": 34},
        {"age": 61, "tenure-months": 40, "plan": "premium"},
    ]
}
CAPTURED_ANSWER = {"predictions": [{"label": 0, "probability": 0.2}, {"label": 1, "probability": 0.9}]}


def test_clarify_reads_a_captured_json_requests_features_as_rows_in_the_order_of_the_headers() -> None:
    """The explainability monitor reads every record (each one explained); the bias monitor the first, the
    one a request's label is joined with, as model quality reads the answer."""
    names = clarify_feature_names(["age", "tenure-months", "plan"])
    assert names == "age,tenure-months,plan", "nothing JSON escapes: CodePipeline passes it on as it is"
    every = clarify_features_attribute(quoted(names), first_only=False)
    assert every == 'instances[*].["age","tenure-months","plan"]'
    assert jmespath.search(every, CAPTURED_REQUEST) == [[34, 3, "basic"], [61, 40, "premium"]]
    first = clarify_features_attribute(quoted(names), first_only=True)
    assert jmespath.search(first, CAPTURED_REQUEST) == [34, 3, "basic"]
    scores = clarify_answer_attribute(JSON_CONTRACT, explained_attribute(JSON_CONTRACT))
    assert jmespath.search(scores, CAPTURED_ANSWER) == [0.2, 0.9], "one score per record"
    assert jmespath.search(JSON_CONTRACT.monitor_attribute("label"), CAPTURED_ANSWER) == 0


def test_a_csv_answers_score_is_its_column_and_a_model_without_probability_explains_its_prediction() -> None:
    csv = InferenceContract("regression", CSV_CONTENT_TYPE, CSV_CONTENT_TYPE, "0")
    assert clarify_answer_attribute(csv, explained_attribute(csv)) == "0"
    with pytest.raises(ValueError, match="no feature names"):
        clarify_feature_names([])
    for unsafe in ("a,b", 'a"b', "a\\b", "", "a\nb"):
        with pytest.raises(ValueError, match="may not be empty nor hold"):
            clarify_feature_names(["ok", unsafe])


class _NoReads:
    def get_object(self, **_: object) -> None:
        raise AssertionError("nothing to read")


def test_a_champion_without_clarify_baselines_or_with_csv_bias_only_needs_nothing_read() -> None:
    """No explainability config to write, no features to select: the template's monitors are off (or read CSV)."""
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/m/1"
    where = {"package_arn": arn, "serving_name": "s", "monitoring_output_s3_uri": "s3://m"}
    assert clarify_deployment(_NoReads(), {}, **where) == ClarifyDeployment()
    csv_bias_only = {
        "DriftCheckBaselines": {
            "Bias": {"ConfigFile": {"S3Uri": "s3://d/b.json"}, "PostTrainingConstraints": {"S3Uri": "s3://d/p.json"}}
        },
        "CustomerMetadataProperties": InferenceContract(
            "regression", CSV_CONTENT_TYPE, CSV_CONTENT_TYPE, "0"
        ).to_properties(),
    }
    deployment = clarify_deployment(_NoReads(), csv_bias_only, **where)
    assert deployment == ClarifyDeployment()
    # The package's own bias baseline stays; the features' selection is empty (CSV rows are features).
    assert champion_baselines(csv_bias_only, deployment)["BiasAnalysisConfigS3Uri"] == "s3://d/b.json"
    assert champion_baselines(csv_bias_only, deployment)["ClarifyFeatureNames"] == ""
