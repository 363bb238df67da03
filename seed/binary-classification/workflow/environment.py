"""Runtime values the platform's CodeBuild project provides as environment variables."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_ATHENA_WORKGROUP = "primary"

# MLflow reads this variable itself; the build reads it to decide whether to track at all.
MLFLOW_TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"


class MissingEnvironmentError(RuntimeError):
    """A variable the build needs is not set."""


@dataclass(frozen=True)
class BuildEnvironment:
    pipeline_role_arn: str
    artifact_bucket: str
    kms_key_arn: str
    region: str
    source_commit: str
    # Where the code comes from (the platform's SOURCE_REPOSITORY: a clone URL, or "<provider>:<owner/name>"
    # of a Git host); None outside the platform's build.
    source_repository: str | None = None
    # The MLflow tracking server the build logs its run to (the platform sets its ARN when experiments
    # are on: workflow/experiment_run.py); None tracks nothing, and the pipeline has no tracking step.
    mlflow_tracking_uri: str | None = None
    # The CodeBuild build (CODEBUILD_BUILD_ID, `<project>:<uuid>`), which the MLflow run records; None
    # outside CodeBuild.
    build_id: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "BuildEnvironment":
        names = {
            "pipeline_role_arn": "SAGEMAKER_PIPELINE_ROLE_ARN",
            "artifact_bucket": "ARTIFACT_BUCKET",
            "kms_key_arn": "KMS_KEY_ARN",
            "region": "AWS_REGION",
            "source_commit": "CODEBUILD_RESOLVED_SOURCE_VERSION",
        }
        missing = sorted(variable for variable in names.values() if not environ.get(variable))
        if missing:
            raise MissingEnvironmentError(
                f"missing environment variables: {', '.join(missing)} "
                "(set by the platform's CodeBuild project; export them to run outside it)"
            )
        return cls(
            **{field: environ[variable] for field, variable in names.items()},
            source_repository=environ.get("SOURCE_REPOSITORY") or None,
            mlflow_tracking_uri=environ.get(MLFLOW_TRACKING_URI_VARIABLE) or None,
            build_id=environ.get("CODEBUILD_BUILD_ID") or None,
        )

    def raw_data_prefix(self, model_name: str) -> str:
        """Where the build uploads the table it trains on: one folder per commit, never overwritten."""
        return f"s3://{self.artifact_bucket}/{model_name}/data/raw/{self.source_commit}/"

    def training_set_prefix(self, model_name: str) -> str:
        """Where the build has Athena write the point-in-time training set: one folder per commit."""
        return f"s3://{self.artifact_bucket}/{model_name}/data/training-sets/{self.source_commit}/"


def athena_workgroup(environ: Mapping[str, str] = os.environ) -> str:
    """The Athena workgroup that runs the training-set query: ATHENA_WORKGROUP, else Athena's default."""
    return environ.get("ATHENA_WORKGROUP") or DEFAULT_ATHENA_WORKGROUP
