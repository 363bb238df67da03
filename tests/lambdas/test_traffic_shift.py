"""The traffic shift through its Lambda handler, in a fake AWS account (moto, in process).

Start with `test_a_harmless_challenger_is_ramped_up_then_promoted_on_evidence`: it follows one
challenger from its deployment at 10 % through the hourly runs, each on the evidence CloudWatch
reports, to its promotion. The tests after it take each decision on its own.

moto models SageMaker (the endpoint, InService at once, and its weights), SNS and EventBridge; the
alerts and the audit events are read back through SQS. botocore's Stubber answers:
- CloudWatch GetMetricData, in every run that reads evidence (`evidence`): moto computes no p99;
- DescribeEndpoint when the endpoint must be in a state moto never leaves it in (Updating);
- the failures AWS gives and moto does not: throttling, a failed weight update, a refused audit event.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from pydantic import ValidationError

from lambdas.common.aws import RetryableError
from lambdas.traffic_shift import shift
from lambdas.traffic_shift.models import ShiftSettings
from tests.lambdas.conftest import ACCOUNT, REGION, LambdaContext
from tests.lambdas.handler_probes import Telemetry, emitted_metrics
from tests.lambdas.traffic_shift_world import (
    BUSINESS_METRIC,
    BUSINESS_NAMESPACE,
    ENDPOINT,
    SHIFT_ENVIRONMENT,
    ProductionAccount,
    Traffic,
    evidence,
    load_handler,
    metric_data,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
SCHEDULED_EVENT = {
    "version": "0",
    "id": "tick-1",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-01-01T13:00:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/traffic-shift-schedule"],
    "detail": {},
}
# Evidence for the decisions, per variant over the window: invocations and the business success rate.
EQUAL = Traffic.at(9000, 0.100), Traffic.at(1000, 0.101)  # at 10 %: as good, as far as one can tell
AT_CAP_EQUAL = Traffic.at(5000, 0.100), Traffic.at(5000, 0.102)
AT_CAP_BETTER = Traffic.at(5000, 0.100), Traffic.at(5000, 0.125)  # +2.5 points: p well below 0.05


@pytest.fixture(scope="module")
def traffic_shift() -> ModuleType:
    return load_handler()


@pytest.fixture
def account() -> Iterator[ProductionAccount]:
    with mock_aws():
        yield ProductionAccount().build()


@dataclass
class Schedule:
    """The hourly EventBridge schedule that invokes the function, and what the function reported."""

    handler: ModuleType
    account: ProductionAccount
    monkeypatch: pytest.MonkeyPatch
    telemetry: Telemetry

    def run(
        self,
        champion: Traffic | None = None,
        challenger: Traffic | None = None,
        *,
        hours: float = 6,
        event: Any = SCHEDULED_EVENT,
    ) -> dict[str, Any]:
        """Invoke the handler `hours` after the endpoint's last change. CloudWatch answers with the
        given traffic; without any, the run must not ask CloudWatch at all."""
        self.at(self.account.last_modified() + timedelta(hours=hours))
        cloudwatch: AbstractContextManager[Stubber]
        if champion is None or challenger is None:
            cloudwatch = Stubber(self.handler.CLIENTS.cloudwatch)  # nothing queued: any request fails
        else:
            cloudwatch = evidence(self.handler, champion, challenger)
        with cloudwatch:
            return self.invoke(event)

    def invoke(self, event: Any = SCHEDULED_EVENT) -> dict[str, Any]:
        result: dict[str, Any] = self.handler.handler(event, LambdaContext(function_name="traffic-shift"))
        return result

    def at(self, moment: datetime) -> None:
        self.monkeypatch.setattr(self.handler, "utc_now", lambda: moment)

    def metrics(self) -> Counter[str]:
        return self.telemetry.metrics()

    def logs(self) -> list[dict[str, Any]]:
        return self.telemetry.logs()

    def decision_logs(self) -> list[dict[str, Any]]:
        return [line for line in self.logs() if "decision" in line]


@pytest.fixture
def schedule(
    traffic_shift: ModuleType,
    account: ProductionAccount,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Schedule:
    return Schedule(traffic_shift, account, monkeypatch, Telemetry(capsys, caplog, traffic_shift.logger))


# --- The story: a challenger, the evidence, a promotion -------------------------------------------------


def test_a_harmless_challenger_is_ramped_up_then_promoted_on_evidence(
    account: ProductionAccount, schedule: Schedule
) -> None:
    # The deploy pipeline put the new model next to the champion, at 10 % of the traffic.
    account.deploy(champion=90, challenger=10)

    # Hour 6: 600 requests reached the challenger. Too few to decide anything: hold.
    assert schedule.run(Traffic.at(5400, 0.10), Traffic.at(600, 0.11))["decision"] == "hold"
    assert account.weights() == {"champion": 90, "challenger": 10}

    # Once each variant has 1000 invocations and nothing is worse, the challenger gets 10 points more
    # per run, up to the 50 % cap. (Each weight change starts a new evidence window in SageMaker.)
    for champion_share in (0.9, 0.8, 0.7, 0.6):
        champion_invocations = round(1000 * champion_share / (1 - champion_share))
        outcome = schedule.run(Traffic.at(champion_invocations, 0.10), Traffic.at(1000, 0.11))
        assert outcome["decision"] == "increase"
    assert account.weights() == {"champion": 0.5, "challenger": 0.5}

    # At the cap, the sequential test decides. Not yet: +0.2 points on 5000 each is not evidence.
    assert schedule.run(*AT_CAP_EQUAL)["decision"] == "hold"
    # A day later: 10.0 % vs 12.5 % on 5000 each. The challenger is promoted.
    promoted = schedule.run(*AT_CAP_BETTER, hours=24)

    assert promoted["decision"] == "promote"
    assert account.weights() == {"champion": 0.0, "challenger": 1.0}
    decisions = [event["detail"]["decision"] for event in account.audit_events()]
    assert decisions == ["hold", "increase", "increase", "increase", "increase", "hold", "promote"]
    [alert] = account.alerts()
    assert alert["Subject"] == f"Challenger promoted on {ENDPOINT}"
    assert schedule.metrics() == Counter({"TrafficShiftHold": 2, "TrafficShiftIncrease": 4, "TrafficShiftPromote": 1})
    # Nothing is left to decide: the next run leaves the endpoint alone.
    assert schedule.run()["decision"] == "skipped"


def test_a_promotion_sets_the_weights_audits_the_evidence_and_alerts(
    account: ProductionAccount, schedule: Schedule
) -> None:
    account.deploy(champion=50, challenger=50)

    outcome = schedule.run(*AT_CAP_BETTER, hours=30)

    assert account.weights() == {"champion": 0.0, "challenger": 1.0}
    [audit] = account.audit_events()
    assert (audit["source"], audit["detail-type"], audit["resources"]) == (
        "mlops.traffic-shift",
        "Traffic Shift Decision",
        [ENDPOINT_ARN],
    )
    detail = audit["detail"]
    assert detail["endpoint_name"] == ENDPOINT
    assert detail["decision"] == "promote"
    assert (detail["old_weights"], detail["new_weights"]) == (
        {"champion": 0.5, "challenger": 0.5},
        {"champion": 0.0, "challenger": 1.0},
    )
    assert detail["variants"] == {
        "champion": {
            "invocations": 5000,
            "successes": 500,
            "success_rate": 0.1,
            "errors_5xx": 5,
            "error_rate_5xx": 0.001,
            "p99_latency_ms": 80.0,
        },
        "challenger": {
            "invocations": 5000,
            "successes": 625,
            "success_rate": 0.125,
            "errors_5xx": 5,
            "error_rate_5xx": 0.001,
            "p99_latency_ms": 80.0,
        },
    }
    tests = detail["tests"]
    assert tests["promotion_tested"] is True
    assert tests["success_rate_higher"]["difference"] == pytest.approx(0.025)
    assert tests["success_rate_higher"]["p_value"] <= tests["alpha"] == 0.05
    assert tests["success_rate_higher"]["e_value"] >= 1 / 0.05
    assert tests["success_rate_lower"]["p_value"] == 1
    assert tests["p99_latency_ratio"] == 1.0
    assert detail["reason"].startswith("promote the challenger: success rate higher: 12.50% vs 10.00%")
    # The window: from the endpoint's last change to the run, in whole minutes.
    span = datetime.fromisoformat(detail["window_end"]) - datetime.fromisoformat(detail["window_start"])
    assert timedelta(hours=29, minutes=58) <= span <= timedelta(hours=30)
    # A readable alert for the people who own the model.
    [alert] = account.alerts()
    assert alert["Subject"] == f"Challenger promoted on {ENDPOINT}"
    message = alert["Message"]
    assert "The traffic shift promoted the challenger" in message
    assert "champion 50% -> 0%, challenger 50% -> 100%" in message
    assert "challenger      5,000 invocations, success rate 12.50%" in message
    assert "success rate higher: p = " in message
    # One structured log line with the same record, one metric per endpoint.
    [log] = schedule.decision_logs()
    assert log["audit"] == detail
    assert log["trigger"] == {
        "id": "tick-1",
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "time": "2026-01-01T13:00:00Z",
    }
    assert log["level"] == "INFO"
    assert outcome == {"decision": "promote", "reason": detail["reason"], "audit": detail, "needs_attention": False}
    out = schedule.telemetry.capsys.readouterr().out
    assert emitted_metrics(out) == Counter({"TrafficShiftPromote": 1})
    [blob] = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert blob["EndpointName"] == ENDPOINT
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MLOps/TrafficShift"


# --- Rollback: harm is tested at every weight ------------------------------------------------------------


@pytest.mark.parametrize(
    ("challenger", "reason"),
    [
        (Traffic.at(1000, 0.07), "success rate lower: 7.00% vs 10.00%"),
        (Traffic.at(1000, 0.10, error_rate=0.02), "5xx rate higher: 2.00% vs 0.10%"),
        (Traffic.at(1000, 0.12, p99_ms=200), "p99 latency 2.50 x the champion's, above the limit 1.5"),
    ],
    ids=["worse-business-metric", "more-5xx", "slower"],
)
def test_a_harmful_challenger_is_rolled_back_and_alerted(
    account: ProductionAccount, schedule: Schedule, challenger: Traffic, reason: str
) -> None:
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(Traffic.at(9000, 0.10), challenger)

    assert outcome["decision"] == "rollback"
    assert account.weights() == {"champion": 1.0, "challenger": 0.0}
    [audit] = account.audit_events()
    assert audit["detail"]["decision"] == "rollback"
    assert audit["detail"]["new_weights"] == {"champion": 1.0, "challenger": 0.0}
    assert reason in audit["detail"]["reason"]
    [alert] = account.alerts()
    assert alert["Subject"] == f"Challenger rolled back on {ENDPOINT}"
    assert reason in alert["Message"]
    assert "champion 90% -> 100%, challenger 10% -> 0%" in alert["Message"]
    assert schedule.metrics() == Counter({"TrafficShiftRollback": 1})


def test_a_rolled_back_challenger_is_not_decided_on_again(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=90, challenger=10)
    schedule.run(Traffic.at(9000, 0.10), Traffic.at(1000, 0.05))
    assert len(account.audit_events()) == len(account.alerts()) == 1

    outcome = schedule.run(hours=7)  # the next hour: the challenger has no traffic, CloudWatch is not asked

    assert outcome["decision"] == "skipped"
    assert outcome["reason"] == f"the challenger of {ENDPOINT} has weight 0 (rolled back, or not started)"
    assert account.weights() == {"champion": 1.0, "challenger": 0.0}
    assert account.audit_events() == account.alerts() == []


# --- A business metric of which less is better: the same tests, their roles swapped ---------------------


@pytest.fixture
def lower_is_better(schedule: Schedule, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function deployed for a business metric that counts what should be rare (refunds)."""
    settings = ShiftSettings.from_env(SHIFT_ENVIRONMENT | {"BUSINESS_METRIC_DIRECTION": "lower_is_better"})
    monkeypatch.setattr(schedule.handler, "SETTINGS", settings)


# Refunds per invocation: the challenger's 10.0 % against the champion's 12.5 %, on 5000 each.
FEWER_REFUNDS = Traffic.at(5000, 0.125), Traffic.at(5000, 0.100)


@pytest.mark.usefixtures("lower_is_better")
def test_when_lower_is_better_a_challenger_with_a_significantly_lower_rate_is_promoted(
    account: ProductionAccount, schedule: Schedule
) -> None:
    account.deploy(champion=50, challenger=50)

    outcome = schedule.run(*FEWER_REFUNDS, hours=30)

    assert outcome["decision"] == "promote"
    assert account.weights() == {"champion": 0.0, "challenger": 1.0}
    [audit] = account.audit_events()
    detail = audit["detail"]
    assert detail["reason"].startswith(
        "promote the challenger: business metric rate lower, and lower is better: 10.00% vs 12.50%, always-valid p = "
    )
    tests = detail["tests"]
    assert tests["business_metric_direction"] == "lower_is_better"
    # The promotion test is the "lower" one; the "higher" one, a guardrail here, found nothing.
    assert tests["success_rate_lower"]["p_value"] <= tests["alpha"]
    assert tests["success_rate_lower"]["difference"] == pytest.approx(-0.025)
    assert tests["success_rate_higher"]["p_value"] == 1
    [alert] = account.alerts()
    assert alert["Subject"] == f"Challenger promoted on {ENDPOINT}"
    assert "a lower business metric rate is better" in alert["Message"]
    assert "challenger      5,000 invocations, business metric rate 10.00%" in alert["Message"]


@pytest.mark.usefixtures("lower_is_better")
def test_when_lower_is_better_a_challenger_with_a_significantly_higher_rate_is_rolled_back(
    account: ProductionAccount, schedule: Schedule
) -> None:
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(Traffic.at(9000, 0.10), Traffic.at(1000, 0.13))

    assert outcome["decision"] == "rollback"
    assert account.weights() == {"champion": 1.0, "challenger": 0.0}
    assert outcome["reason"].startswith(
        "roll back the challenger: business metric rate higher, and lower is better: 13.00% vs 10.00%"
    )
    [alert] = account.alerts()
    assert alert["Subject"] == f"Challenger rolled back on {ENDPOINT}"
    assert outcome["audit"]["tests"]["success_rate_higher"]["p_value"] <= 0.05


@pytest.mark.parametrize(("direction", "decision"), [("higher_is_better", "promote"), ("lower_is_better", "rollback")])
def test_the_same_evidence_promotes_or_rolls_back_by_the_metrics_direction(
    account: ProductionAccount, schedule: Schedule, monkeypatch: pytest.MonkeyPatch, direction: str, decision: str
) -> None:
    settings = ShiftSettings.from_env(SHIFT_ENVIRONMENT | {"BUSINESS_METRIC_DIRECTION": direction})
    monkeypatch.setattr(schedule.handler, "SETTINGS", settings)
    account.deploy(champion=50, challenger=50)

    outcome = schedule.run(*AT_CAP_BETTER)  # the challenger's rate 12.5 % against 10.0 %

    assert outcome["decision"] == decision
    assert outcome["audit"]["tests"]["business_metric_direction"] == direction


@pytest.mark.usefixtures("lower_is_better")
@pytest.mark.parametrize(
    ("challenger", "reason"),
    [
        (Traffic.at(1000, 0.05, error_rate=0.02), "5xx rate higher: 2.00% vs 0.10%"),
        (Traffic.at(1000, 0.05, p99_ms=200), "p99 latency 2.50 x the champion's, above the limit 1.5"),
    ],
    ids=["more-5xx", "slower"],
)
def test_when_lower_is_better_the_5xx_and_latency_guardrails_are_unchanged(
    account: ProductionAccount, schedule: Schedule, challenger: Traffic, reason: str
) -> None:
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(Traffic.at(9000, 0.10), challenger)  # fewer refunds, but failing or slow

    assert outcome["decision"] == "rollback"
    assert reason in outcome["reason"]


# --- Hold and increase --------------------------------------------------------------------------------------


def test_too_few_invocations_hold_whatever_they_show(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(Traffic.at(4000, 0.10), Traffic.at(400, 0.02, error_rate=0.2))

    assert outcome["decision"] == "hold"
    assert outcome["reason"] == (
        "hold at 10 %: 400 invocations in a variant, fewer than the 1,000 needed for a decision"
    )
    assert account.weights() == {"champion": 90, "challenger": 10}
    [audit] = account.audit_events()
    assert audit["detail"]["decision"] == "hold"
    assert audit["detail"]["old_weights"] == audit["detail"]["new_weights"] == {"champion": 0.9, "challenger": 0.1}
    assert account.alerts() == []
    assert schedule.metrics() == Counter({"TrafficShiftHold": 1})


@pytest.mark.parametrize(
    ("deployed", "shifted"),
    [
        ({"champion": 90, "challenger": 10}, {"champion": 0.8, "challenger": 0.2}),
        ({"champion": 3, "challenger": 1}, {"champion": 0.65, "challenger": 0.35}),  # weights are relative
        ({"champion": 55, "challenger": 45}, {"champion": 0.5, "challenger": 0.5}),  # capped at 50 %
    ],
    ids=["one-step", "relative-weights", "capped"],
)
def test_an_inconclusive_harmless_challenger_gets_one_step_more_up_to_the_cap(
    account: ProductionAccount, schedule: Schedule, deployed: dict[str, float], shifted: dict[str, float]
) -> None:
    account.deploy(**deployed)

    outcome = schedule.run(*EQUAL)

    assert outcome["decision"] == "increase"
    assert account.weights() == shifted
    [audit] = account.audit_events()
    assert audit["detail"]["new_weights"] == shifted
    assert audit["detail"]["tests"]["promotion_tested"] is False
    assert account.alerts() == []
    assert schedule.metrics() == Counter({"TrafficShiftIncrease": 1})


def test_at_the_cap_an_inconclusive_challenger_holds(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=50, challenger=50)

    outcome = schedule.run(*AT_CAP_EQUAL)

    assert outcome["decision"] == "hold"
    assert outcome["reason"].startswith("hold at the 50 % cap until a decision: no harm and no significant benefit yet")
    assert account.weights() == {"champion": 50, "challenger": 50}
    assert outcome["audit"]["tests"]["promotion_tested"] is True


def test_a_better_challenger_below_the_cap_is_shifted_not_promoted(
    account: ProductionAccount, schedule: Schedule
) -> None:
    """Promotion is decided at the cap only: there the experiment's one sequential test runs."""
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(Traffic.at(9000, 0.10), Traffic.at(1000, 0.16))

    assert outcome["decision"] == "increase"
    assert outcome["audit"]["tests"]["success_rate_higher"]["p_value"] < 0.05  # reported, not acted on
    assert account.weights() == {"champion": 0.8, "challenger": 0.2}


@pytest.mark.parametrize(
    ("evidence_found", "decision"),
    [(AT_CAP_BETTER, "hold"), ((Traffic.at(5000, 0.10), Traffic.at(5000, 0.08)), "rollback")],
    ids=["benefit-no-longer-promotes", "harm-still-rolls-back"],
)
def test_after_the_lookback_at_the_cap_promotion_is_no_longer_tested(
    account: ProductionAccount, schedule: Schedule, evidence_found: tuple[Traffic, Traffic], decision: str
) -> None:
    """After LOOKBACK_HOURS the window slides: a new test at every look would inflate false promotions."""
    account.deploy(champion=50, challenger=50)

    outcome = schedule.run(*evidence_found, hours=169)

    assert outcome["decision"] == decision
    assert outcome["audit"]["tests"]["promotion_tested"] is False
    if decision == "hold":
        assert "no decision within 168 hours at this weight" in outcome["reason"]
        assert account.weights() == {"champion": 50, "challenger": 50}


# --- Nothing to decide: logged no-ops ----------------------------------------------------------------------


def test_an_endpoint_that_is_not_in_service_is_left_alone(account: ProductionAccount, schedule: Schedule) -> None:
    """Stubber, because moto's endpoints are InService at once and stay so."""
    account.deploy(champion=90, challenger=10)
    schedule.at(account.last_modified() + timedelta(hours=6))

    with Stubber(schedule.handler.CLIENTS.sagemaker) as sagemaker:  # also fails any weight update
        sagemaker.add_response(
            "describe_endpoint", account.described(EndpointStatus="Updating"), {"EndpointName": ENDPOINT}
        )
        outcome = schedule.invoke()

    assert outcome == {
        "decision": "skipped",
        "reason": f"endpoint {ENDPOINT} is Updating, not InService",
        "needs_attention": False,
    }
    assert account.weights() == {"champion": 90, "challenger": 10}
    assert account.audit_events() == account.alerts() == []
    assert schedule.metrics() == Counter({"TrafficShiftSkipped": 1})
    assert [line["level"] for line in schedule.decision_logs()] == ["INFO"]


def test_an_endpoint_with_one_variant_is_skipped(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=100)

    outcome = schedule.run()

    assert outcome["decision"] == "skipped"
    assert outcome["reason"] == f"endpoint {ENDPOINT} serves ['champion'], not a champion and a challenger"
    assert account.weights() == {"champion": 100}
    assert account.audit_events() == []


def test_an_endpoint_that_is_not_deployed_yet_is_skipped_with_a_warning(
    account: ProductionAccount, schedule: Schedule
) -> None:
    schedule.at(datetime.now(UTC))

    outcome = schedule.invoke()

    assert outcome["decision"] == "skipped"
    assert outcome["reason"] == f"endpoint {ENDPOINT} does not exist (not deployed yet?)"
    assert [line["level"] for line in schedule.decision_logs()] == ["WARNING"]
    assert schedule.metrics() == Counter({"TrafficShiftSkipped": 1})


@pytest.mark.parametrize(
    ("challenger", "reason", "level"),
    [
        (Traffic(0, None), "no invocations of the challenger since ", "INFO"),
        (Traffic(1500, None), f"no {BUSINESS_NAMESPACE}/{BUSINESS_METRIC} datapoints for the challenger", "WARNING"),
        (Traffic(1500, 1600), "inconsistent metrics for the challenger: 1600 successes", "WARNING"),
    ],
    ids=["no-traffic", "no-business-metric", "more-successes-than-invocations"],
)
def test_no_usable_evidence_is_a_logged_no_op(
    account: ProductionAccount, schedule: Schedule, challenger: Traffic, reason: str, level: str
) -> None:
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(Traffic.at(9000, 0.10), challenger)

    assert outcome["decision"] == "skipped"
    assert reason in outcome["reason"]
    assert [line["level"] for line in schedule.decision_logs()] == [level]
    assert account.weights() == {"champion": 90, "challenger": 10}
    assert account.audit_events() == []


def test_a_run_right_after_a_change_has_no_evidence_yet(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(hours=0.01)  # 36 seconds later: not one whole minute of evidence

    assert outcome["decision"] == "skipped"
    assert "no evidence yet" in outcome["reason"]


@pytest.mark.parametrize(
    "event",
    [None, "tick", [SCHEDULED_EVENT], {}, {"id": 7, "detail": "x"}, {"time": "x" * 10_000}],
    ids=["none", "a-string", "a-list", "empty", "wrong-types", "huge-field"],
)
def test_any_event_starts_one_ordinary_run(account: ProductionAccount, schedule: Schedule, event: Any) -> None:
    account.deploy(champion=90, challenger=10)

    outcome = schedule.run(*EQUAL, event=event)

    assert outcome["decision"] == "increase"
    [log] = schedule.decision_logs()
    assert len(json.dumps(log["trigger"])) < 300


# --- AWS failing: raise, so the invocation is retried; nothing half-done --------------------------------------


def test_a_throttled_cloudwatch_raises_and_changes_nothing(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=50, challenger=50)
    schedule.at(account.last_modified() + timedelta(hours=6))

    with Stubber(schedule.handler.CLIENTS.cloudwatch) as cloudwatch:
        cloudwatch.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)
        with pytest.raises(RetryableError, match="could not read the variants' metrics"):
            schedule.invoke()

    assert account.weights() == {"champion": 50, "challenger": 50}
    assert account.audit_events() == account.alerts() == []
    assert schedule.metrics() == Counter({"TrafficShiftError": 1})
    [error] = [line for line in schedule.logs() if line["level"] == "ERROR"]
    assert error["message"] == "traffic shift failed; the invocation is retried"
    # The retry (or the next hour) decides as usual.
    assert schedule.run(*AT_CAP_BETTER)["decision"] == "promote"


def test_a_metric_query_that_failed_raises(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=50, challenger=50)
    schedule.at(account.last_modified() + timedelta(hours=6))

    with Stubber(schedule.handler.CLIENTS.cloudwatch) as cloudwatch:
        cloudwatch.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "champion_invocations", "StatusCode": "InternalError", "Values": []}]},
        )
        with pytest.raises(RetryableError, match="InternalError for champion_invocations"):
            schedule.invoke()
    assert account.audit_events() == []


def test_a_failed_weight_update_raises_before_any_audit_or_alert(
    account: ProductionAccount, schedule: Schedule
) -> None:
    account.deploy(champion=50, challenger=50)
    schedule.at(account.last_modified() + timedelta(hours=6))

    with Stubber(schedule.handler.CLIENTS.sagemaker) as sagemaker, evidence(schedule.handler, *AT_CAP_BETTER):
        sagemaker.add_response("describe_endpoint", account.described())
        sagemaker.add_client_error(
            "update_endpoint_weights_and_capacities",
            "ValidationException",
            "Cannot update in-progress endpoint",
            400,
            expected_params={
                "EndpointName": ENDPOINT,
                "DesiredWeightsAndCapacities": [
                    {"VariantName": "champion", "DesiredWeight": 0.0},
                    {"VariantName": "challenger", "DesiredWeight": 1.0},
                ],
            },
        )
        with pytest.raises(RetryableError, match=f"could not update the weights of {ENDPOINT}"):
            schedule.invoke()

    assert account.audit_events() == account.alerts() == []
    assert schedule.metrics() == Counter({"TrafficShiftError": 1})


def test_an_audit_event_refused_after_the_update_raises_and_the_retry_does_not_repeat_it(
    account: ProductionAccount, schedule: Schedule
) -> None:
    account.deploy(champion=50, challenger=50)
    schedule.at(account.last_modified() + timedelta(hours=6))

    with Stubber(schedule.handler.CLIENTS.events) as events, evidence(schedule.handler, *AT_CAP_BETTER):
        events.add_response(
            "put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
        )
        with pytest.raises(RetryableError, match="could not emit the audit event"):
            schedule.invoke()

    # The weights were changed (the audit event follows the change it records); the error log line
    # and the error metric say so, and the retry finds a concluded experiment.
    assert account.weights() == {"champion": 0.0, "challenger": 1.0}
    assert account.alerts() == []
    assert schedule.metrics() == Counter({"TrafficShiftError": 1})
    assert schedule.run()["reason"] == f"the challenger of {ENDPOINT} serves all traffic (promoted)"


# --- The evidence: one GetMetricData request over the window ---------------------------------------------------


def test_the_evidence_is_one_get_metric_data_request_over_the_window(
    account: ProductionAccount, schedule: Schedule
) -> None:
    account.deploy(champion=90, challenger=10)
    modified = account.last_modified()
    now = modified + timedelta(hours=5, minutes=30, seconds=20)
    schedule.at(now)
    start = modified.replace(second=0, microsecond=0) + timedelta(minutes=1)

    def queries(variant: str) -> list[dict[str, Any]]:
        dimensions = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
        return [
            {
                "Id": f"{variant}_{key}",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                    "Period": 6 * 3600,  # the whole window in one period
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for key, namespace, name, stat in (
                ("invocations", "AWS/SageMaker", "Invocations", "Sum"),
                ("errors", "AWS/SageMaker", "Invocation5XXErrors", "Sum"),
                ("latency", "AWS/SageMaker", "ModelLatency", "p99"),
                ("successes", BUSINESS_NAMESPACE, BUSINESS_METRIC, "Sum"),
            )
        ]

    request = {
        "MetricDataQueries": queries("champion") + queries("challenger"),
        "StartTime": start,
        "EndTime": now.replace(second=0, microsecond=0),
        "ScanBy": "TimestampAscending",
    }
    with evidence(schedule.handler, *EQUAL, expected=request):
        outcome = schedule.invoke()

    assert outcome["audit"]["window_start"] == start.isoformat().replace("+00:00", "Z")


def test_a_paginated_answer_is_read_to_the_end(account: ProductionAccount, schedule: Schedule) -> None:
    account.deploy(champion=50, challenger=50)
    schedule.at(account.last_modified() + timedelta(hours=6))
    champion, challenger = AT_CAP_BETTER

    answer = metric_data(champion, challenger, at=datetime.now())["MetricDataResults"]
    same_request = {key: ANY for key in ("MetricDataQueries", "StartTime", "EndTime", "ScanBy")}

    with Stubber(schedule.handler.CLIENTS.cloudwatch) as cloudwatch:
        cloudwatch.add_response("get_metric_data", {"MetricDataResults": answer[:5], "NextToken": "page-2"})
        cloudwatch.add_response(
            "get_metric_data", {"MetricDataResults": answer[5:]}, {**same_request, "NextToken": "page-2"}
        )
        outcome = schedule.invoke()
        cloudwatch.assert_no_pending_responses()

    assert outcome["decision"] == "promote"


@pytest.mark.parametrize(
    ("modified_hours_ago", "anchored", "start_hours_ago"),
    [(5, True, 5), (168, True, 168), (200, False, 168)],
    ids=["recent-change", "exactly-the-lookback", "older-than-the-lookback"],
)
def test_the_window_starts_at_the_later_of_the_change_and_the_lookback(
    modified_hours_ago: int, anchored: bool, start_hours_ago: int
) -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    window = shift.evidence_window(now - timedelta(hours=modified_hours_ago), now, lookback_hours=168)

    assert (window.start, window.end, window.anchored) == (now - timedelta(hours=start_hours_ago), now, anchored)
    assert window.period_seconds == start_hours_ago * 3600


def test_the_window_keeps_to_whole_minutes_inside_the_span() -> None:
    modified = datetime(2026, 3, 1, 6, 14, 5, tzinfo=UTC)
    window = shift.evidence_window(modified, datetime(2026, 3, 1, 9, 0, 59, tzinfo=UTC), lookback_hours=168)
    assert (window.start, window.end) == (
        datetime(2026, 3, 1, 6, 15, tzinfo=UTC),
        datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
    )
    assert window.period_seconds == 3 * 3600


# --- Configuration -----------------------------------------------------------------------------------------------


def test_the_optional_settings_have_the_documented_defaults() -> None:
    required = {
        key: SHIFT_ENVIRONMENT[key]
        for key in (
            "ENDPOINT_NAME",
            "BUSINESS_METRIC_NAMESPACE",
            "BUSINESS_METRIC_NAME",
            "ALERT_TOPIC_ARN",
            "AUDIT_EVENT_BUS_NAME",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
        )
    }
    settings = ShiftSettings.from_env(required)
    assert (
        settings.min_samples_per_variant,
        settings.alpha,
        settings.shift_step_percent,
        settings.max_challenger_percent,
        settings.latency_ratio_limit,
        settings.lookback_hours,
        settings.business_metric_direction,
    ) == (1000, 0.05, 10, 50, 1.5, 168, "higher_is_better")


@pytest.mark.parametrize(
    "change",
    [
        {"ENDPOINT_NAME": "churn production"},
        {"BUSINESS_METRIC_NAMESPACE": ":bad"},
        {"BUSINESS_METRIC_NAME": ""},
        {"BUSINESS_METRIC_DIRECTION": "more_is_better"},
        {"BUSINESS_METRIC_DIRECTION": ""},
        {"MIN_SAMPLES_PER_VARIANT": "10"},
        {"MIN_SAMPLES_PER_VARIANT": "many"},
        {"ALPHA": "0"},
        {"ALPHA": "0.5"},
        {"SHIFT_STEP_PERCENT": "0"},
        {"MAX_CHALLENGER_PERCENT": "100"},
        {"LATENCY_RATIO_LIMIT": "1"},
        {"LATENCY_RATIO_LIMIT": "inf"},
        {"LOOKBACK_HOURS": "0"},
        {"ALERT_TOPIC_ARN": "mlops-alerts"},
        {"AUDIT_EVENT_BUS_NAME": ""},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_a_bad_environment_fails_the_cold_start(change: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=next(iter(change))):
        ShiftSettings.from_env(SHIFT_ENVIRONMENT | change)


def test_a_missing_variable_fails_the_cold_start() -> None:
    environment = dict(SHIFT_ENVIRONMENT)
    del environment["ENDPOINT_NAME"]
    with pytest.raises(ValidationError, match="ENDPOINT_NAME"):
        ShiftSettings.from_env(environment)
