"""The lineage tool's reads of tests/tools/lineage_account.py, stubbed in the order the tool makes them
(Stubber validates each answer against the service's shapes).

`expect_package(stubs, case, fail_at=...)` queues one package's reads up to the read named by
`fail_at`, which answers AccessDenied: the reads after it are never made, so none is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.stub import Stubber

from tests.tools.lineage_account import (
    ARN,
    AUDIT_LOG,
    CHALLENGER,
    CHAMPION,
    CREATED,
    DATA,
    DENIED,
    ENDPOINT,
    ENDPOINT_CONFIG,
    PackageCase,
    at,
    package_answer,
)


@dataclass
class Stubs:
    sagemaker: Stubber
    cloudformation: Stubber
    logs: Stubber
    s3: Stubber


def expect_endpoint(stub: Stubber) -> None:
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"{ARN}:endpoint/{ENDPOINT}",
            "EndpointConfigName": ENDPOINT_CONFIG,
            "EndpointStatus": "InService",
            "CreationTime": CREATED,
            "LastModifiedTime": CREATED,
            "ProductionVariants": [
                {"VariantName": "champion", "CurrentWeight": 9.0},
                {"VariantName": "challenger", "CurrentWeight": 1.0},
            ],
        },
        {"EndpointName": ENDPOINT},
    )
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": ENDPOINT_CONFIG,
            "EndpointConfigArn": f"{ARN}:endpoint-config/{ENDPOINT_CONFIG}",
            "CreationTime": CREATED,
            "ProductionVariants": [
                {"VariantName": "champion", "ModelName": "churn-champion-m2", "InitialVariantWeight": 0.9},
                {"VariantName": "challenger", "ModelName": "churn-challenger-m3", "InitialVariantWeight": 0.1},
            ],
        },
        {"EndpointConfigName": ENDPOINT_CONFIG},
    )
    for model, package in (("churn-champion-m2", CHAMPION), ("churn-challenger-m3", CHALLENGER)):
        stub.add_response(
            "describe_model",
            {
                "ModelName": model,
                "ModelArn": f"{ARN}:model/{model}",
                "CreationTime": CREATED,
                "PrimaryContainer": {"ModelPackageName": package},
            },
            {"ModelName": model},
        )


def deny(stub: Stubber, operation: str, params: dict[str, Any], code: str = "AccessDeniedException") -> None:
    stub.add_client_error(
        operation, service_error_code=code, service_message=DENIED, http_status_code=403, expected_params=params
    )


def expect_package(stubs: Stubs, case: PackageCase, *, fail_at: str | None = None) -> None:
    """Queue the package's reads in the order the tool makes them, up to `fail_at` (denied)."""
    stubs.sagemaker.add_response("describe_model_package", package_answer(case), {"ModelPackageName": case.arn})
    if not expect_decisions(stubs.logs, case, denied=fail_at == "FilterLogEvents"):
        return
    if case.execution:
        expect_steps(stubs.sagemaker, case.execution, case.job)
        expect_training_job(stubs.sagemaker, case)
        for uri in case.channels.values():
            if not expect_versions(stubs.s3, uri, case.objects[uri], denied=fail_at == "ListObjectVersions"):
                return
    if raw := case.metadata.get("training_data_s3_uri"):
        expect_versions(stubs.s3, raw, case.objects[raw])
    if fail_at == "ListArtifacts":
        return deny(stubs.sagemaker, "list_artifacts", {"SourceUri": case.arn})
    summaries = [] if case.artifact is None else [artifact_summary(case)]
    stubs.sagemaker.add_response("list_artifacts", {"ArtifactSummaries": summaries}, {"SourceUri": case.arn})
    if case.artifact is not None:
        expect_ascendants(stubs.sagemaker, case.artifact, case.ascendants, denied=fail_at == "QueryLineage")


def expect_decisions(stub: Stubber, case: PackageCase, *, denied: bool = False) -> bool:
    """The log group's pages of decisions (nextToken followed); False when the read is denied."""
    params = {
        "logGroupName": AUDIT_LOG,
        "filterPattern": f'{{ ($.source = "mlops.approval-gate") && ($.detail.model_package_arn = "{case.arn}") }}',
    }
    if denied:
        deny(stub, "filter_log_events", params)
        return False
    if case.decisions is None:
        deny(stub, "filter_log_events", params, code="ResourceNotFoundException")
        return True
    for number, events in enumerate(case.decisions):
        token = {"nextToken": f"page-{number + 2}"} if number + 1 < len(case.decisions) else {}
        previous = {"nextToken": f"page-{number + 1}"} if number else {}
        stub.add_response("filter_log_events", {"events": events, **token}, params | previous)
    return True


def expect_steps(stub: Stubber, execution: str, job_arn: str | None) -> None:
    """Two pages, the training step (if any) on the second: the paginator must follow NextToken."""
    step = {"StepStatus": "Succeeded", "StartTime": CREATED}
    stub.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {**step, "StepName": "Register", "Metadata": {}},
                {**step, "StepName": "Preprocess", "Metadata": {"ProcessingJob": {}}},
            ],
            "NextToken": "page-2",
        },
        {"PipelineExecutionArn": execution},
    )
    training = [{**step, "StepName": "Train", "Metadata": {"TrainingJob": {"Arn": job_arn}}}] if job_arn else []
    stub.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": training},
        {"PipelineExecutionArn": execution, "NextToken": "page-2"},
    )


def expect_training_job(stub: Stubber, case: PackageCase) -> None:
    name = case.job.rsplit("/", 1)[1]
    stub.add_response(
        "describe_training_job",
        {
            "TrainingJobName": name,
            "TrainingJobArn": case.job,
            "ModelArtifacts": {"S3ModelArtifacts": f"{DATA}/models/{name}/model.tar.gz"},
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "CreationTime": at(case.day, 8, 55),
            "TrainingStartTime": case.started,
            "TrainingEndTime": at(case.day, 9, 42),
            "InputDataConfig": [
                {"ChannelName": channel, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
                for channel, uri in case.channels.items()
            ],
        },
        {"TrainingJobName": name},
    )


def expect_versions(stub: Stubber, uri: str, entries: list[dict[str, Any]], *, denied: bool = False) -> bool:
    """One page of the location's versions and delete markers; False when the read is denied."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    params = {"Bucket": bucket, "Prefix": prefix}
    if denied:
        deny(stub, "list_object_versions", params, code="AccessDenied")
        return False
    versions = [entry for entry in entries if "ETag" in entry]
    markers = [entry for entry in entries if "ETag" not in entry]
    page = {"IsTruncated": False, "Name": bucket, "Prefix": prefix, "Versions": versions, "DeleteMarkers": markers}
    stub.add_response("list_object_versions", page, params)
    return True


def artifact_summary(case: PackageCase) -> dict[str, Any]:
    return {"ArtifactArn": case.artifact, "ArtifactType": "Model", "Source": {"SourceUri": case.arn}}


def expect_ascendants(stub: Stubber, artifact: str, pages: list[list[dict[str, Any]]], *, denied: bool) -> None:
    """QueryLineage's pages (NextToken followed by hand: it has no paginator)."""
    params: dict[str, Any] = {"StartArns": [artifact], "Direction": "Ascendants", "IncludeEdges": False, "MaxDepth": 10}
    if denied:
        return deny(stub, "query_lineage", params)
    for number, vertices in enumerate(pages):
        token = {"NextToken": f"page-{number + 2}"} if number + 1 < len(pages) else {}
        previous = {"NextToken": f"page-{number + 1}"} if number else {}
        stub.add_response("query_lineage", {"Vertices": vertices, **token}, params | previous)
