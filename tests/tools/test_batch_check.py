"""The batch staging check (tools/batch_check.py): the staging transform pipeline run on the sample.

S3 is moto (the uploaded sample, its encryption, the transform's results the test writes where the
pipeline would, and their listing); an S3 call that fails or is paged is arranged with a handler on the
S3 client's events (`s3_events`). The SageMaker Pipeline calls come from botocore's Stubber, which
asserts every request exactly (the pipeline's parameters, the execution polled and stopped). A fake
clock moves only when the check sleeps, so a 60-minute timeout costs no time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber

from lambdas.common.contracts import (
    CSV_CONTENT_TYPE,
    SAMPLE_PAYLOADS_FILE,
    TRANSFORM_INPUT_PARAMETER,
    TRANSFORM_OUTPUT_PARAMETER,
    InferenceContract,
)
from tests.tools.conftest import (
    ACCOUNT,
    CONTRACTS,
    INSTANCES,
    REGION,
    SAMPLE_BUCKET,
    SAMPLE_URL,
    batch_output,
    client,
    payload_document,
    prediction,
    put_sample_archive,
)
from tools import batch_check
from tools.batch_check import BatchReport, Run, run_batch_check, run_id_from
from tools.inference_contract import Payload, Sample

REPOSITORY = Path(__file__).resolve().parents[2]
PIPELINE = "mlops-model-staging-transform"
EXECUTION_ID = "x1y2z3abc"
EXECUTION_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PIPELINE}/execution/{EXECUTION_ID}"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/model/3"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = SAMPLE_BUCKET
RUN = Run(bucket=BUCKET, run_id="build-7")
BINARY = CONTRACTS["binary-json"]


def sample_of(contract: InferenceContract = BINARY) -> Sample:
    return Sample(PACKAGE, contract, "package", (Payload(SAMPLE_PAYLOADS_FILE, tuple(INSTANCES)),), SAMPLE_URL)


@pytest.fixture
def bucket(aws: None) -> str:
    client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return BUCKET


@pytest.fixture
def pipeline(aws: None) -> Iterator[Stubber]:
    """The SageMaker client, stubbed (in a fake account): every call is queued by the test and asserted."""
    stubber = Stubber(client("sagemaker"))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


class FakeTime:
    """A monotonic clock that moves only when the check sleeps."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def expect_start(pipeline: Stubber, run: Run = RUN) -> None:
    pipeline.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION_ARN},
        {
            "PipelineName": PIPELINE,
            "PipelineParameters": [
                # A folder (ending "/"): the transform names its results after the objects under it.
                {"Name": TRANSFORM_INPUT_PARAMETER, "Value": f"s3://{BUCKET}/batch/staging/{run.run_id}/input/"},
                {"Name": TRANSFORM_OUTPUT_PARAMETER, "Value": f"s3://{BUCKET}/batch/staging/{run.run_id}/output"},
            ],
            "PipelineExecutionDescription": f"Staging check of {PACKAGE}",
            "ClientRequestToken": run.token("start"),
        },
    )


def expect_status(pipeline: Stubber, *statuses: str, failure_reason: str | None = None) -> None:
    for status in statuses:
        described: dict[str, Any] = {"PipelineExecutionArn": EXECUTION_ARN, "PipelineExecutionStatus": status}
        if failure_reason and status in ("Failed", "Stopped"):
            described["FailureReason"] = failure_reason
        pipeline.add_response("describe_pipeline_execution", described, {"PipelineExecutionArn": EXECUTION_ARN})


def expect_steps(pipeline: Stubber, *pages: list[dict[str, Any]]) -> None:
    for number, steps in enumerate(pages):
        response: dict[str, Any] = {"PipelineExecutionSteps": steps}
        expected: dict[str, Any] = {"PipelineExecutionArn": EXECUTION_ARN}
        if number + 1 < len(pages):
            response["NextToken"] = f"page-{number + 1}"
        if number:
            expected["NextToken"] = f"page-{number}"
        pipeline.add_response("list_pipeline_execution_steps", response, expected)


OUTPUT_PREFIX = f"batch/staging/build-7/output/{EXECUTION_ID}/"
EXPECTED_OUTPUT = f"s3://{BUCKET}/{OUTPUT_PREFIX}sample.jsonl.out"


def put_output(body: bytes, *, input_file: str = "sample.jsonl", run: Run = RUN) -> str:
    return put_object(f"batch/staging/{run.run_id}/output/{EXECUTION_ID}/{input_file}.out", body)


def put_object(key: str, body: bytes = b"") -> str:
    client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


Register = Callable[[str, Callable[..., Any]], None]


@pytest.fixture
def s3_events() -> Iterator[Register]:
    """Register handlers on the S3 client's events (`before-call.s3.GetObject`, ...) for one test: the
    client is shared by the whole run, so they are unregistered after it."""
    events = client("s3").meta.events
    registered: list[tuple[str, Callable[..., Any]]] = []

    def register(event: str, handler: Callable[..., Any]) -> None:
        events.register(event, handler)
        registered.append((event, handler))

    yield register
    for event, handler in registered:
        events.unregister(event, handler)


def s3_calls(s3_events: Register, operation: str, *, max_keys: int | None = None) -> list[dict[str, Any]]:
    """The parameters of each call of `operation` (e.g. "ListObjectsV2") the S3 client makes from now on,
    as the check passed them; the calls go on. With `max_keys`, each call asks for pages that small."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))
        if max_keys is not None:
            params["MaxKeys"] = max_keys

    s3_events(f"before-parameter-build.s3.{operation}", record)
    return calls


def s3_error(code: str, message: str, status: int) -> Callable[..., Any]:
    """A `before-call` handler answering the call with an S3 error (botocore raises it as a ClientError)."""

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse(f"https://{BUCKET}.s3.amazonaws.com/", status, {}, None), parsed

    return answer


def good_output(contract: InferenceContract = BINARY, count: int = len(INSTANCES)) -> bytes:
    return batch_output(contract, [prediction(contract, n) for n in range(count)])


def check(sample: Sample | None = None, *, timeout_seconds: float = 3600, time: FakeTime | None = None) -> BatchReport:
    time = time or FakeTime()
    return run_batch_check(
        client("sagemaker"),
        client("s3"),
        pipeline_name=PIPELINE,
        sample=sample or sample_of(),
        run=RUN,
        kms_key_arn=KMS_KEY,
        timeout_seconds=timeout_seconds,
        poll_seconds=30,
        clock=time.clock,
        sleep=time.sleep,
    )


def uploaded(key: str) -> tuple[bytes, dict[str, Any]]:
    got = client("s3").get_object(Bucket=BUCKET, Key=key)
    return got["Body"].read(), got


class TestPasses:
    def test_the_sample_runs_through_the_pipeline_and_every_answer_is_valid(
        self, bucket: str, pipeline: Stubber
    ) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Executing", "Executing", "Succeeded")
        put_output(good_output())
        time = FakeTime()

        report = check(time=time)

        assert report.problems == []
        assert report.passed
        assert time.sleeps == [30, 30]
        assert report.summary() == {
            "pipeline": PIPELINE,
            "model_package": PACKAGE,
            "contract": {
                "problem_type": "binary_classification",
                "content_type": "application/json",
                "accept": "application/json",
                "prediction_attribute": "label",
                "probability_attribute": "probability",
            },
            "contract_source": "package",
            "payloads": SAMPLE_URL,
            "input": f"s3://{BUCKET}/batch/staging/build-7/input/",
            "output": f"s3://{BUCKET}/batch/staging/build-7/output",
            "execution_arn": EXECUTION_ARN,
            "status": "Succeeded",
            "instances_sent": 3,
            "answers": 3,
            "passed": True,
            "problems": [],
        }

    def test_a_json_sample_is_one_request_per_line_encrypted_with_the_key(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        put_output(good_output())

        check()

        body, got = uploaded("batch/staging/build-7/input/sample.jsonl")
        assert [json.loads(line) for line in body.decode().splitlines()] == [{"instances": [i]} for i in INSTANCES]
        assert body.endswith(b"\n")
        assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY)
        assert got["ContentType"] == "application/json"

    def test_a_csv_sample_is_one_row_per_instance(self, bucket: str, pipeline: Stubber) -> None:
        contract = CONTRACTS["binary-csv"]
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        put_output(good_output(contract), input_file="sample.csv")

        report = check(sample_of(contract))

        assert report.passed, report.problems
        body, got = uploaded("batch/staging/build-7/input/sample.csv")
        assert body == b'34,basic,20.5\n61,"premium, annual",99.0\n19,basic,0\n'
        assert (got["SSEKMSKeyId"], got["ContentType"]) == (KMS_KEY, CSV_CONTENT_TYPE)

    def test_the_results_are_found_on_any_page_of_their_folder_s_listing(
        self, bucket: str, pipeline: Stubber, s3_events: Register
    ) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        put_object(f"{OUTPUT_PREFIX}a.out")
        put_object(f"{OUTPUT_PREFIX}b.out")
        put_output(good_output())  # sample.jsonl.out: listed last
        listings = s3_calls(s3_events, "ListObjectsV2", max_keys=1)

        report = check()

        assert (report.problems, report.answers) == ([], 3)
        assert len(listings) == 3
        assert all(call["Bucket"] == BUCKET and call["Prefix"] == OUTPUT_PREFIX for call in listings)

    @pytest.mark.parametrize("name", sorted(CONTRACTS))
    def test_each_contract_s_answers_are_judged(self, bucket: str, pipeline: Stubber, name: str) -> None:
        contract = CONTRACTS[name]
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        put_output(good_output(contract), input_file=batch_check.INPUT_FILES[contract.content_type])

        report = check(sample_of(contract))

        assert (report.problems, report.answers) == ([], 3)


class TestFails:
    def test_a_failed_execution_names_its_failed_steps_and_reads_no_output(
        self, bucket: str, pipeline: Stubber, s3_events: Register
    ) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Executing", "Failed", failure_reason="Step failure: One or multiple steps failed.")
        expect_steps(
            pipeline,
            [{"StepName": "CreateModel", "StepStatus": "Succeeded"}],
            [
                {"StepName": "Transform", "StepStatus": "Failed", "FailureReason": "ClientError: no model.tar.gz"},
                {"StepName": "Monitor", "StepStatus": "Failed"},
            ],
        )
        put_output(good_output())
        listings, reads = s3_calls(s3_events, "ListObjectsV2"), s3_calls(s3_events, "GetObject")

        report = check()

        assert (listings, reads) == ([], [])
        assert report.problems == [
            f"pipeline execution {EXECUTION_ARN} Failed: Step failure: One or multiple steps failed.",
            "step Transform failed: ClientError: no model.tar.gz",
            "step Monitor failed: no reason given",
        ]
        assert (report.status, report.answers, report.passed) == ("Failed", None, False)

    def test_an_execution_stopped_by_someone_fails(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Stopping", "Stopped")
        expect_steps(pipeline, [{"StepName": "Transform", "StepStatus": "Stopped"}])

        report = check()

        assert report.problems == [f"pipeline execution {EXECUTION_ARN} Stopped"]

    def test_steps_that_cannot_be_listed_are_reported(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Failed")
        pipeline.add_client_error("list_pipeline_execution_steps", "AccessDeniedException", "not allowed")

        report = check()

        assert report.problems[1] == "cannot list the execution's steps: AccessDeniedException: not allowed"

    def test_an_execution_past_the_timeout_is_stopped_and_fails(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Executing", "Executing", "Executing")
        pipeline.add_response(
            "stop_pipeline_execution",
            {"PipelineExecutionArn": EXECUTION_ARN},
            {"PipelineExecutionArn": EXECUTION_ARN, "ClientRequestToken": RUN.token("stop")},
        )
        time = FakeTime()

        report = check(timeout_seconds=60, time=time)

        assert time.sleeps == [30, 30]
        assert report.problems == [f"pipeline execution {EXECUTION_ARN} did not end within 1 minutes: stopped"]
        assert (report.status, report.passed) == ("Executing", False)

    def test_an_execution_that_cannot_be_stopped_says_so(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Executing", "Executing")
        pipeline.add_client_error("stop_pipeline_execution", "ValidationException", "cannot stop now")

        report = check(timeout_seconds=30)

        [problem] = report.problems
        assert problem.endswith(
            "did not end within 0.5 minutes, and stopping it failed (ValidationException: cannot stop now): "
            "stop it by hand"
        )

    def test_the_last_poll_waits_only_until_the_deadline(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Executing", "Executing", "Executing")
        pipeline.add_response(
            "stop_pipeline_execution", {}, {"PipelineExecutionArn": EXECUTION_ARN, "ClientRequestToken": ANY}
        )
        time = FakeTime()

        check(timeout_seconds=45, time=time)

        assert time.sleeps == [30, 15]

    @pytest.mark.parametrize(
        ("output", "problem"),
        [
            (b'{"predictions": [{"label": 1, "probability": 0.9}]}\n' * 2, "2 answers for 3 instances"),
            (b"", "0 answers for 3 instances"),
            (
                b'{"predictions": [{"label": 1, "probability": 0.9}]}\n' * 2
                + b'{"predictions": [{"label": 1, "probability": 9}]}\n',
                "line 3: probability 9 is not a number in [0, 1]",
            ),
        ],
    )
    def test_short_or_invalid_output_fails(self, bucket: str, pipeline: Stubber, output: bytes, problem: str) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        url = put_output(output)

        report = check()

        assert report.problems == [f"{url}: {problem}"]
        assert (report.status, report.passed) == ("Succeeded", False)

    def test_no_results_at_all_fails_saying_nothing_is_there(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        # Results of other runs and executions are not the transform's: the listing stops at its folder.
        put_object(f"batch/staging/build-7/output/{EXECUTION_ID}0/sample.jsonl.out")
        put_object("batch/staging/build-70/output/x1y2z3abc/sample.jsonl.out")
        put_object(f"batch/staging/build-7/output/{EXECUTION_ID}.out")

        report = check()

        assert report.problems == [
            f"the transform wrote no {EXPECTED_OUTPUT}; under s3://{BUCKET}/{OUTPUT_PREFIX}: nothing"
        ]
        assert (report.answers, report.passed) == (None, False)

    def test_missing_results_name_the_first_10_keys_found(
        self, bucket: str, pipeline: Stubber, s3_events: Register
    ) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        for n in (11, 3, 7, 0, 1, 2, 4, 5, 6, 8, 9, 10):  # 12 results, none the sample's
            put_object(f"{OUTPUT_PREFIX}part-{n:02}.out", good_output())
        reads = s3_calls(s3_events, "GetObject")

        report = check()

        listed = ", ".join(f"{OUTPUT_PREFIX}part-{n:02}.out" for n in range(10))
        assert report.problems == [
            f"the transform wrote no {EXPECTED_OUTPUT}; under s3://{BUCKET}/{OUTPUT_PREFIX}: {listed}"
        ]
        assert (reads, report.answers) == ([], None)

    @pytest.mark.parametrize(
        "name",
        [
            "sample.out",  # named after the input without its extension
            "sample.jsonl",  # without the suffix
            "input/sample.jsonl.out",  # under the input folder's name
            "/sample.jsonl.out",  # after a doubled "/"
        ],
    )
    def test_results_under_another_name_fail_naming_them(
        self, bucket: str, pipeline: Stubber, s3_events: Register, name: str
    ) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        put_object(f"{OUTPUT_PREFIX}{name}", good_output())
        reads = s3_calls(s3_events, "GetObject")

        report = check()

        assert report.problems == [
            f"the transform wrote no {EXPECTED_OUTPUT}; under s3://{BUCKET}/{OUTPUT_PREFIX}: {OUTPUT_PREFIX}{name}"
        ]
        assert (reads, report.answers, report.passed) == ([], None, False)

    def test_results_that_cannot_be_listed_fail_and_are_not_read(
        self, bucket: str, pipeline: Stubber, s3_events: Register
    ) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        put_output(good_output())
        s3_events("before-call.s3.ListObjectsV2", s3_error("AccessDenied", "Access Denied", 403))
        reads = s3_calls(s3_events, "GetObject")

        report = check()

        assert report.problems == [
            f"cannot list the transform's results under s3://{BUCKET}/{OUTPUT_PREFIX}: AccessDenied: Access Denied"
        ]
        assert (reads, report.answers, report.passed) == ([], None, False)

    def test_results_that_cannot_be_read_fail(self, bucket: str, pipeline: Stubber, s3_events: Register) -> None:
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        put_output(good_output())
        s3_events("before-call.s3.GetObject", s3_error("AccessDenied", "Access Denied", 403))

        report = check()

        assert report.problems == [
            f"cannot read the transform's results {EXPECTED_OUTPUT}: AccessDenied: Access Denied"
        ]

    def test_output_too_big_is_not_read(self, bucket: str, pipeline: Stubber, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(batch_check, "MAX_OUTPUT_BYTES", 10)
        expect_start(pipeline)
        expect_status(pipeline, "Succeeded")
        url = put_output(good_output())

        report = check()

        assert report.problems == [f"{url} is larger than 10 bytes"]
        assert report.answers is None

    def test_a_sample_that_cannot_be_uploaded_starts_nothing(self, pipeline: Stubber) -> None:
        report = check()  # no bucket; the pipeline stubber has nothing queued: a start would raise

        [problem] = report.problems
        assert problem.startswith(
            f"cannot upload the sample to s3://{BUCKET}/batch/staging/build-7/input/: NoSuchBucket"
        )
        assert (report.execution_arn, report.passed) == (None, False)

    def test_a_pipeline_that_cannot_be_started_fails(self, bucket: str, pipeline: Stubber) -> None:
        pipeline.add_client_error("start_pipeline_execution", "ResourceNotFound", "Pipeline not found")

        report = check()

        assert report.problems == [f"cannot start pipeline {PIPELINE}: ResourceNotFound: Pipeline not found"]

    def test_an_execution_that_cannot_be_followed_fails(self, bucket: str, pipeline: Stubber) -> None:
        expect_start(pipeline)
        pipeline.add_client_error("describe_pipeline_execution", "AccessDeniedException", "not allowed")

        report = check()

        assert report.problems == [
            f"cannot follow pipeline execution {EXECUTION_ARN}: AccessDeniedException: not allowed"
        ]
        assert report.execution_arn == EXECUTION_ARN


class TestRun:
    def test_the_codebuild_build_id_is_the_run_id_made_safe_for_keys(self) -> None:
        build = "mlops-model-deploy-BatchCheck:8c6f2a4e-1b2c-4d5e-9f00-0123456789ab"
        assert run_id_from({"CODEBUILD_BUILD_ID": build}) == (
            "mlops-model-deploy-BatchCheck-8c6f2a4e-1b2c-4d5e-9f00-0123456789ab"
        )

    def test_without_codebuild_each_run_has_a_fresh_uuid(self) -> None:
        first, second = run_id_from({}), run_id_from({"CODEBUILD_BUILD_ID": ":/"})
        assert len(first) == len(second) == 32
        assert first != second

    def test_tokens_are_stable_per_run_and_purpose(self) -> None:
        tokens = {RUN.token("start"), RUN.token("stop"), Run(bucket=BUCKET, run_id="build-8").token("start")}
        assert len(tokens) == 3
        assert RUN.token("start") == Run(bucket=BUCKET, run_id="build-7").token("start")
        assert all(len(token) == 32 for token in tokens)


BUILD_ID = "deploy-BatchCheck:0a1b"
MAIN_RUN = Run(bucket=BUCKET, run_id="deploy-BatchCheck-0a1b")


def described_package(properties: dict[str, str] | None, sample_url: str | None = SAMPLE_URL) -> dict[str, Any]:
    described: dict[str, Any] = {
        "ModelPackageName": "model",
        "ModelPackageArn": PACKAGE,
        "CreationTime": "2026-01-01T00:00:00Z",
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
    }
    if properties is not None:
        described["CustomerMetadataProperties"] = properties
    if sample_url:
        described["SamplePayloadUrl"] = sample_url
    return described


def main(*arguments: str) -> int:
    base = ["--pipeline-name", PIPELINE, "--model-package-arn", PACKAGE, "--bucket", BUCKET, "--kms-key-arn", KMS_KEY]
    return batch_check.main([*base, *arguments])


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_check, "make_clients", lambda region: (client("sagemaker"), client("s3")))
    monkeypatch.setenv("CODEBUILD_BUILD_ID", BUILD_ID)


class TestMain:
    def test_passes_prints_the_summary_and_exits_0(
        self, pipeline: Stubber, clients: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        put_sample_archive()
        contract = CONTRACTS["multiclass-csv"]
        pipeline.add_response(
            "describe_model_package", described_package(contract.to_properties()), {"ModelPackageName": PACKAGE}
        )
        expect_start(pipeline, MAIN_RUN)
        expect_status(pipeline, "Succeeded")
        put_output(good_output(contract), input_file="sample.csv", run=MAIN_RUN)

        code = main("--timeout-minutes", "5")

        out, err = capsys.readouterr()
        assert (code, err) == (0, "")
        summary = json.loads(out)
        assert (summary["passed"], summary["instances_sent"], summary["answers"]) == (True, 3, 3)
        assert (summary["contract_source"], summary["execution_arn"]) == ("package", EXECUTION_ARN)

    def test_a_package_without_a_contract_uses_the_fallback(
        self, pipeline: Stubber, clients: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        pipeline.add_response(
            "describe_model_package", described_package(None, sample_url=None), {"ModelPackageName": PACKAGE}
        )
        expect_start(pipeline, MAIN_RUN)
        expect_status(pipeline, "Succeeded")
        put_output(b'{"predictions": [{"price": 10.5}]}\n', run=MAIN_RUN)
        payloads = tmp_path / "one.json"
        payloads.write_bytes(payload_document(INSTANCES[:1]))
        fallback = {"problem_type": "regression", "content_type": "application/json", "accept": "application/json"}

        code = main(
            "--fallback-contract",
            json.dumps({**fallback, "prediction_attribute": "price"}),
            "--payloads",
            str(payloads),
        )

        summary = json.loads(capsys.readouterr().out)
        assert code == 0
        assert (summary["contract_source"], summary["payloads"], summary["instances_sent"]) == (
            "fallback",
            "one.json",
            1,
        )

    def test_a_failed_check_exits_1_with_the_problems_on_stderr(
        self, pipeline: Stubber, clients: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        put_sample_archive()
        pipeline.add_response(
            "describe_model_package", described_package(BINARY.to_properties()), {"ModelPackageName": PACKAGE}
        )
        expect_start(pipeline, MAIN_RUN)
        expect_status(pipeline, "Failed", failure_reason="boom")
        expect_steps(pipeline, [])

        code = main()

        out, err = capsys.readouterr()
        assert code == 1
        assert json.loads(out)["status"] == "Failed"
        assert err == f"BATCH CHECK FAILED: 1 problem(s)\n  - pipeline execution {EXECUTION_ARN} Failed: boom\n"

    def test_a_package_that_cannot_be_read_exits_1(
        self, pipeline: Stubber, clients: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pipeline.add_client_error("describe_model_package", "ThrottlingException", "slow down")

        code = main()

        out, err = capsys.readouterr()
        assert code == 1
        problem = f"cannot describe model package {PACKAGE}: ThrottlingException: slow down"
        assert json.loads(out) == {
            "pipeline": PIPELINE,
            "model_package": PACKAGE,
            "passed": False,
            "problems": [problem],
        }
        assert err == f"BATCH CHECK FAILED: 1 problem(s)\n  - {problem}\n"

    @pytest.mark.parametrize(
        ("described", "message"),
        [
            (described_package(None), "records no inference contract"),
            (described_package({"mlops:problem-type": "regression"}), "records an unusable inference contract"),
            (described_package(BINARY.to_properties(), sample_url=None), "has no SamplePayloadUrl"),
        ],
    )
    def test_no_usable_contract_or_payloads_exits_2_before_anything_runs(
        self,
        aws: None,
        pipeline: Stubber,
        clients: None,
        capsys: pytest.CaptureFixture[str],
        described: dict[str, Any],
        message: str,
    ) -> None:
        pipeline.add_response("describe_model_package", described, {"ModelPackageName": PACKAGE})

        code = main()

        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        assert message in err

    @pytest.mark.parametrize(
        "arguments",
        [
            ["--timeout-minutes", "0"],
            ["--bucket", "Not_A_Bucket"],
            ["--kms-key-arn", "alias/mine"],
            ["--model-package-arn", "arn:aws:sagemaker:eu-west-1:123456789012:model-package/model"],
            ["--fallback-contract", "{"],
            ["--payloads"],
        ],
    )
    def test_bad_arguments_exit_2(self, arguments: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(batch_check, "make_clients", _no_clients)
        with pytest.raises(SystemExit) as exited:
            main(*arguments)
        assert exited.value.code == 2

    def test_a_missing_payload_file_exits_2_before_any_call(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(batch_check, "make_clients", _no_clients)
        assert main("--payloads", str(tmp_path / "missing.json")) == 2
        assert "missing.json: cannot read the payload file" in capsys.readouterr().err


def _no_clients(region: str | None) -> tuple[Any, Any]:
    raise AssertionError("no AWS client may be created")


# What the deploy bundle holds of the repository: the checks must run with these and boto3 alone.
BUNDLE_FILES = (
    "lambdas/__init__.py",
    "lambdas/common/__init__.py",
    "lambdas/common/accounts.py",
    "lambdas/common/contracts.py",
    "lambdas/common/errors.py",
    "lambdas/common/serving_state.py",
    "tools/__init__.py",
    "tools/inference_contract.py",
    "tools/answers.py",
    "tools/smoke_test.py",
    "tools/batch_check.py",
)


@pytest.mark.parametrize("module", ["tools.smoke_test", "tools.batch_check"])
def test_the_checks_run_from_the_deploy_bundle_alone(tmp_path: Path, module: str) -> None:
    for name in BUNDLE_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((REPOSITORY / name).read_bytes())
    shown = subprocess.run(  # noqa: S603 - the test's own interpreter on the copied modules
        [sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True, text=True, env={}, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert "--model-package-arn" in shown.stdout
