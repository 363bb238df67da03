"""The platform's own delivery pipeline (`delivery:` in platform.yaml): where its code lives and which
branch the self-mutating pipeline follows. Without the section, the platform is deployed by hand."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from config.sources import BRANCH_NAME, CONNECTION_ARN, GIT_HOST_REPOSITORY


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CodeCommitDeliverySource(_Strict):
    """A CodeCommit repository the delivery stack creates (and retains); default `<name>-platform`."""

    provider: Literal["codecommit"]
    repository: Annotated[str, StringConstraints(pattern=r"^[\w.-]+$", min_length=1, max_length=100)] | None = None


class CodeConnectionsDeliverySource(_Strict):
    """The platform's repository on GitHub, GitLab or Bitbucket, through a CodeConnections connection."""

    provider: Literal["codeconnections"]
    connection_arn: CONNECTION_ARN
    repository: GIT_HOST_REPOSITORY


DeliverySource = Annotated[CodeCommitDeliverySource | CodeConnectionsDeliverySource, Field(discriminator="provider")]


class DeliveryConfig(_Strict):
    source: DeliverySource
    branch: BRANCH_NAME = "main"

    def repository_name(self, platform_name: str) -> str:
        """The repository the pipeline follows: CodeCommit's name, or the Git host's owner/name."""
        return self.source.repository or f"{platform_name}-platform"
