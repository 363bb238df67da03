"""The one reader of "who serves a stage" (lambdas/common/serving_state.py).

Its callers' tests exercise it through their own flows (tests/tools/test_resolve_champion.py,
test_rollback.py, test_traffic_shift.py, test_approval_gate.py); these pin the rules they share.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from lambdas.common.contracts import CHALLENGER_PARAMETER, CHAMPION_PARAMETER
from lambdas.common.serving_state import (
    Serving,
    ServingStack,
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
