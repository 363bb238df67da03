"""The regions the platform can serve, from the tables that decide it.

Production serving runs SageMaker Model Monitor (data and model quality) and SageMaker Clarify's
monitors (bias and feature attribution drift), whose images AWS publishes from a different account in
each region, one account per image. A region lacking either image cannot serve a model, so the regions
with both are the ones the configuration accepts (config/schema.py), and these tables are the source of
the image URIs the monitoring schedules use. Dependency-free: the schema and the constructs import it.
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

# The AWS account that publishes the Clarify processing image (which Clarify's bias and explainability
# monitors run) in each region: the SDK's image_uri_config/clarify.json, version CLARIFY_IMAGE_VERSION.
# Left out on purpose: the aws-iso-f regions (as above). The SDK publishes no Clarify image in
# eu-south-2, il-central-1 and me-central-1, which have a Model Monitor image: the platform does not
# serve there. Its us-gov-west-1 image is here although that region lacks a Model Monitor image.
CLARIFY_IMAGE_ACCOUNTS: dict[str, str] = {
    "af-south-1": "811711786498", "ap-east-1": "098760798382", "ap-northeast-1": "377024640650",
    "ap-northeast-2": "263625296855", "ap-northeast-3": "912233562940", "ap-south-1": "452307495513",
    "ap-southeast-1": "834264404009", "ap-southeast-2": "007051062584", "ap-southeast-3": "705930551576",
    "ca-central-1": "675030665977", "cn-north-1": "122526803553", "cn-northwest-1": "122578899357",
    "eu-central-1": "017069133835", "eu-central-2": "730335477804", "eu-north-1": "763603941244",
    "eu-south-1": "638885417683", "eu-west-1": "131013547314", "eu-west-2": "440796970383",
    "eu-west-3": "341593696636", "me-south-1": "835444307964", "sa-east-1": "520018980103",
    "us-east-1": "205585389593", "us-east-2": "211330385671", "us-gov-west-1": "598674086554",
    "us-west-1": "740489534195", "us-west-2": "306415355426",
}  # fmt: skip
CLARIFY_PROCESSING_REPOSITORY = "sagemaker-clarify-processing"
CLARIFY_IMAGE_VERSION = "1.0"

SUPPORTED_REGIONS = frozenset(MODEL_MONITOR_IMAGE_ACCOUNTS) & frozenset(CLARIFY_IMAGE_ACCOUNTS)


def model_monitor_image_uri(region: str) -> str:
    """The Model Monitor analyzer image of `region`; a ValueError for a region it is not published in."""
    registry = _registry(MODEL_MONITOR_IMAGE_ACCOUNTS, region, "Model Monitor publishes no analyzer image")
    return f"{registry}/{MODEL_MONITOR_ANALYZER_REPOSITORY}"


def clarify_image_uri(region: str) -> str:
    """The Clarify processing image of `region`; a ValueError for a region it is not published in."""
    registry = _registry(CLARIFY_IMAGE_ACCOUNTS, region, "Clarify publishes no processing image")
    return f"{registry}/{CLARIFY_PROCESSING_REPOSITORY}:{CLARIFY_IMAGE_VERSION}"


def _registry(accounts: dict[str, str], region: str, missing: str) -> str:
    account = accounts.get(region)
    if account is None:
        raise ValueError(f"SageMaker {missing} in {region}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}"
