"""IAM conditions on the model tag: how a model's roles reach resources whose names AWS generates.

SageMaker models, endpoint configs, monitoring job definitions, pipeline jobs and scalable targets
have generated names that say nothing of the model; they carry the tag `mlops:model=<model>`
(`lambdas.common.contracts.MODEL_TAG`) instead, and a model's roles act only on what carries theirs.
"""

from __future__ import annotations

from lambdas.common.contracts import MODEL_TAG

Conditions = dict[str, dict[str, str]]


def tagged_for(model_name: str) -> Conditions:
    """The resource carries this model's tag."""
    return {"StringEquals": {f"aws:ResourceTag/{MODEL_TAG}": model_name}}


def untagged_or_tagged_for(model_name: str) -> Conditions:
    """The resource carries this model's tag, or none yet (being created, or older than the tag)."""
    return {"StringEqualsIfExists": {f"aws:ResourceTag/{MODEL_TAG}": model_name}}


def tagging_for(model_name: str) -> Conditions:
    """Creating or tagging with this model's tag, and only what is untagged or this model's already:
    a role that could retag another model's resource could then act on it."""
    return {"StringEquals": {f"aws:RequestTag/{MODEL_TAG}": model_name}} | untagged_or_tagged_for(model_name)
