"""Staging check of a batch model: its staging transform pipeline, run on the package's sample payloads.

    python -m tools.batch_check --pipeline-name NAME --model-package-arn ARN --bucket NAME --kms-key-arn ARN
                                [--fallback-contract JSON] [--payloads FILE ...] [--timeout-minutes 60]
                                [--region R]

Run by the deploy pipeline after the staging deployment of a batch model, in CodeBuild from the deploy
bundle (this module, `tools/inference_contract.py`, `tools/answers.py` and
`lambdas/common/{contracts,errors,serving_state}.py`, with nothing but boto3 installed). The contract and
the payloads come from the package as for the smoke test (`tools.inference_contract`).

What it does, in order:
1. Writes every sample instance into one input object, `s3://<bucket>/batch/staging/<run id>/input/`
   `sample.jsonl` (JSON: one `{"instances": [<instance>]}` per line) or `sample.csv` (CSV: one row per
   instance), encrypted with `--kms-key-arn`. The run id is the CodeBuild build's (CODEBUILD_BUILD_ID),
   else a fresh uuid.
2. Starts the staging transform pipeline (`--pipeline-name`) with that input and
   `s3://<bucket>/batch/staging/<run id>/output` as its output, and waits for the execution to end. One
   that runs past `--timeout-minutes` is stopped and fails the check; one that fails names its failed
   steps and their reasons.
3. Reads the transform's results, `<output>/<execution id>/<input file>.out`, and checks one answer per
   instance sent, each valid per the contract (as the smoke test judges an endpoint's answers,
   `tools.answers`).

Output: a JSON summary on stdout (the package, the contract used and its source, the execution, its
status, instances sent, answers read, problems) and, when the check fails, the problems on stderr.
Exit status: 0 passed, 1 failed (including AWS that cannot be read), 2 bad arguments, no usable
contract or no usable payloads.

IAM:
- sagemaker:DescribeModelPackage on the model's packages;
- sagemaker:StartPipelineExecution on the pipeline (arn:...:pipeline/<name>), and
  sagemaker:DescribePipelineExecution, sagemaker:ListPipelineExecutionSteps and
  sagemaker:StopPipelineExecution on its executions (arn:...:pipeline/<name>/execution/*);
- s3:PutObject and s3:GetObject on arn:aws:s3:::<bucket>/batch/staging/*, s3:ListBucket on the bucket
  for that prefix, and kms:GenerateDataKey and kms:Decrypt on the key;
- when the payloads come from the package, s3:GetObject on its SamplePayloadUrl (and kms:Decrypt on
  the key that encrypts it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.contracts import (
    BATCH_STAGING_PREFIX,
    CSV_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    TRANSFORM_INPUT_PARAMETER,
    TRANSFORM_OUTPUT_PARAMETER,
)
from tools.answers import check_answer_lines, encode_instances
from tools.inference_contract import (
    EXIT_FAILED,
    EXIT_PASSED,
    AwsReadError,
    Sample,
    UnusableInput,
    add_sample_arguments,
    aws_error_text,
    exit_without_sample,
    format_problems,
    read_payload_files,
    resolve_sample,
)

TITLE = "BATCH CHECK"
# The input object, by the contract's content type: one line per instance either way.
INPUT_FILES: Final[Mapping[str, str]] = {JSON_CONTENT_TYPE: "sample.jsonl", CSV_CONTENT_TYPE: "sample.csv"}
# A batch transform names each result after its input file.
OUTPUT_SUFFIX: Final = ".out"
TERMINAL_STATUSES: Final = frozenset({"Succeeded", "Failed", "Stopped"})
POLL_SECONDS: Final = 30.0
# The answers to a handful of sample instances: anything bigger is not what the check sent.
MAX_OUTPUT_BYTES: Final = 5 * 1024 * 1024
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
KMS_KEY_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:kms:[a-z0-9-]+:\d{12}:(?:key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)$")
# What a run id may hold: it is part of S3 keys.
RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Run:
    """Where one check writes its sample and the transform its results."""

    bucket: str
    run_id: str

    @property
    def prefix(self) -> str:
        return f"{BATCH_STAGING_PREFIX}{self.run_id}/"

    @property
    def input_uri(self) -> str:
        # A folder: the transform reads every object under this prefix and names its results after them.
        return f"s3://{self.bucket}/{self.prefix}input/"

    @property
    def output_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}output"

    def input_key(self, file_name: str) -> str:
        return f"{self.prefix}input/{file_name}"

    def output_prefix(self, execution_id: str) -> str:
        return f"{self.prefix}output/{execution_id}/"

    def output_key(self, execution_id: str, input_file: str) -> str:
        return f"{self.output_prefix(execution_id)}{input_file}{OUTPUT_SUFFIX}"

    def token(self, purpose: str) -> str:
        """An idempotency token for one call of this run (32 hex digits, as SageMaker wants at least 32)."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.input_uri}#{purpose}").hex


def run_id_from(environment: Mapping[str, str]) -> str:
    """The CodeBuild build's id made safe for S3 keys ("project:uuid" -> "project-uuid"), else a fresh uuid."""
    build_id = RUN_ID_UNSAFE.sub("-", environment.get("CODEBUILD_BUILD_ID", "")).strip("-")
    return build_id[-128:].strip("-") or uuid.uuid4().hex


@dataclass
class BatchReport:
    pipeline_name: str
    sample: Sample
    run: Run
    execution_arn: str | None = None
    status: str | None = None
    answers: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "Succeeded" and not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline_name,
            **self.sample.summary(),
            "input": self.run.input_uri,
            "output": self.run.output_uri,
            "execution_arn": self.execution_arn,
            "status": self.status,
            "instances_sent": len(self.sample.instances),
            "answers": self.answers,
            "passed": self.passed,
            "problems": self.problems,
        }


def input_file(sample: Sample) -> tuple[str, bytes]:
    """The name and content of the input object: one line per instance."""
    contract = sample.contract
    if contract.content_type == JSON_CONTENT_TYPE:
        content = b"".join(encode_instances(contract, [instance]) + b"\n" for instance in sample.instances)
    else:
        content = encode_instances(contract, sample.instances)  # one row per instance, each ending a line
    return INPUT_FILES[contract.content_type], content


def run_batch_check(
    sagemaker: Any,
    s3: Any,
    *,
    pipeline_name: str,
    sample: Sample,
    run: Run,
    kms_key_arn: str,
    timeout_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> BatchReport:
    report = BatchReport(pipeline_name=pipeline_name, sample=sample, run=run)
    file_name, content = input_file(sample)
    try:
        s3.put_object(
            Bucket=run.bucket,
            Key=run.input_key(file_name),
            Body=content,
            ContentType=sample.contract.content_type,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_arn,
        )
    except (ClientError, BotoCoreError) as error:
        report.problems.append(f"cannot upload the sample to {run.input_uri}: {aws_error_text(error)}")
        return report
    try:
        execution_arn: str = sagemaker.start_pipeline_execution(
            PipelineName=pipeline_name,
            PipelineParameters=[
                {"Name": TRANSFORM_INPUT_PARAMETER, "Value": run.input_uri},
                {"Name": TRANSFORM_OUTPUT_PARAMETER, "Value": run.output_uri},
            ],
            PipelineExecutionDescription=f"Staging check of {sample.model_package_arn}",
            ClientRequestToken=run.token("start"),
        )["PipelineExecutionArn"]
    except (ClientError, BotoCoreError) as error:
        report.problems.append(f"cannot start pipeline {pipeline_name}: {aws_error_text(error)}")
        return report
    report.execution_arn = execution_arn
    try:
        report.status, problems = wait_for(
            sagemaker,
            execution_arn,
            run,
            timeout_seconds=timeout_seconds,
            poll_seconds=poll_seconds,
            clock=clock,
            sleep=sleep,
        )
    except (ClientError, BotoCoreError) as error:
        report.problems.append(f"cannot follow pipeline execution {execution_arn}: {aws_error_text(error)}")
        return report
    report.problems += problems
    if report.status == "Succeeded":
        execution_id = execution_arn.rsplit("/", 1)[-1]
        if present := results_present(
            s3, report, run.output_prefix(execution_id), run.output_key(execution_id, file_name)
        ):
            check_output(s3, report, present)
    return report


def results_present(s3: Any, report: BatchReport, prefix: str, expected_key: str) -> str | None:
    """The key of the transform's results for the sample, after listing what it wrote; None (and the
    problem, naming what is there instead) when they are not where a transform writes them."""
    url = f"s3://{report.run.bucket}/{prefix}"
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=report.run.bucket, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    except (ClientError, BotoCoreError) as error:
        report.problems.append(f"cannot list the transform's results under {url}: {aws_error_text(error)}")
        return None
    if expected_key in keys:
        return expected_key
    found = ", ".join(sorted(keys)[:10]) or "nothing"
    report.problems.append(f"the transform wrote no s3://{report.run.bucket}/{expected_key}; under {url}: {found}")
    return None


def wait_for(
    sagemaker: Any,
    execution_arn: str,
    run: Run,
    *,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Clock,
    sleep: Sleep,
) -> tuple[str, list[str]]:
    """The execution's last status and, unless it succeeded, the problems. Past the timeout, it is stopped."""
    deadline = clock() + timeout_seconds
    while True:
        execution = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        status: str = execution["PipelineExecutionStatus"]
        if status in TERMINAL_STATUSES:
            break
        if clock() >= deadline:
            return status, [stop(sagemaker, execution_arn, run, timeout_seconds)]
        sleep(max(0.0, min(poll_seconds, deadline - clock())))
    if status == "Succeeded":
        return status, []
    reason = f": {execution['FailureReason']}" if execution.get("FailureReason") else ""
    return status, [f"pipeline execution {execution_arn} {status}{reason}", *failed_steps(sagemaker, execution_arn)]


def stop(sagemaker: Any, execution_arn: str, run: Run, timeout_seconds: float) -> str:
    """Stop an execution that ran out of time; the problem to report."""
    problem = f"pipeline execution {execution_arn} did not end within {timeout_seconds / 60:g} minutes"
    try:
        sagemaker.stop_pipeline_execution(PipelineExecutionArn=execution_arn, ClientRequestToken=run.token("stop"))
    except (ClientError, BotoCoreError) as error:
        return f"{problem}, and stopping it failed ({aws_error_text(error)}): stop it by hand"
    return f"{problem}: stopped"


def failed_steps(sagemaker: Any, execution_arn: str) -> list[str]:
    """The failed steps of an execution, with their reasons."""
    try:
        pages = sagemaker.get_paginator("list_pipeline_execution_steps").paginate(PipelineExecutionArn=execution_arn)
        steps = [step for page in pages for step in page["PipelineExecutionSteps"]]
    except (ClientError, BotoCoreError) as error:
        return [f"cannot list the execution's steps: {aws_error_text(error)}"]
    return [
        f"step {step['StepName']} failed: {step.get('FailureReason', 'no reason given')}"
        for step in steps
        if step.get("StepStatus") == "Failed"
    ]


def check_output(s3: Any, report: BatchReport, key: str) -> None:
    """Read the transform's results (bounded) and check one valid answer per instance sent."""
    url = f"s3://{report.run.bucket}/{key}"
    try:
        response = s3.get_object(Bucket=report.run.bucket, Key=key)
        with response["Body"] as body:
            if response.get("ContentLength", 0) > MAX_OUTPUT_BYTES:
                report.problems.append(f"{url} is larger than {MAX_OUTPUT_BYTES} bytes")
                return
            content = body.read(MAX_OUTPUT_BYTES + 1)
    except (ClientError, BotoCoreError) as error:
        report.problems.append(f"cannot read the transform's results {url}: {aws_error_text(error)}")
        return
    if len(content) > MAX_OUTPUT_BYTES:
        report.problems.append(f"{url} is larger than {MAX_OUTPUT_BYTES} bytes")
        return
    report.answers, problems = check_answer_lines(report.sample.contract, content, len(report.sample.instances))
    report.problems += [f"{url}: {problem}" for problem in problems]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}")
        return text

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Check a batch model's staging transform pipeline on its package's sample payloads."
    )
    parser.add_argument("--pipeline-name", required=True, help="the staging transform pipeline (SageMaker Pipeline)")
    add_sample_arguments(parser)
    parser.add_argument(
        "--bucket", required=True, type=_matching(BUCKET_NAME, "an S3 bucket name"), help="the model's data bucket"
    )
    parser.add_argument(
        "--kms-key-arn", required=True, type=_matching(KMS_KEY_ARN, "a KMS key ARN"), help="the bucket's KMS key"
    )
    parser.add_argument(
        "--timeout-minutes", type=_positive_int, default=60, help="stop the execution after this long (default 60)"
    )
    parser.add_argument("--region", help="AWS region (default: the environment's, e.g. AWS_REGION in CodeBuild)")
    return parser.parse_args(argv)


def make_clients(region: str | None) -> tuple[Any, Any]:
    """The SageMaker and S3 clients."""
    session = boto3.Session(region_name=region)
    config = Config(retries={"mode": "standard"})
    return session.client("sagemaker", config=config), session.client("s3", config=config)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        payloads = read_payload_files(args.payloads) if args.payloads else None
        sagemaker, s3 = make_clients(args.region)
        sample = resolve_sample(
            sagemaker,
            s3,
            model_package_arn=args.model_package_arn,
            fallback_contract=args.fallback_contract,
            payloads=payloads,
        )
    except (UnusableInput, AwsReadError) as error:
        summary = {"pipeline": args.pipeline_name, "model_package": args.model_package_arn, "passed": False}
        return exit_without_sample(error, title=TITLE, summary={**summary, "problems": [str(error)]})
    report = run_batch_check(
        sagemaker,
        s3,
        pipeline_name=args.pipeline_name,
        sample=sample,
        run=Run(bucket=args.bucket, run_id=run_id_from(os.environ)),
        kms_key_arn=args.kms_key_arn,
        timeout_seconds=args.timeout_minutes * 60,
    )
    print(json.dumps(report.summary(), indent=2))
    if not report.passed:
        print(format_problems(TITLE, report.problems), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())
