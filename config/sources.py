"""The rules for a Git source that models' sources and the platform's delivery share."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

CONNECTION_ARN_PATTERN = (
    r"^arn:aws(-[a-z]+)*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
CONNECTION_ARN = Annotated[str, StringConstraints(pattern=CONNECTION_ARN_PATTERN)]
# owner/name (GitLab groups may nest: group/subgroup/name).
GIT_HOST_REPOSITORY = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", max_length=255)]
BRANCH_NAME = Annotated[str, StringConstraints(pattern=r"^[^\s~^:?*\[\\]+$", min_length=1, max_length=255)]
