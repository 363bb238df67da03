"""The endpoint smoke test (tools/smoke_test.py) against a fake endpoint.

moto models the endpoint itself (DescribeEndpoint of an InService endpoint with its variants); the
answers of SageMaker Runtime come from botocore's Stubber, which also asserts every request exactly
(body, content types, target variant). A fake clock moves forward when the endpoint answers, by the
latency the test gives each variant, so "slow" costs no time.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from tests.tools.conftest import ACCOUNT, REGION, client
from tools import smoke_test
from tools.smoke_test import Request, check_answer, load_requests, percentile, run_smoke_test

SAMPLE_PAYLOADS = Path(__file__).resolve().parents[2] / "seed" / "model_build" / "sample_payloads.json"
ENDPOINT = "mlops-churn-staging"
VARIANTS = ("champion", "challenger")


class FakeClock:
    """A clock that only moves when the endpoint answers, by that answer's latency."""

    def __init__(self, latency_ms: Callable[[str | None], float]) -> None:
        self.now = 1000.0
        self._latency_ms = latency_ms

    def __call__(self) -> float:
        return self.now

    def attach(self, runtime: Any) -> None:
        runtime.meta.events.register("after-call.sagemaker-runtime.InvokeEndpoint", self._answered)

    def detach(self, runtime: Any) -> None:
        runtime.meta.events.unregister("after-call.sagemaker-runtime.InvokeEndpoint", self._answered)

    def _answered(self, parsed: dict[str, Any], **_: Any) -> None:
        self.now += self._latency_ms(parsed.get("InvokedProductionVariant")) / 1000


@pytest.fixture
def endpoint(aws: None) -> str:
    """An InService endpoint with a champion and a challenger variant, in moto."""
    sagemaker = client("sagemaker")
    role = f"arn:aws:iam::{ACCOUNT}:role/serving"
    for variant in VARIANTS:
        sagemaker.create_model(
            ModelName=f"churn-{variant}",
            ExecutionRoleArn=role,
            Containers=[{"ModelPackageName": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/1"}],
        )
    sagemaker.create_endpoint_config(
        EndpointConfigName="churn-config",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": f"churn-{variant}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, weight in zip(VARIANTS, (0.9, 0.1), strict=True)
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="churn-config")
    return ENDPOINT


@pytest.fixture
def runtime() -> Iterator[Stubber]:
    """The SageMaker Runtime client, stubbed: every answer is queued by the test, every request asserted."""
    stubber = Stubber(client("sagemaker-runtime"))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def requests() -> list[Request]:
    return load_requests([SAMPLE_PAYLOADS])


def good_answer(request: Request, variant: str) -> dict[str, Any]:
    predictions = [{"churn_probability": 0.1 * (i % 10), "churned": i % 2} for i in range(request.instances)]
    return answer(json.dumps({"predictions": predictions}).encode(), variant)


def answer(body: bytes, variant: str) -> dict[str, Any]:
    return {
        "Body": StreamingBody(io.BytesIO(body), len(body)),
        "ContentType": "application/json",
        "InvokedProductionVariant": variant,
    }


def expected_request(request: Request, variant: str) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "Body": request.body,
        "ContentType": "application/json",
        "Accept": "application/json",
        "TargetVariant": variant,
    }


def queue_answers(
    runtime: Stubber,
    requests: Sequence[Request],
    *,
    rounds: int,
    answer_for: Callable[[Request, str], dict[str, Any]] = good_answer,
) -> None:
    """Queue, in the order the smoke test sends them, the answers to every request of every round."""
    for _ in range(rounds):
        for variant in VARIANTS:
            for request in requests:
                runtime.add_response(
                    "invoke_endpoint", answer_for(request, variant), expected_request(request, variant)
                )


def run(
    requests: Sequence[Request],
    *,
    rounds: int = 1,
    max_p95_latency_ms: float = 1000,
    latency_ms: Callable[[str | None], float] = lambda _: 80.0,
    sleep: Callable[[float], None] | None = None,
) -> smoke_test.Report:
    runtime_client = client("sagemaker-runtime")
    clock = FakeClock(latency_ms)
    clock.attach(runtime_client)
    try:
        return run_smoke_test(
            client("sagemaker"),
            runtime_client,
            endpoint_name=ENDPOINT,
            requests=requests,
            rounds=rounds,
            max_p95_latency_ms=max_p95_latency_ms,
            clock=clock,
            sleep=sleep or _no_sleep,
        )
    finally:
        clock.detach(runtime_client)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected backoff of {seconds} s")


class TestPasses:
    def test_good_answers_from_every_variant_within_the_limit_pass(
        self, endpoint: str, runtime: Stubber, requests: list[Request]
    ) -> None:
        queue_answers(runtime, requests, rounds=2)

        report = run(requests, rounds=2, latency_ms=lambda variant: 120.0 if variant == "challenger" else 80.0)

        assert report.problems() == []
        summary = report.summary()
        assert summary["passed"] is True
        # 8 instances alone and as one batch, to both variants, twice.
        assert (summary["requests"], summary["errors"], summary["malformed"]) == (9 * 2 * 2, 0, 0)
        assert summary["latency_ms"] == {"p50": 80.0, "p95": 120.0, "max": 120.0}
        assert summary["variants"]["champion"]["latency_ms"]["p95"] == 80.0
        assert summary["variants"]["challenger"]["requests"] == 18

    def test_throttling_is_retried_with_backoff_and_not_counted_as_latency(
        self, endpoint: str, runtime: Stubber
    ) -> None:
        request = _single_request()
        runtime.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
        runtime.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
        runtime.add_response("invoke_endpoint", good_answer(request, "champion"), expected_request(request, "champion"))
        runtime.add_response(
            "invoke_endpoint", good_answer(request, "challenger"), expected_request(request, "challenger")
        )
        sleeps: list[float] = []

        report = run([request], sleep=sleeps.append)

        assert report.passed
        assert sleeps == [0.5, 1.0]
        assert report.summary()["throttled_retries"] == 2
        assert report.summary()["latency_ms"]["max"] == 80.0  # each throttled attempt took 80 ms too


class TestFails:
    @pytest.mark.parametrize(
        ("code", "status", "fields", "expected"),
        [
            pytest.param(
                "ModelError",
                424,
                {
                    "OriginalStatusCode": 500,
                    "OriginalMessage": "KeyError: 'tenure_months'",
                    "LogStreamArn": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/x",
                },
                ["ModelError (HTTP 424)", "the model answered 500: KeyError: 'tenure_months'", "logs: arn:aws:logs"],
                id="model-error",
            ),
            pytest.param("ValidationError", 400, {}, ["ValidationError (HTTP 400)"], id="4xx"),
            pytest.param("InternalFailure", 500, {}, ["InternalFailure (HTTP 500)"], id="5xx"),
            pytest.param("ServiceUnavailable", 503, {}, ["ServiceUnavailable (HTTP 503)"], id="unavailable"),
        ],
    )
    def test_an_invocation_error_fails_with_the_error_in_the_report(
        self,
        endpoint: str,
        runtime: Stubber,
        code: str,
        status: int,
        fields: dict[str, Any],
        expected: list[str],
    ) -> None:
        request = _single_request()
        runtime.add_response("invoke_endpoint", good_answer(request, "champion"), expected_request(request, "champion"))
        runtime.add_client_error(
            "invoke_endpoint", code, "the endpoint says no", http_status_code=status, modeled_fields=fields
        )

        report = run([request])

        assert not report.passed
        assert report.summary()["errors"] == 1
        assert report.summary()["variants"]["challenger"]["errors"] == 1
        [problem] = report.problems()
        assert problem.startswith("round 1, variant challenger, one.json instance 1: ")
        for text in expected:
            assert text in problem

    def test_throttling_beyond_the_bounded_retries_is_an_error(self, endpoint: str, runtime: Stubber) -> None:
        request = _single_request()
        for _ in range(1 + smoke_test.MAX_THROTTLE_RETRIES):
            runtime.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
        runtime.add_response(
            "invoke_endpoint", good_answer(request, "challenger"), expected_request(request, "challenger")
        )
        sleeps: list[float] = []

        report = run([request], sleep=sleeps.append)

        assert sleeps == [0.5, 1.0, 2.0]
        [problem] = report.problems()
        assert "variant champion" in problem
        assert "ThrottlingException" in problem
        assert "after 3 throttled retries" in problem

    def test_a_malformed_answer_fails(self, endpoint: str, runtime: Stubber, requests: list[Request]) -> None:
        batch = requests[-1]
        assert batch.instances == 8

        def one_prediction_short(request: Request, variant: str) -> dict[str, Any]:
            if request is batch and variant == "challenger":
                predictions = [{"churn_probability": 0.5, "churned": 1}] * 7
                return answer(json.dumps({"predictions": predictions}).encode(), variant)
            return good_answer(request, variant)

        queue_answers(runtime, requests, rounds=1, answer_for=one_prediction_short)

        report = run(requests)

        assert report.problems() == [
            "round 1, variant challenger, sample_payloads.json batch of 8: 7 predictions for 8 instances"
        ]
        assert report.summary()["malformed"] == 1
        assert report.summary()["errors"] == 0

    def test_a_slow_variant_fails_on_its_p95(self, endpoint: str, runtime: Stubber, requests: list[Request]) -> None:
        queue_answers(runtime, requests, rounds=1)

        report = run(requests, latency_ms=lambda variant: 1500.0 if variant == "challenger" else 100.0)

        assert report.problems() == ["variant challenger: p95 latency 1500 ms exceeds the limit of 1000 ms"]
        assert report.summary()["variants"]["challenger"]["latency_ms"]["p95"] == 1500.0

    @pytest.mark.parametrize(("slow_answers", "passes"), [(1, True), (2, False)])
    def test_the_limit_is_on_the_p95_not_the_maximum(
        self, endpoint: str, runtime: Stubber, slow_answers: int, passes: bool
    ) -> None:
        # 20 answers per variant: the p95 (nearest rank) is the 19th fastest, so one outlier is tolerated.
        request = _single_request()
        queue_answers(runtime, [request], rounds=20)
        answered: dict[str | None, int] = {}

        def latency(variant: str | None) -> float:
            answered[variant] = answered.get(variant, 0) + 1
            return 5000.0 if answered[variant] <= slow_answers else 200.0

        report = run([request], rounds=20, latency_ms=latency)

        assert report.passed is passes
        assert report.summary()["latency_ms"]["max"] == 5000.0

    def test_exactly_the_limit_passes(self, endpoint: str, runtime: Stubber) -> None:
        request = _single_request()
        queue_answers(runtime, [request], rounds=1)
        assert run([request], latency_ms=lambda _: 1000.0).passed

    @pytest.mark.parametrize(
        ("status", "failure_reason", "expected"),
        [
            ("Updating", None, f"endpoint {ENDPOINT} is Updating, not InService"),
            ("Creating", None, f"endpoint {ENDPOINT} is Creating, not InService"),
            (
                "Failed",
                "The primary container did not pass the ping health check.",
                f"endpoint {ENDPOINT} is Failed (The primary container did not pass the ping health check.), "
                "not InService",
            ),
        ],
    )
    def test_an_endpoint_not_in_service_fails_without_being_invoked(
        self, runtime: Stubber, status: str, failure_reason: str | None, expected: str
    ) -> None:
        with Stubber(client("sagemaker")) as describe:
            describe.add_response(
                "describe_endpoint", _described(status, failure_reason=failure_reason), {"EndpointName": ENDPOINT}
            )
            report = run([_single_request()])  # the runtime stubber has no answer: any invocation would raise

        assert report.problems() == [expected]
        assert report.summary()["requests"] == 0

    def test_a_missing_endpoint_fails(self, aws: None, runtime: Stubber) -> None:
        report = run([_single_request()])
        [problem] = report.problems()
        assert problem.startswith(f"cannot describe endpoint {ENDPOINT}: ValidationException")


class TestAnswerCheck:
    @pytest.mark.parametrize(
        ("body", "instances", "problem"),
        [
            (b"<html>502 Bad Gateway</html>", 1, "answer is not JSON"),
            (b'"0.3"', 1, 'answer has no "predictions" list'),
            (b'{"probabilities": [0.3]}', 1, 'answer has no "predictions" list'),
            (b'{"predictions": "0.3"}', 1, 'answer has no "predictions" list'),
            (b'{"predictions": []}', 1, "0 predictions for 1 instances"),
            (b'{"predictions": [0.3]}', 1, "prediction 1 is not an object"),
            (b'{"predictions": [{"churned": 1}]}', 1, "churn_probability None is not a number in [0, 1]"),
            (b'{"predictions": [{"churn_probability": 1.5, "churned": 1}]}', 1, "churn_probability 1.5 is not"),
            (b'{"predictions": [{"churn_probability": -0.1, "churned": 0}]}', 1, "churn_probability -0.1 is not"),
            (b'{"predictions": [{"churn_probability": NaN, "churned": 0}]}', 1, "churn_probability nan is not"),
            (b'{"predictions": [{"churn_probability": "0.3", "churned": 0}]}', 1, "churn_probability '0.3' is not"),
            (b'{"predictions": [{"churn_probability": true, "churned": 1}]}', 1, "churn_probability True is not"),
            (b'{"predictions": [{"churn_probability": 0.3, "churned": 2}]}', 1, "churned 2 is not 0 or 1"),
            (b'{"predictions": [{"churn_probability": 0.3, "churned": true}]}', 1, "churned True is not 0 or 1"),
            (b'{"predictions": [{"churn_probability": 0.3}]}', 1, "churned None is not 0 or 1"),
            (
                b'{"predictions": [{"churn_probability": 0.3, "churned": 0}, {"churn_probability": 0.9, "churned": "1"}]}',
                2,
                "prediction 2: churned '1' is not 0 or 1",
            ),
        ],
    )
    def test_a_malformed_answer_is_described(self, body: bytes, instances: int, problem: str) -> None:
        found = check_answer(body, instances)
        assert found is not None
        assert problem in found

    @given(
        st.lists(
            st.fixed_dictionaries(
                {
                    "churn_probability": st.floats(min_value=0, max_value=1) | st.sampled_from([0, 1]),
                    "churned": st.sampled_from([0, 1]),
                }
            ),
            min_size=1,
        )
    )
    def test_any_well_formed_answer_is_accepted(self, predictions: list[dict[str, Any]]) -> None:
        assert check_answer(json.dumps({"predictions": predictions}).encode(), len(predictions)) is None


class TestPercentile:
    @given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1), st.sampled_from([50, 95, 99, 100]))
    def test_nearest_rank(self, samples: list[float], pct: int) -> None:
        value = percentile(samples, pct)
        assert value in samples
        at_or_below = sum(1 for sample in samples if sample <= value)
        below = sum(1 for sample in samples if sample < value)
        # At least pct% of the samples are at or below it, and it is the smallest sample with that property.
        assert at_or_below >= math.ceil(pct / 100 * len(samples))
        assert below < math.ceil(pct / 100 * len(samples))

    def test_examples(self) -> None:
        assert percentile([3.0, 1.0, 2.0], 50) == 2.0
        assert percentile([float(n) for n in range(1, 21)], 95) == 19.0
        assert percentile([7.0], 95) == 7.0


class TestPayloads:
    def test_each_instance_is_a_request_and_the_file_a_batch(self, requests: list[Request]) -> None:
        instances = json.loads(SAMPLE_PAYLOADS.read_text())["instances"]
        assert [json.loads(r.body) for r in requests] == [{"instances": [i]} for i in instances] + [
            {"instances": instances}
        ]
        assert [r.instances for r in requests] == [1] * len(instances) + [len(instances)]
        assert requests[0].name == "sample_payloads.json instance 1"

    def test_several_files_are_read_in_order(self, tmp_path: Path) -> None:
        first, second = (
            _payload_file(tmp_path, "first.json", [{"a": 1}]),
            _payload_file(tmp_path, "second.json", [{"b": 2}, {"b": 3}]),
        )
        names = [r.name for r in load_requests([first, second])]
        assert names == [
            "first.json instance 1",
            "second.json instance 1",
            "second.json instance 2",
            "second.json batch of 2",
        ]

    @pytest.mark.parametrize(
        ("content", "problem"),
        [
            ("{not json", "not valid JSON"),
            ('[{"a": 1}]', 'expected {"instances": [...]}'),
            ('{"instances": []}', 'expected {"instances": [...]}'),
            ('{"records": [{"a": 1}]}', 'expected {"instances": [...]}'),
            ('{"instances": [{"a": 1}, 5]}', "instance 2 is not an object of features"),
            ('{"instances": [{}]}', "instance 1 is not an object of features"),
        ],
    )
    def test_an_unusable_file_is_refused_with_its_name(self, tmp_path: Path, content: str, problem: str) -> None:
        path = tmp_path / "bad.json"
        path.write_text(content)
        with pytest.raises(smoke_test.PayloadError, match=r"bad\.json") as refused:
            load_requests([path])
        assert problem in str(refused.value)

    def test_a_missing_file_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(smoke_test.PayloadError, match="cannot read the payload file"):
            load_requests([tmp_path / "missing.json"])


# The data contract of the churn model's features (seed/binary-classification/workflow/schema.py): whole
# numbers, numbers (low, high) and categories.
INTEGER_FEATURES = {
    "tenure_months": (0, 72),
    "support_calls_90d": (0, 90),
    "late_payments_12m": (0, 12),
    "senior_citizen": (0, 1),
    "paperless_billing": (0, 1),
}
NUMBER_FEATURES = {"monthly_charges": (15.0, 150.0), "total_charges": (0.0, math.inf)}
CATEGORY_FEATURES = {
    "contract_type": ("month-to-month", "one-year", "two-year"),
    "payment_method": ("electronic-check", "mailed-check", "bank-transfer", "credit-card"),
    "internet_service": ("dsl", "fiber-optic", "none"),
}


def contract_violations(instance: dict[str, Any]) -> dict[str, Any]:
    """The features of an instance that are missing, unknown or outside the data contract."""
    expected = {*INTEGER_FEATURES, *NUMBER_FEATURES, *CATEGORY_FEATURES}
    violations = {name: "missing" for name in expected - set(instance)}
    violations |= {name: "unknown feature" for name in set(instance) - expected}
    for name, value in instance.items():
        if name in INTEGER_FEATURES:
            low, high = INTEGER_FEATURES[name]
            valid = _is_int(value) and low <= value <= high
        elif name in NUMBER_FEATURES:
            low_number, high_number = NUMBER_FEATURES[name]
            valid = _is_number(value) and low_number <= value <= high_number
        else:
            valid = value in CATEGORY_FEATURES.get(name, ())
        if not valid and name in expected:
            violations[name] = value
    return violations


@pytest.fixture(scope="module")
def instances() -> list[dict[str, Any]]:
    document = json.loads(SAMPLE_PAYLOADS.read_text())
    assert list(document) == ["instances"]
    instances: list[dict[str, Any]] = document["instances"]
    return instances


class TestSamplePayloads:
    """The seed's sample payloads are what the smoke test sends: realistic customers, inside the data contract."""

    def test_every_instance_has_every_feature_within_its_range(self, instances: list[dict[str, Any]]) -> None:
        assert len(instances) >= 8
        for number, instance in enumerate(instances, start=1):
            assert contract_violations(instance) == {}, f"instance {number}"

    @pytest.mark.parametrize(
        ("change", "violation"),
        [
            ({"tenure_months": 73}, {"tenure_months": 73}),
            ({"tenure_months": 12.5}, {"tenure_months": 12.5}),
            ({"senior_citizen": True}, {"senior_citizen": True}),
            ({"monthly_charges": 14.99}, {"monthly_charges": 14.99}),
            ({"total_charges": -1}, {"total_charges": -1}),
            ({"contract_type": "monthly"}, {"contract_type": "monthly"}),
            ({"customer_id": "C000001"}, {"customer_id": "unknown feature"}),
        ],
    )
    def test_the_contract_check_finds_violations(
        self, instances: list[dict[str, Any]], change: dict[str, Any], violation: dict[str, Any]
    ) -> None:
        assert contract_violations({**instances[0], **change}) == violation
        missing = dict(instances[0])
        del missing["internet_service"]
        assert contract_violations(missing) == {"internet_service": "missing"}

    def test_instances_are_varied(self, instances: list[dict[str, Any]]) -> None:
        for category, values in CATEGORY_FEATURES.items():
            assert {i[category] for i in instances} == set(values), f"not every {category} is represented"
        assert {i["senior_citizen"] for i in instances} == {0, 1}
        assert len({json.dumps(i, sort_keys=True) for i in instances}) == len(instances)

    def test_total_charges_are_consistent_with_tenure(self, instances: list[dict[str, Any]]) -> None:
        # A customer pays about monthly_charges a month: within 25% (and a month) of tenure * monthly charges.
        for instance in instances:
            expected = instance["tenure_months"] * instance["monthly_charges"]
            assert abs(instance["total_charges"] - expected) <= 0.25 * expected + instance["monthly_charges"]


class TestMain:
    def test_passes_prints_the_summary_and_exits_0(
        self, endpoint: str, runtime: Stubber, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        requests = load_requests([SAMPLE_PAYLOADS])
        queue_answers(runtime, requests, rounds=1)
        monkeypatch.setattr(
            smoke_test, "make_clients", lambda region: (client("sagemaker"), client("sagemaker-runtime"))
        )

        code = smoke_test.main(
            [
                "--endpoint-name",
                ENDPOINT,
                "--payloads",
                str(SAMPLE_PAYLOADS),
                "--rounds",
                "1",
                "--max-p95-latency-ms",
                "60000",
            ]
        )

        out, err = capsys.readouterr()
        assert code == 0
        assert json.loads(out)["requests"] == 18
        assert json.loads(out)["passed"] is True
        assert err == ""

    def test_fails_with_a_readable_report_and_exits_1(
        self, aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(
            smoke_test, "make_clients", lambda region: (client("sagemaker"), client("sagemaker-runtime"))
        )

        code = smoke_test.main(["--endpoint-name", ENDPOINT, "--payloads", str(SAMPLE_PAYLOADS)])

        out, err = capsys.readouterr()
        assert code == 1
        assert json.loads(out)["passed"] is False
        assert err.startswith("SMOKE TEST FAILED: 1 problem(s)\n  - cannot describe endpoint mlops-churn-staging")

    def test_an_unusable_payload_file_exits_2_before_any_call(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(smoke_test, "make_clients", _no_clients)
        code = smoke_test.main(["--endpoint-name", ENDPOINT, "--payloads", str(tmp_path / "missing.json")])
        assert code == 2
        assert "missing.json: cannot read the payload file" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "argument", [["--rounds", "0"], ["--max-p95-latency-ms", "-5"], ["--max-p95-latency-ms", "nan"]]
    )
    def test_bad_arguments_exit_2(self, argument: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(smoke_test, "make_clients", _no_clients)
        with pytest.raises(SystemExit) as exited:
            smoke_test.main(["--endpoint-name", ENDPOINT, "--payloads", str(SAMPLE_PAYLOADS), *argument])
        assert exited.value.code == 2

    def test_the_problem_list_is_capped(self) -> None:
        text = smoke_test.format_problems([f"problem {n}" for n in range(25)])
        assert text.splitlines()[0] == "SMOKE TEST FAILED: 25 problem(s)"
        assert "problem 19" in text
        assert "problem 20" not in text
        assert text.splitlines()[-1] == "  ... and 5 more"


def _no_clients(region: str | None) -> tuple[Any, Any]:
    raise AssertionError("no AWS client may be created")


def _single_request() -> Request:
    return Request("one.json instance 1", json.dumps({"instances": [{"tenure_months": 3}]}).encode(), 1)


def _payload_file(directory: Path, name: str, instances: list[dict[str, Any]]) -> Path:
    path = directory / name
    path.write_text(json.dumps({"instances": instances}))
    return path


def _described(status: str, *, failure_reason: str | None = None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": "churn-config",
        "EndpointStatus": status,
        "CreationTime": "2026-01-01T00:00:00Z",
        "LastModifiedTime": "2026-01-01T00:00:00Z",
        "ProductionVariants": [{"VariantName": variant} for variant in VARIANTS],
    }
    if failure_reason:
        described["FailureReason"] = failure_reason
    return described


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
