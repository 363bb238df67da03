"""Where a model's training set came from, as its model package records it.

The Athena training-set builder (workflow/training_set.py) writes a manifest of what it built: the
training table's S3 URI, the feature group it was joined from and the event-time range of the
feature records joined. run_pipeline passes them to the pipeline as parameters, and the registration
writes them into the package's CustomerMetadataProperties under the manifest's field names, which
the platform's lineage tool reads.

Event times are ISO-8601 UTC in whole seconds (`2026-10-01T00:00:00Z`), `from` inclusive and `to`
exclusive: the smallest such range that holds every joined record's event time (the earliest one's
second, and the second after the latest one's). Whole seconds are what the lineage tool documents,
and no bound then depends on how a fractional epoch time rounds.
"""

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from workflow.config import FeatureGroupName

# The package's metadata keys (CustomerMetadataProperties) the platform's lineage tool reads; each is
# also the manifest's field of the same name.
TRAINING_DATA_KEY = "training_data_s3_uri"
FEATURE_GROUP_KEY = "feature_group_name"
EVENT_TIME_FROM_KEY = "event_time_from"
EVENT_TIME_TO_KEY = "event_time_to"
FEATURE_STORE_KEYS = (FEATURE_GROUP_KEY, EVENT_TIME_FROM_KEY, EVENT_TIME_TO_KEY)

# What a package trained on data that does not come from a feature group (the synthetic table, a
# table given with --dataset or --input-data-uri) records under each of FEATURE_STORE_KEYS.
# CreateModelPackage refuses an empty value (CustomerMetadataValue: 1 to 256 characters).
NOT_FROM_A_FEATURE_GROUP = "none"
NO_FEATURE_STORE_SOURCE: Mapping[str, str] = MappingProxyType(
    dict.fromkeys(FEATURE_STORE_KEYS, NOT_FROM_A_FEATURE_GROUP)
)

EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EventTime = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]
S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[^/]+/.+")]


class ManifestError(ValueError):
    """A training-set manifest that cannot be read or does not hold what a package records."""


class TrainingSetManifest(BaseModel):
    """A training set built from a feature group: the package records each field under its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    training_data_s3_uri: S3Uri
    feature_group_name: FeatureGroupName
    event_time_from: EventTime
    event_time_to: EventTime

    @model_validator(mode="after")
    def _a_real_source(self) -> "TrainingSetManifest":
        if self.feature_group_name == NOT_FROM_A_FEATURE_GROUP:
            raise ValueError(
                f"a feature group named {NOT_FROM_A_FEATURE_GROUP!r} cannot be told apart from none"
            )
        start, end = (parse_event_time(value) for value in (self.event_time_from, self.event_time_to))
        if start >= end:
            raise ValueError(f"event_time_from {self.event_time_from} is not before event_time_to")
        return self

    @classmethod
    def of_feature_records(
        cls, *, training_data_s3_uri: str, feature_group_name: str, event_times: Iterable[float]
    ) -> "TrainingSetManifest":
        """The manifest of a training set joined from the records with these event times (epoch seconds)."""
        seconds = [float(value) for value in event_times]
        if not seconds:
            raise ManifestError("a training set without feature records has no event-time range")
        try:
            return cls(
                training_data_s3_uri=training_data_s3_uri,
                feature_group_name=feature_group_name,
                event_time_from=format_event_time(math.floor(min(seconds))),
                event_time_to=format_event_time(math.floor(max(seconds)) + 1),
            )
        except ValidationError as error:
            raise ManifestError(
                f"the training set's lineage cannot be recorded: {_problems(error)}"
            ) from error

    def feature_store_source(self) -> dict[str, str]:
        """The values of FEATURE_STORE_KEYS."""
        return self.model_dump(include=set(FEATURE_STORE_KEYS))

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> "TrainingSetManifest":
        try:
            return cls.model_validate_json(path.read_text())
        except OSError as error:
            raise ManifestError(f"{path}: {error.strerror}") from error
        except ValidationError as error:
            raise ManifestError(f"{path} is not a training-set manifest: {_problems(error)}") from error


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, problem['loc'])) or 'manifest'}: {problem['msg']}" for problem in error.errors()
    )


def format_event_time(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime(EVENT_TIME_FORMAT)


def parse_event_time(value: str) -> datetime:
    return datetime.strptime(value, EVENT_TIME_FORMAT).replace(tzinfo=UTC)
