"""Where a model's build pipeline reads its code: a CodeCommit repository the platform seeds, or the
team's repository on GitHub, GitLab or Bitbucket through a CodeConnections connection (`models[].source`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from config.schema import CodeConnectionsSource, ModelConfig

SEED_BRANCH = "main"


@dataclass(frozen=True)
class PipelineSource:
    """The build pipeline's source action, and what it reads from: the seeded repository (CodeCommit)
    or, for a repository CloudFormation cannot create, the seed published as an archive."""

    action: codepipeline.IAction
    repository: codecommit.Repository | None = None
    seed_archive: s3_assets.Asset | None = None


def pipeline_source(
    scope: Construct, *, model: ModelConfig, seed: Path, encryption_key: kms.IKey, output: codepipeline.Artifact
) -> PipelineSource:
    """The source `model.source` names, its resources created in `scope` (the model's project)."""
    if isinstance(model.source, CodeConnectionsSource):
        return _connection_source(scope, model.name, model.source, seed, output)
    return _codecommit_source(scope, model, seed, encryption_key, output)


def _codecommit_source(
    scope: Construct, model: ModelConfig, seed: Path, encryption_key: kms.IKey, output: codepipeline.Artifact
) -> PipelineSource:
    """A CodeCommit repository created with the seed as its first commit on `main`, kept on deletion."""
    repository = codecommit.Repository(
        scope,
        "Repository",
        repository_name=f"{model.name}-model-build",
        # The model's own description (config allows CodeCommit's 1,000 characters): never cut, as a
        # deploy-time value (a product's parameter) cannot be.
        description=model.description,
        code=codecommit.Code.from_directory(str(seed), SEED_BRANCH),
        kms_key=encryption_key,
    )
    repository.apply_removal_policy(RemovalPolicy.RETAIN)
    action = actions.CodeCommitSourceAction(
        action_name="Checkout",
        repository=repository,
        branch=SEED_BRANCH,
        output=output,
        # Started by the project's push rule, whose target has retries and a DLQ.
        trigger=actions.CodeCommitTrigger.NONE,
    )
    return PipelineSource(action=action, repository=repository)


def _connection_source(
    scope: Construct, model_name: str, source: CodeConnectionsSource, seed: Path, output: codepipeline.Artifact
) -> PipelineSource:
    """The team's repository on its Git host, read through the connection.

    CloudFormation cannot create or seed it: the seed is published as an archive instead (a zip in
    the CDK assets bucket, keyed by its content hash, so every seed version is its own object).
    """
    seed_archive = s3_assets.Asset(scope, "SeedArchive", path=str(seed))
    role = iam.Role(
        scope,
        "SourceConnectionRole",
        assumed_by=iam.AccountPrincipal(Stack.of(scope).account),
        description=f"Checks out model '{model_name}' from {source.repository} through its connection",
    )
    # The action grants its role codestar-connections:UseConnection on the connection; since the
    # service's rename AWS asks policies to grant the new name, codeconnections, as well.
    role.add_to_policy(
        iam.PolicyStatement(actions=["codeconnections:UseConnection"], resources=[source.connection_arn])
    )
    # GitLab groups nest (group/subgroup/name): the owner is everything before the last "/".
    owner, _, repo = source.repository.rpartition("/")
    action = actions.CodeStarConnectionsSourceAction(
        action_name="Checkout",
        connection_arn=source.connection_arn,
        owner=owner,
        repo=repo,
        branch=source.branch,
        output=output,
        role=role,
        # Pushes start the pipeline through its trigger, filtered on the branch (the project's
        # _start_on_push); the action's own change detection stays off, as CodePipeline sets it for
        # filtered triggers.
        trigger_on_push=False,
        # A zip of the commit, as from CodeCommit: the build reads the commit id from
        # CODEBUILD_RESOLVED_SOURCE_VERSION, which CodePipeline sets, and needs no Git metadata.
        code_build_clone_output=False,
    )
    return PipelineSource(action=action, seed_archive=seed_archive)
