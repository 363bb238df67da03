"""Experiment tracking (`experiments:` in platform.yaml): a SageMaker managed MLflow tracking server the
builds and Studio log runs to. Without the section, no server exists and the builds track nothing."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

# An MLflow release line SageMaker serves (`<major>.<minor>`, or a full `<major>.<minor>.<patch>`); which
# lines exist is SageMaker's list ("Tracking server versions"), checked by CreateMlflowTrackingServer.
MLFLOW_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
# When SageMaker may restart the server for maintenance: day, hour and minute, in UTC
# (CreateMlflowTrackingServer's WeeklyMaintenanceWindowStart).
MAINTENANCE_WINDOW = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):[0-5]\d$")


class ExperimentsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Small: up to about 25 users; Medium: 50; Large: 100 (SageMaker's sizing guidance).
    tracking_server_size: Literal["Small", "Medium", "Large"] = "Small"
    mlflow_version: str
    weekly_maintenance_window: str

    @field_validator("mlflow_version")
    @classmethod
    def _release_line(cls, version: str) -> str:
        if not MLFLOW_VERSION.fullmatch(version):
            raise ValueError(f"{version!r} is not an MLflow version: expected <major>.<minor> such as 3.0")
        return version

    @field_validator("weekly_maintenance_window")
    @classmethod
    def _window_start(cls, window: str) -> str:
        if not MAINTENANCE_WINDOW.fullmatch(window):
            raise ValueError(f"{window!r} is not a weekly start time: expected Ddd:HH:MM (UTC), such as Sun:02:00")
        return window
