"""The build's environment: what the platform's CodeBuild project sets, and what a local run must export."""

import pytest

from workflow.environment import BuildEnvironment, MissingEnvironmentError

PLATFORM_BUILD = {
    "SAGEMAKER_PIPELINE_ROLE_ARN": "arn:aws:iam::123456789012:role/pipeline",
    "ARTIFACT_BUCKET": "mlops-model-data",
    "KMS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "AWS_REGION": "eu-west-1",
    "CODEBUILD_RESOLVED_SOURCE_VERSION": "4f2c9e1",
}


def test_the_repository_the_platform_names_is_recorded() -> None:
    env = BuildEnvironment.from_environment(
        PLATFORM_BUILD | {"SOURCE_REPOSITORY": "codeconnections:acme/models"}
    )

    assert (env.source_commit, env.source_repository) == ("4f2c9e1", "codeconnections:acme/models")


@pytest.mark.parametrize("repository", [None, ""])
def test_a_build_outside_the_platform_records_no_repository(repository: str | None) -> None:
    environ = PLATFORM_BUILD | ({} if repository is None else {"SOURCE_REPOSITORY": repository})

    assert BuildEnvironment.from_environment(environ).source_repository is None


def test_a_missing_variable_is_named() -> None:
    environ = {key: value for key, value in PLATFORM_BUILD.items() if key != "KMS_KEY_ARN"}

    with pytest.raises(MissingEnvironmentError, match="KMS_KEY_ARN"):
        BuildEnvironment.from_environment(environ)


def test_a_build_the_platform_tracks_names_the_tracking_server_and_the_build() -> None:
    server = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-mlflow"
    build = "model-build:7c0e6a1f-3b2d-4e5f-9a8b-1c2d3e4f5a6b"

    env = BuildEnvironment.from_environment(
        PLATFORM_BUILD | {"MLFLOW_TRACKING_URI": server, "CODEBUILD_BUILD_ID": build}
    )

    assert (env.mlflow_tracking_uri, env.build_id) == (server, build)


@pytest.mark.parametrize("server", [None, ""])
def test_a_build_without_a_tracking_server_tracks_nothing(server: str | None) -> None:
    environ = PLATFORM_BUILD | ({} if server is None else {"MLFLOW_TRACKING_URI": server})

    assert BuildEnvironment.from_environment(environ).mlflow_tracking_uri is None
