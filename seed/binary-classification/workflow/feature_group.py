"""The model's feature group as SageMaker describes it, checked against the feature-records contract.

Ingestion and the training-set query both rely on the feature group having the contract's
record identifier, event time and features with matching types; checking that with one
DescribeFeatureGroup call turns a misconfiguration into one clear error instead of a failure per
record or a failed query.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from workflow.schema import EVENT_TIME_COLUMN, FEATURE_RECORDS, ID_COLUMN

# How each contract dtype is stored in Feature Store.
FEATURE_TYPE_BY_DTYPE = {"str": "String", "int64": "Integral", "float64": "Fractional"}


class FeatureGroupError(RuntimeError):
    """The feature group cannot be used as the contract expects."""


@dataclass(frozen=True)
class GlueTable:
    database: str
    table: str

    @classmethod
    def parse(cls, qualified_name: str) -> "GlueTable":
        """`database.table`, as written on a command line."""
        database, dot, table = qualified_name.partition(".")
        if not (database and dot and table):
            raise ValueError(f"expected database.table, got {qualified_name!r}")
        return cls(database, table)

    def sql(self) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(self.table)}"


def quote_identifier(name: str) -> str:
    """An Athena (Trino) quoted identifier: any name is safe inside, a quote is doubled."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class OfflineStoreTable:
    """The Glue Data Catalog table over the feature group's offline store."""

    catalog: str
    table: GlueTable


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    status: str
    record_identifier: str
    event_time_feature: str
    feature_types: Mapping[str, str]
    offline_store: OfflineStoreTable | None


def expected_feature_types() -> dict[str, str]:
    """Feature name -> Feature Store type, as the feature-records contract implies."""
    return {
        name: FEATURE_TYPE_BY_DTYPE[str(column.dtype)] for name, column in FEATURE_RECORDS.columns.items()
    }


def describe_feature_group(sagemaker_client: Any, name: str) -> FeatureGroup:
    try:
        description = sagemaker_client.describe_feature_group(FeatureGroupName=name)
    except ClientError as error:
        if error.response["Error"].get("Code") == "ResourceNotFound":
            region = sagemaker_client.meta.region_name
            raise FeatureGroupError(f"feature group {name} does not exist in {region}") from error
        raise
    catalog = description.get("OfflineStoreConfig", {}).get("DataCatalogConfig")
    return FeatureGroup(
        name=description["FeatureGroupName"],
        status=description.get("FeatureGroupStatus", "Unknown"),
        record_identifier=description["RecordIdentifierFeatureName"],
        event_time_feature=description["EventTimeFeatureName"],
        feature_types={
            definition["FeatureName"]: definition["FeatureType"]
            for definition in description["FeatureDefinitions"]
        },
        offline_store=(
            OfflineStoreTable(catalog["Catalog"], GlueTable(catalog["Database"], catalog["TableName"]))
            if catalog
            else None
        ),
    )


def contract_mismatches(group: FeatureGroup) -> list[str]:
    """Every way the feature group differs from the contract; features beyond it are allowed."""
    problems = []
    if group.record_identifier != ID_COLUMN:
        problems.append(f"record identifier is {group.record_identifier!r}, expected {ID_COLUMN!r}")
    if group.event_time_feature != EVENT_TIME_COLUMN:
        problems.append(f"event time feature is {group.event_time_feature!r}, expected {EVENT_TIME_COLUMN!r}")
    for name, expected_type in expected_feature_types().items():
        actual_type = group.feature_types.get(name)
        if actual_type is None:
            problems.append(f"feature {name!r} is missing")
        elif actual_type != expected_type:
            problems.append(f"feature {name!r} is {actual_type}, expected {expected_type}")
    return problems


def require_contract(group: FeatureGroup) -> None:
    problems = contract_mismatches(group)
    if problems:
        raise FeatureGroupError(
            f"feature group {group.name} does not match the feature-records contract:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
