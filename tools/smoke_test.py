"""Smoke test of a model's staging endpoint, run by the deploy pipeline after the staging deployment.

    python -m tools.smoke_test --endpoint-name NAME --model-package-arn ARN [--fallback-contract JSON]
                               [--payloads FILE ...] [--max-p95-latency-ms 1000] [--rounds 5] [--region R]

Run in CodeBuild from the deploy bundle (this module, `tools/inference_contract.py`, `tools/answers.py`
and `lambdas/common/{accounts,contracts,errors,serving_state}.py`, with nothing but boto3 installed).
Staging may serve in its own account (`environment.deployment_accounts`): the deploy pipeline then sets
SERVING_ROLE_ARN (`contracts.SERVING_ROLE_ARN_ENV`) to the model's ops role there, and the endpoint is
described and invoked as that role (`lambdas.common.accounts`); the package and its sample payloads are
read in this (the tooling) account. A refused AssumeRole fails the test naming the role. Unset or
empty: everything is in this account.

What it sends and how it judges the answers come from the model package being deployed
(`tools.inference_contract`): its inference contract (CustomerMetadataProperties, else
`--fallback-contract`) and its sample payloads (`--payloads` files, else its SamplePayloadUrl). Requests
are encoded and answers judged per that contract by `tools.answers`.

What it checks, in order:
1. The endpoint is InService (DescribeEndpoint); otherwise nothing is invoked.
2. Every request is sent, for `--rounds` rounds, to every production variant of the endpoint
   (TargetVariant), so that a challenger serving 10% of the traffic is tested as much as the champion,
   with the contract's ContentType and Accept. Any error fails the test: ModelError, any 4xx/5xx, and
   throttling once its bounded retries are spent (throttled attempts are retried with exponential
   backoff and are not counted as latency).
3. Every answer holds one prediction per instance sent (a JSON prediction or a CSV line), each with the
   contract's prediction attribute valid for the problem type (binary: 0 or 1; multiclass: a class
   name or number; regression: a finite number) and, when the contract has one, its probability
   attribute a number in [0, 1].
4. The client-side p95 latency of each variant (nearest-rank, successful calls only) is within
   `--max-p95-latency-ms`.

From each payload document the tool sends every instance on its own (what an online caller sends)
and, when there are several, all of them together (the batch path).

Output: a JSON summary on stdout (the package, the contract used and its source, requests, errors,
malformed answers, p50/p95/max latency overall and per variant, pass/fail) and, when the test fails,
a readable list of problems on stderr.
Exit status: 0 passed, 1 failed (including AWS that cannot be read), 2 bad arguments, no usable
contract or no usable payloads.

IAM: sagemaker:DescribeEndpoint and sagemaker:InvokeEndpoint on the endpoint's ARN (with
SERVING_ROLE_ARN: granted by that role, and sts:AssumeRole on it here); sagemaker:DescribeModelPackage on
the model's packages; when the payloads come from the package, s3:GetObject on its SamplePayloadUrl
(and kms:Decrypt on the key that encrypts it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.accounts import serving_role_arn, serving_session
from lambdas.common.contracts import InferenceContract
from tools.answers import check_answer, encode_instances
from tools.inference_contract import (
    EXIT_FAILED,
    EXIT_PASSED,
    AwsReadError,
    Sample,
    UnusableInput,
    add_sample_arguments,
    exit_without_sample,
    format_problems,
    read_payload_files,
    resolve_sample,
)

TITLE = "SMOKE TEST"

# Error codes SageMaker Runtime uses for throttling; anything else is a real failure of the endpoint.
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
MAX_THROTTLE_RETRIES = 3
BACKOFF_BASE_SECONDS = 0.5
# InvokeEndpoint gives the model 60 seconds; waiting longer would only hide a hung endpoint.
READ_TIMEOUT_SECONDS = 70
STANDARD_CONFIG = Config(retries={"mode": "standard"})
# One attempt per call: throttling is retried (and counted) by `invoke`, anything else is a failure.
RUNTIME_CONFIG = Config(retries={"total_max_attempts": 1}, read_timeout=READ_TIMEOUT_SECONDS)
# The session name of the serving role, as CloudTrail shows it in the serving account.
SESSION_NAME = "smoke-test"

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Request:
    """One request body and the number of predictions its answer must hold."""

    name: str
    body: bytes
    instances: int


@dataclass(frozen=True)
class Outcome:
    """What one request to one variant gave: a latency when the endpoint answered, a problem when not right."""

    request: str
    variant: str
    round_number: int
    latency_ms: float | None = None
    error: str | None = None
    malformed: str | None = None
    throttled_retries: int = 0

    @property
    def problem(self) -> str | None:
        return self.error or self.malformed


@dataclass
class Report:
    endpoint_name: str
    sample: Sample
    max_p95_latency_ms: float
    endpoint_problem: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def variant_latencies(self) -> dict[str, list[float]]:
        latencies: dict[str, list[float]] = {}
        for outcome in self.outcomes:
            samples = latencies.setdefault(outcome.variant, [])
            if outcome.latency_ms is not None:
                samples.append(outcome.latency_ms)
        return latencies

    def problems(self) -> list[str]:
        problems = [self.endpoint_problem] if self.endpoint_problem else []
        problems += [
            f"round {o.round_number}, variant {o.variant}, {o.request}: {o.problem}" for o in self.outcomes if o.problem
        ]
        for variant, samples in self.variant_latencies().items():
            if samples and (p95 := percentile(samples, 95)) > self.max_p95_latency_ms:
                problems.append(
                    f"variant {variant}: p95 latency {p95:.0f} ms exceeds the limit of {self.max_p95_latency_ms:.0f} ms"
                )
        return problems

    @property
    def passed(self) -> bool:
        return not self.problems()

    def summary(self) -> dict[str, Any]:
        all_samples = [o.latency_ms for o in self.outcomes if o.latency_ms is not None]
        return {
            "endpoint": self.endpoint_name,
            **self.sample.summary(),
            "passed": self.passed,
            **_counts(self.outcomes),
            "latency_ms": _latency_summary(all_samples),
            "max_p95_latency_ms": self.max_p95_latency_ms,
            "variants": {
                variant: {
                    **_counts([o for o in self.outcomes if o.variant == variant]),
                    "latency_ms": _latency_summary(samples),
                }
                for variant, samples in self.variant_latencies().items()
            },
        }


def _counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    return {
        "requests": len(outcomes),
        "errors": sum(1 for o in outcomes if o.error),
        "malformed": sum(1 for o in outcomes if o.malformed),
        "throttled_retries": sum(o.throttled_retries for o in outcomes),
    }


def _latency_summary(samples: Sequence[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(percentile(samples, 50), 1),
        "p95": round(percentile(samples, 95), 1),
        "max": round(max(samples), 1),
    }


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample that at least `pct` percent of the samples do not exceed."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def build_requests(sample: Sample) -> list[Request]:
    """The requests to send: each instance of a payload alone, then all of its instances together."""
    requests: list[Request] = []
    for payload in sample.payloads:
        instances = payload.instances
        for number, instance in enumerate(instances, start=1):
            requests.append(
                Request(f"{payload.name} instance {number}", encode_instances(sample.contract, [instance]), 1)
            )
        if len(instances) > 1:
            body = encode_instances(sample.contract, instances)
            requests.append(Request(f"{payload.name} batch of {len(instances)}", body, len(instances)))
    return requests


def check_endpoint(sagemaker: Any, endpoint_name: str) -> tuple[list[str], str | None]:
    """The endpoint's production variants, or a problem when it cannot be tested (missing, not InService)."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        return [], f"cannot describe endpoint {endpoint_name}: {_client_error_text(error)}"
    except BotoCoreError as error:  # no credentials, no connection
        return [], f"cannot describe endpoint {endpoint_name}: {type(error).__name__}: {error}"
    status = endpoint["EndpointStatus"]
    if status != "InService":
        reason = f" ({endpoint['FailureReason']})" if endpoint.get("FailureReason") else ""
        return [], f"endpoint {endpoint_name} is {status}{reason}, not InService"
    return [variant["VariantName"] for variant in endpoint["ProductionVariants"]], None


def invoke(
    runtime: Any,
    endpoint_name: str,
    variant: str,
    request: Request,
    *,
    contract: InferenceContract,
    round_number: int,
    clock: Clock,
    sleep: Sleep,
) -> Outcome:
    """Send one request to one variant, retrying throttling a bounded number of times, and judge the answer."""
    outcome = Outcome(request=request.name, variant=variant, round_number=round_number)
    retries = 0
    while True:
        started = clock()
        try:
            response = runtime.invoke_endpoint(
                EndpointName=endpoint_name,
                Body=request.body,
                ContentType=contract.content_type,
                Accept=contract.accept,
                TargetVariant=variant,
            )
            body = response["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in THROTTLING_CODES and retries < MAX_THROTTLE_RETRIES:
                sleep(BACKOFF_BASE_SECONDS * 2**retries)
                retries += 1
                continue
            after = f" (after {retries} throttled retries)" if retries else ""
            return replace(outcome, error=_client_error_text(error) + after, throttled_retries=retries)
        except BotoCoreError as error:  # below the API (connection reset, read timeout): not retried
            return replace(outcome, error=f"{type(error).__name__}: {error}", throttled_retries=retries)
        latency_ms = (clock() - started) * 1000
        return replace(
            outcome,
            latency_ms=latency_ms,
            malformed=check_answer(contract, body, request.instances),
            throttled_retries=retries,
        )


def _client_error_text(error: ClientError) -> str:
    details = error.response.get("Error", {})
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    text = f"{details.get('Code', 'Error')}"
    text += f" (HTTP {status})" if status else ""
    text += f": {details.get('Message')}" if details.get("Message") else ""
    # A ModelError carries the container's own status, message and log stream: what one needs to debug it.
    if "OriginalStatusCode" in error.response:
        text += (
            f"; the model answered {error.response['OriginalStatusCode']}: {error.response.get('OriginalMessage', '')}"
        )
    if "LogStreamArn" in error.response:
        text += f"; logs: {error.response['LogStreamArn']}"
    return text


def run_smoke_test(
    sagemaker: Any,
    runtime: Any,
    *,
    endpoint_name: str,
    sample: Sample,
    rounds: int,
    max_p95_latency_ms: float,
    clock: Clock = time.perf_counter,
    sleep: Sleep = time.sleep,
) -> Report:
    report = Report(endpoint_name=endpoint_name, sample=sample, max_p95_latency_ms=max_p95_latency_ms)
    variants, report.endpoint_problem = check_endpoint(sagemaker, endpoint_name)
    if report.endpoint_problem:
        return report
    requests = build_requests(sample)
    for round_number in range(1, rounds + 1):
        for variant in variants:
            for request in requests:
                report.outcomes.append(
                    invoke(
                        runtime,
                        endpoint_name,
                        variant,
                        request,
                        contract=sample.contract,
                        round_number=round_number,
                        clock=clock,
                        sleep=sleep,
                    )
                )
    return report


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Smoke-test a model's endpoint with its package's inference contract and sample payloads: "
        "InService, valid answers from every variant, p95 latency within a limit."
    )
    parser.add_argument("--endpoint-name", required=True, help="SageMaker endpoint to test")
    add_sample_arguments(parser)
    parser.add_argument(
        "--max-p95-latency-ms", type=_positive_float, default=1000.0, help="p95 limit per variant (default 1000)"
    )
    parser.add_argument("--rounds", type=_positive_int, default=5, help="times every request is sent (default 5)")
    parser.add_argument("--region", help="AWS region (default: the environment's, e.g. AWS_REGION in CodeBuild)")
    return parser.parse_args(argv)


def make_clients(region: str | None) -> tuple[Any, Any, Any]:
    """This account's SageMaker, SageMaker Runtime and S3 clients."""
    session = boto3.Session(region_name=region)
    runtime = session.client("sagemaker-runtime", config=RUNTIME_CONFIG)
    return session.client("sagemaker", config=STANDARD_CONFIG), runtime, session.client("s3", config=STANDARD_CONFIG)


def endpoint_clients(region: str | None, role_arn: str | None, *, sagemaker: Any, runtime: Any) -> tuple[Any, Any]:
    """The SageMaker and SageMaker Runtime clients that reach the endpoint: `role_arn`'s (the serving
    account's), or this account's `sagemaker` and `runtime` without one."""
    if not role_arn:
        return sagemaker, runtime
    try:
        serving = serving_session(role_arn, session_name=SESSION_NAME, region_name=region)
    except BotoCoreError as error:  # no region or no credentials to assume it with
        raise AwsReadError(f"cannot assume the serving role {role_arn}: {error}") from error
    return serving.client("sagemaker", config=STANDARD_CONFIG), serving.client(
        "sagemaker-runtime", config=RUNTIME_CONFIG
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        payloads = read_payload_files(args.payloads) if args.payloads else None
        sagemaker, runtime, s3 = make_clients(args.region)
        endpoint_sagemaker, endpoint_runtime = endpoint_clients(
            args.region, serving_role_arn(), sagemaker=sagemaker, runtime=runtime
        )
        sample = resolve_sample(
            sagemaker,
            s3,
            model_package_arn=args.model_package_arn,
            fallback_contract=args.fallback_contract,
            payloads=payloads,
        )
    except (UnusableInput, AwsReadError) as error:
        summary = {"endpoint": args.endpoint_name, "model_package": args.model_package_arn, "passed": False}
        return exit_without_sample(error, title=TITLE, summary=summary)
    report = run_smoke_test(
        endpoint_sagemaker,
        endpoint_runtime,
        endpoint_name=args.endpoint_name,
        sample=sample,
        rounds=args.rounds,
        max_p95_latency_ms=args.max_p95_latency_ms,
    )
    print(json.dumps(report.summary(), indent=2))
    if problems := report.problems():
        print(format_problems(TITLE, problems), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())
