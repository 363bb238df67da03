"""What both accounts compute about a serving account's stack: the record preprocessor Model Monitor runs
on each captured record, an asset of the target stack (`mlops_constructs.target` holds its constructs).

Production's serving template (rendered and deployed by the tooling account's deploy pipeline) takes the
script's S3 URL as a parameter, and the monitoring role of the serving account reads exactly that object.
The URL is known without the target stack: the asset is hashed by its content (`record_preprocessor_url`
computes what CDK names it, in the bootstrap bucket of the app's qualifier), so the tooling account's
pipeline passes the same URL the target stack publishes, and a change of the script changes both.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import AssetHashType, DefaultStackSynthesizer
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from mlops_constructs.accounts import ServingAccount

# Where an app sets the qualifier of its stacks' default synthesizer (CDK's own context key; cx-api
# does not export it to Python).
BOOTSTRAP_QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"
RECORD_PREPROCESSOR = Path(__file__).resolve().parent / "runtime" / "model_monitor_preprocessor.py"


def _content_hash() -> str:
    return hashlib.sha256(RECORD_PREPROCESSOR.read_bytes()).hexdigest()


def record_preprocessor_asset(scope: Construct, construct_id: str) -> s3_assets.Asset:
    """The script as a file asset of `scope`'s stack (its account's CDK bootstrap bucket), hashed by content."""
    return s3_assets.Asset(
        scope,
        construct_id,
        path=str(RECORD_PREPROCESSOR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=_content_hash(),
    )


def bootstrap_qualifier(scope: Construct) -> str:
    """The CDK bootstrap qualifier the default synthesizer of `scope`'s stacks uses: the app's context
    `@aws-cdk/core:bootstrapQualifier`, or CDK's default."""
    qualifier = scope.node.try_get_context(BOOTSTRAP_QUALIFIER_CONTEXT)
    return str(qualifier) if qualifier else DefaultStackSynthesizer.DEFAULT_QUALIFIER


def record_preprocessor_url(
    account: ServingAccount, *, qualifier: str = DefaultStackSynthesizer.DEFAULT_QUALIFIER
) -> str:
    """Where `record_preprocessor_asset` puts the script in `account` (the default synthesizer's bootstrap
    bucket of `qualifier`, `bootstrap_qualifier` of the calling scope; CDK names a custom-hashed file asset
    by the SHA-256 of that hash, with the file's extension)."""
    bucket = (
        DefaultStackSynthesizer.DEFAULT_FILE_ASSETS_BUCKET_NAME.replace("${Qualifier}", qualifier)
        .replace("${AWS::AccountId}", account.account)
        .replace("${AWS::Region}", account.region)
    )
    key = hashlib.sha256(_content_hash().encode()).hexdigest() + RECORD_PREPROCESSOR.suffix
    return f"s3://{bucket}/{key}"
