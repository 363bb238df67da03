"""The regions the platform can serve, from the one table that decides it.

Production endpoints run SageMaker Model Monitor, whose analyzer image AWS publishes from a
different account in each region. A region with no such image cannot serve a model, so this table
is also the list of regions the configuration accepts (config/schema.py) and the source of the
image URI the monitoring schedules use. Dependency-free: the schema and the constructs import it.
"""

from __future__ import annotations

# The AWS account that publishes the Model Monitor analyzer image in each region: the SageMaker
# Python SDK's image_uri_config/model-monitor.json (tests/unit/test_regions.py compares the two).
# Left out on purpose: the SDK's us-isof-east-1 and us-isof-south-1, regions of the isolated aws-iso-f
# partition, whose ECR domain is neither of the two below and which the platform is not built for.
MODEL_MONITOR_IMAGE_ACCOUNTS: dict[str, str] = {
    "af-south-1": "875698925577", "ap-east-1": "001633400207", "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524", "ap-northeast-3": "990339680094", "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676", "ap-southeast-2": "563025443158", "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234", "cn-north-1": "453000072557", "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253", "eu-central-2": "590183933784", "eu-north-1": "895015795356",
    "eu-south-1": "933208885752", "eu-south-2": "437450045455", "eu-west-1": "468650794304",
    "eu-west-2": "749857270468", "eu-west-3": "680080141114", "il-central-1": "843974653677",
    "me-central-1": "588750061953", "me-south-1": "607024016150", "sa-east-1": "539772159869",
    "us-east-1": "156813124566", "us-east-2": "777275614652", "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}  # fmt: skip
MODEL_MONITOR_ANALYZER_REPOSITORY = "sagemaker-model-monitor-analyzer"

SUPPORTED_REGIONS = frozenset(MODEL_MONITOR_IMAGE_ACCOUNTS)


def model_monitor_image_uri(region: str) -> str:
    """The Model Monitor analyzer image of `region`; a ValueError for a region it is not published in."""
    account = MODEL_MONITOR_IMAGE_ACCOUNTS.get(region)
    if account is None:
        raise ValueError(f"SageMaker Model Monitor publishes no analyzer image in {region}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{MODEL_MONITOR_ANALYZER_REPOSITORY}"
