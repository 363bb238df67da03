"""The endpoint smoke test (tools/smoke_test.py) against a fake endpoint.

moto models the endpoint itself (DescribeEndpoint of an InService endpoint with its variants), the
model package and its sample archive; the answers of SageMaker Runtime come from botocore's Stubber,
which also asserts every request exactly (body, content types, target variant). A fake clock moves
forward when the endpoint answers, by the latency the test gives each variant, so "slow" costs no time.
What a contract's answers must look like is tested with tools/answers.py; here, that the
smoke test sends and judges by the package's contract.
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

from lambdas.common.contracts import CSV_CONTENT_TYPE, SAMPLE_PAYLOADS_FILE, InferenceContract
from tests.tools.conftest import (
    ACCOUNT,
    CONTRACTS,
    INSTANCES,
    REGION,
    SAMPLE_URL,
    answer_body,
    client,
    create_package,
    payload_document,
    prediction,
    put_sample_archive,
)
from tools import smoke_test
from tools.inference_contract import Payload, Sample
from tools.smoke_test import Request, build_requests, percentile, run_smoke_test

ENDPOINT = "mlops-model-staging"
VARIANTS = ("champion", "challenger")
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/model/1"
BINARY = CONTRACTS["binary-json"]


def sample_of(contract: InferenceContract = BINARY, instances: Sequence[dict[str, Any]] = INSTANCES) -> Sample:
    return Sample(PACKAGE, contract, "package", (Payload(SAMPLE_PAYLOADS_FILE, tuple(instances)),), SAMPLE_URL)


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
            ModelName=f"model-{variant}", ExecutionRoleArn=role, Containers=[{"ModelPackageName": PACKAGE}]
        )
    sagemaker.create_endpoint_config(
        EndpointConfigName="model-config",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": f"model-{variant}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, weight in zip(VARIANTS, (0.9, 0.1), strict=True)
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="model-config")
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
    return build_requests(sample_of())


def good_answer(request: Request, variant: str, contract: InferenceContract = BINARY) -> dict[str, Any]:
    return answer(answer_body(contract, [prediction(contract, i) for i in range(request.instances)]), variant)


def answer(body: bytes, variant: str) -> dict[str, Any]:
    return {
        "Body": StreamingBody(io.BytesIO(body), len(body)),
        "ContentType": "application/json",
        "InvokedProductionVariant": variant,
    }


def expected_request(request: Request, variant: str, contract: InferenceContract = BINARY) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "Body": request.body,
        "ContentType": contract.content_type,
        "Accept": contract.accept,
        "TargetVariant": variant,
    }


def queue_answers(
    runtime: Stubber,
    requests: Sequence[Request],
    *,
    rounds: int,
    answer_for: Callable[[Request, str], dict[str, Any]] = good_answer,
    contract: InferenceContract = BINARY,
) -> None:
    """Queue, in the order the smoke test sends them, the answers to every request of every round."""
    for _ in range(rounds):
        for variant in VARIANTS:
            for request in requests:
                runtime.add_response(
                    "invoke_endpoint", answer_for(request, variant), expected_request(request, variant, contract)
                )


def run(
    sample: Sample | None = None,
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
            sample=sample or sample_of(),
            rounds=rounds,
            max_p95_latency_ms=max_p95_latency_ms,
            clock=clock,
            sleep=sleep or _no_sleep,
        )
    finally:
        clock.detach(runtime_client)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected backoff of {seconds} s")


class TestRequests:
    def test_each_instance_is_a_request_and_the_payload_a_batch(self, requests: list[Request]) -> None:
        assert [json.loads(r.body) for r in requests] == [{"instances": [i]} for i in INSTANCES] + [
            {"instances": INSTANCES}
        ]
        assert [r.instances for r in requests] == [1, 1, 1, 3]
        assert [r.name for r in requests] == [
            "sample_payloads.json instance 1",
            "sample_payloads.json instance 2",
            "sample_payloads.json instance 3",
            "sample_payloads.json batch of 3",
        ]

    def test_csv_requests_are_rows(self) -> None:
        requests = build_requests(sample_of(CONTRACTS["binary-csv"]))
        assert [r.body for r in requests] == [
            b"34,basic,20.5\n",
            b'61,"premium, annual",99.0\n',
            b"19,basic,0\n",
            b'34,basic,20.5\n61,"premium, annual",99.0\n19,basic,0\n',
        ]

    def test_several_payloads_are_sent_in_order_and_a_single_instance_has_no_batch(self) -> None:
        payloads = (Payload("first.json", ({"a": 1},)), Payload("second.json", ({"b": 2}, {"b": 3})))
        sample = Sample(PACKAGE, BINARY, "package", payloads, "first.json, second.json")
        assert [r.name for r in build_requests(sample)] == [
            "first.json instance 1",
            "second.json instance 1",
            "second.json instance 2",
            "second.json batch of 2",
        ]


class TestPasses:
    def test_good_answers_from_every_variant_within_the_limit_pass(
        self, endpoint: str, runtime: Stubber, requests: list[Request]
    ) -> None:
        queue_answers(runtime, requests, rounds=2)

        report = run(rounds=2, latency_ms=lambda variant: 120.0 if variant == "challenger" else 80.0)

        assert report.problems() == []
        summary = report.summary()
        assert summary["passed"] is True
        # 3 instances alone and as one batch, to both variants, twice.
        assert (summary["requests"], summary["errors"], summary["malformed"]) == (4 * 2 * 2, 0, 0)
        assert summary["latency_ms"] == {"p50": 80.0, "p95": 120.0, "max": 120.0}
        assert summary["variants"]["champion"]["latency_ms"]["p95"] == 80.0
        assert summary["variants"]["challenger"]["requests"] == 8
        assert (summary["model_package"], summary["contract_source"], summary["payloads"]) == (
            PACKAGE,
            "package",
            SAMPLE_URL,
        )
        assert summary["contract"]["prediction_attribute"] == "label"

    @pytest.mark.parametrize("name", sorted(CONTRACTS))
    def test_each_contract_s_content_types_are_sent_and_its_answers_judged(
        self, endpoint: str, runtime: Stubber, name: str
    ) -> None:
        contract = CONTRACTS[name]
        sample = sample_of(contract)
        requests = build_requests(sample)
        queue_answers(
            runtime,
            requests,
            rounds=1,
            contract=contract,
            answer_for=lambda request, variant: good_answer(request, variant, contract),
        )

        report = run(sample)

        assert report.problems() == []
        assert report.summary()["requests"] == 8

    def test_throttling_is_retried_with_backoff_and_not_counted_as_latency(
        self, endpoint: str, runtime: Stubber
    ) -> None:
        sample = sample_of(instances=INSTANCES[:1])
        [request] = build_requests(sample)
        runtime.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
        runtime.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
        runtime.add_response("invoke_endpoint", good_answer(request, "champion"), expected_request(request, "champion"))
        runtime.add_response(
            "invoke_endpoint", good_answer(request, "challenger"), expected_request(request, "challenger")
        )
        sleeps: list[float] = []

        report = run(sample, sleep=sleeps.append)

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
                    "OriginalMessage": "KeyError: 'age'",
                    "LogStreamArn": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/x",
                },
                ["ModelError (HTTP 424)", "the model answered 500: KeyError: 'age'", "logs: arn:aws:logs"],
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
        sample = sample_of(instances=INSTANCES[:1])
        [request] = build_requests(sample)
        runtime.add_response("invoke_endpoint", good_answer(request, "champion"), expected_request(request, "champion"))
        runtime.add_client_error(
            "invoke_endpoint", code, "the endpoint says no", http_status_code=status, modeled_fields=fields
        )

        report = run(sample)

        assert not report.passed
        assert report.summary()["errors"] == 1
        assert report.summary()["variants"]["challenger"]["errors"] == 1
        [problem] = report.problems()
        assert problem.startswith("round 1, variant challenger, sample_payloads.json instance 1: ")
        for text in expected:
            assert text in problem

    def test_throttling_beyond_the_bounded_retries_is_an_error(self, endpoint: str, runtime: Stubber) -> None:
        sample = sample_of(instances=INSTANCES[:1])
        [request] = build_requests(sample)
        for _ in range(1 + smoke_test.MAX_THROTTLE_RETRIES):
            runtime.add_client_error("invoke_endpoint", "ThrottlingException", http_status_code=400)
        runtime.add_response(
            "invoke_endpoint", good_answer(request, "challenger"), expected_request(request, "challenger")
        )
        sleeps: list[float] = []

        report = run(sample, sleep=sleeps.append)

        assert sleeps == [0.5, 1.0, 2.0]
        [problem] = report.problems()
        assert "variant champion" in problem
        assert "ThrottlingException" in problem
        assert "after 3 throttled retries" in problem

    def test_a_malformed_answer_fails(self, endpoint: str, runtime: Stubber, requests: list[Request]) -> None:
        batch = requests[-1]
        assert batch.instances == 3

        def one_prediction_short(request: Request, variant: str) -> dict[str, Any]:
            if request is batch and variant == "challenger":
                return answer(json.dumps({"predictions": [{"label": 1, "probability": 0.5}] * 2}).encode(), variant)
            return good_answer(request, variant)

        queue_answers(runtime, requests, rounds=1, answer_for=one_prediction_short)

        report = run()

        assert report.problems() == [
            "round 1, variant challenger, sample_payloads.json batch of 3: 2 predictions for 3 instances"
        ]
        assert report.summary()["malformed"] == 1
        assert report.summary()["errors"] == 0

    @pytest.mark.parametrize(
        ("name", "bad_body", "problem"),
        [
            (
                "binary-json",
                b'{"predictions": [{"label": true, "probability": 0.5}]}',
                "prediction 1: label True is not 0 or 1",
            ),
            ("binary-csv", b"0.5,yes\n", "line 1: column 1 'yes' is not 0 or 1"),
            (
                "multiclass-json",
                b'{"predictions": [{"score": 0.5}]}',
                "prediction 1: no species (the prediction attribute)",
            ),
            ("multiclass-csv", b"\n", "line 1: no column 0 (the prediction attribute): ''"),
            ("regression-json", b'{"predictions": [{"price": NaN}]}', "prediction 1: price nan is not a finite number"),
            ("regression-csv", b"12.5\n3\n", "2 lines for 1 instances"),
        ],
    )
    def test_an_answer_invalid_for_the_contract_fails(
        self, endpoint: str, runtime: Stubber, name: str, bad_body: bytes, problem: str
    ) -> None:
        contract = CONTRACTS[name]
        sample = sample_of(contract, INSTANCES[:1])
        [request] = build_requests(sample)
        runtime.add_response(
            "invoke_endpoint",
            good_answer(request, "champion", contract),
            expected_request(request, "champion", contract),
        )
        runtime.add_response(
            "invoke_endpoint", answer(bad_body, "challenger"), expected_request(request, "challenger", contract)
        )

        report = run(sample)

        assert report.problems() == [f"round 1, variant challenger, sample_payloads.json instance 1: {problem}"]

    def test_a_slow_variant_fails_on_its_p95(self, endpoint: str, runtime: Stubber, requests: list[Request]) -> None:
        queue_answers(runtime, requests, rounds=1)

        report = run(latency_ms=lambda variant: 1500.0 if variant == "challenger" else 100.0)

        assert report.problems() == ["variant challenger: p95 latency 1500 ms exceeds the limit of 1000 ms"]
        assert report.summary()["variants"]["challenger"]["latency_ms"]["p95"] == 1500.0

    @pytest.mark.parametrize(("slow_answers", "passes"), [(1, True), (2, False)])
    def test_the_limit_is_on_the_p95_not_the_maximum(
        self, endpoint: str, runtime: Stubber, slow_answers: int, passes: bool
    ) -> None:
        # 20 answers per variant: the p95 (nearest rank) is the 19th fastest, so one outlier is tolerated.
        sample = sample_of(instances=INSTANCES[:1])
        queue_answers(runtime, build_requests(sample), rounds=20)
        answered: dict[str | None, int] = {}

        def latency(variant: str | None) -> float:
            answered[variant] = answered.get(variant, 0) + 1
            return 5000.0 if answered[variant] <= slow_answers else 200.0

        report = run(sample, rounds=20, latency_ms=latency)

        assert report.passed is passes
        assert report.summary()["latency_ms"]["max"] == 5000.0

    def test_exactly_the_limit_passes(self, endpoint: str, runtime: Stubber) -> None:
        sample = sample_of(instances=INSTANCES[:1])
        queue_answers(runtime, build_requests(sample), rounds=1)
        assert run(sample, latency_ms=lambda _: 1000.0).passed

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
            report = run()  # the runtime stubber has no answer: any invocation would raise

        assert report.problems() == [expected]
        assert report.summary()["requests"] == 0

    def test_a_missing_endpoint_fails(self, aws: None, runtime: Stubber) -> None:
        report = run()
        [problem] = report.problems()
        assert problem.startswith(f"cannot describe endpoint {ENDPOINT}: ValidationException")


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


def main(*arguments: str) -> int:
    return smoke_test.main(["--endpoint-name", ENDPOINT, *arguments, "--rounds", "1"])


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() uses the test's clients (moto, and the stubbed runtime)."""
    monkeypatch.setattr(
        smoke_test, "make_clients", lambda region: (client("sagemaker"), client("sagemaker-runtime"), client("s3"))
    )


class TestMain:
    @pytest.mark.parametrize("name", ["binary-json", "multiclass-csv", "regression-json-to-csv"])
    def test_the_package_s_contract_and_sample_pass_prints_the_summary_and_exits_0(
        self, endpoint: str, runtime: Stubber, clients: None, capsys: pytest.CaptureFixture[str], name: str
    ) -> None:
        contract = CONTRACTS[name]
        package = create_package(properties=contract.to_properties(), sample_url=put_sample_archive())
        queue_answers(
            runtime,
            build_requests(sample_of(contract)),
            rounds=1,
            contract=contract,
            answer_for=lambda request, variant: good_answer(request, variant, contract),
        )

        code = main("--model-package-arn", package, "--max-p95-latency-ms", "60000")

        out, err = capsys.readouterr()
        assert (code, err) == (0, "")
        summary = json.loads(out)
        assert (summary["requests"], summary["passed"]) == (8, True)
        assert (summary["model_package"], summary["payloads"]) == (package, SAMPLE_URL)
        assert (summary["contract"]["problem_type"], summary["contract_source"]) == (contract.problem_type, "package")

    def test_a_package_without_a_contract_uses_the_fallback_and_files_replace_its_payloads(
        self,
        endpoint: str,
        runtime: Stubber,
        clients: None,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:
        contract = CONTRACTS["regression-csv"]
        package = create_package(sample_url="s3://nowhere/never-read.tar.gz")
        payloads = tmp_path / "mine.json"
        payloads.write_bytes(payload_document(INSTANCES[:1]))
        [request] = build_requests(sample_of(contract, INSTANCES[:1]))
        queue_answers(runtime, [request], rounds=1, contract=contract, answer_for=lambda r, v: answer(b"12.5\n", v))

        code = main(
            "--model-package-arn",
            package,
            "--fallback-contract",
            json.dumps(
                {
                    "problem_type": "regression",
                    "content_type": CSV_CONTENT_TYPE,
                    "accept": CSV_CONTENT_TYPE,
                    "prediction_attribute": "0",
                }
            ),
            "--payloads",
            str(payloads),
            "--max-p95-latency-ms",
            "60000",
        )

        summary = json.loads(capsys.readouterr().out)
        assert code == 0
        assert (summary["contract_source"], summary["payloads"], summary["requests"]) == ("fallback", "mine.json", 2)

    def test_fails_with_a_readable_report_and_exits_1(
        self, aws: None, clients: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        package = create_package(properties=BINARY.to_properties(), sample_url=put_sample_archive())

        code = main("--model-package-arn", package)

        out, err = capsys.readouterr()
        assert code == 1
        assert json.loads(out)["passed"] is False
        assert err.startswith(f"SMOKE TEST FAILED: 1 problem(s)\n  - cannot describe endpoint {ENDPOINT}")

    def test_a_package_that_cannot_be_read_exits_1(
        self, aws: None, clients: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main("--model-package-arn", PACKAGE)

        out, err = capsys.readouterr()
        assert code == 1
        assert json.loads(out) == {"endpoint": ENDPOINT, "model_package": PACKAGE, "passed": False}
        assert err.startswith(f"SMOKE TEST FAILED: 1 problem(s)\n  - cannot describe model package {PACKAGE}: ")

    @pytest.mark.parametrize(
        ("properties", "sample", "message"),
        [
            ({}, True, "records no inference contract"),
            ({"mlops:problem-type": "regression"}, True, "records an unusable inference contract"),
            (BINARY.to_properties(), False, "has no SamplePayloadUrl"),
        ],
    )
    def test_no_usable_contract_or_payloads_exits_2(
        self,
        aws: None,
        clients: None,
        capsys: pytest.CaptureFixture[str],
        properties: dict[str, str],
        sample: bool,
        message: str,
    ) -> None:
        package = create_package(properties=properties, sample_url=put_sample_archive() if sample else None)

        code = main("--model-package-arn", package)

        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        assert err.startswith("error: ")
        assert message in err

    def test_an_unusable_payload_file_exits_2_before_any_call(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(smoke_test, "make_clients", _no_clients)
        code = main("--model-package-arn", PACKAGE, "--payloads", str(tmp_path / "missing.json"))
        assert code == 2
        assert "missing.json: cannot read the payload file" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "arguments",
        [
            ["--model-package-arn", PACKAGE, "--rounds", "0"],
            ["--model-package-arn", PACKAGE, "--max-p95-latency-ms", "-5"],
            ["--model-package-arn", PACKAGE, "--max-p95-latency-ms", "nan"],
            [],
            ["--model-package-arn", "model/1"],
            ["--model-package-arn", PACKAGE, "--fallback-contract", '{"problem_type": "regression"}'],
        ],
    )
    def test_bad_arguments_exit_2(
        self, arguments: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(smoke_test, "make_clients", _no_clients)
        with pytest.raises(SystemExit) as exited:
            smoke_test.main(["--endpoint-name", ENDPOINT, *arguments])
        assert exited.value.code == 2

    def test_an_unusable_fallback_contract_says_why(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(smoke_test, "make_clients", _no_clients)
        with pytest.raises(SystemExit):
            main("--model-package-arn", PACKAGE, "--fallback-contract", '{"problem_type": "regression"}')
        assert "the fallback contract is unusable: no content_type" in capsys.readouterr().err


def _no_clients(region: str | None) -> tuple[Any, Any, Any]:
    raise AssertionError("no AWS client may be created")


def _described(status: str, *, failure_reason: str | None = None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": "model-config",
        "EndpointStatus": status,
        "CreationTime": "2026-01-01T00:00:00Z",
        "LastModifiedTime": "2026-01-01T00:00:00Z",
        "ProductionVariants": [{"VariantName": variant} for variant in VARIANTS],
    }
    if failure_reason:
        described["FailureReason"] = failure_reason
    return described
