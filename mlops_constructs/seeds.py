"""What a new model repository starts from: the seed templates, and the settings written into them.

Each seed template is a standalone project under `seed/<name>/` (`models[].seed`). The platform adds
a `model_config.json` (the seed's config contract, `model_settings`) and pushes the result: into the
CodeCommit repository it creates, or as an archive a team pushes to its own Git host.

The build reads the model's settings from its CodeBuild projects' `MODEL_SETTINGS` variable, which
CloudFormation renders at deploy time; the repository's `model_config.json` is what a data scientist's
local runs read, so it is written at synth time from literal values only. For a model declared in
config the two are the same; a SageMaker Projects product, whose model name is a template parameter,
writes its defaults under `PLACEHOLDER_MODEL_NAME` into the repository.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from aws_cdk import Token

from config.schema import ModelConfig, SeedName
from lambdas.common.contracts import MODEL_TAG, PACKAGE_TASKS, SAMPLE_PAYLOADS_PREFIX, model_package_group_name
from mlops_constructs.assets import Content, compose, tree

SEEDS_DIRECTORY = Path(__file__).resolve().parent.parent / "seed"


def seed_template(seed: SeedName) -> Path:
    """The seed template a model's repository starts from (`models[].seed`)."""
    return SEEDS_DIRECTORY / seed


# Local state of a data scientist's checkout that must never be pushed into a new repository.
SEED_EXCLUDES = (".venv*", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache", "generated", "output")


# The build projects' environment variable holding the model's settings as JSON. The seeds cannot
# import the platform: each seed's workflow/config.py spells it too (tests/unit/test_seed_contract.py).
MODEL_SETTINGS_VARIABLE: Final = "MODEL_SETTINGS"
# The model name in the `model_config.json` of a repository whose model is named at deploy time (a
# SageMaker Projects product): a name the seeds accept, so local runs (tests, data, jobs) work as pushed.
PLACEHOLDER_MODEL_NAME: Final = "my-model"


def model_settings(model: ModelConfig) -> dict[str, object]:
    """The model's settings, the seed's config contract: what the build reads (`MODEL_SETTINGS_VARIABLE`)
    and, when every value is literal, the seeded repository's `model_config.json`.

    Values known only at deploy time (tokens: a product's model name, threshold, instance types) are
    kept as tokens; `Stack.to_json_string` renders them, `seed_asset` refuses them."""
    return {
        "model_name": model.name,
        "model_package_group_name": model_package_group_name(model.name),
        "pipeline_name": f"{model.name}-build",
        "problem_type": model.problem_type,
        "metric": {"name": model.metric.name, "threshold": model.metric.threshold, "direction": model.metric_direction},
        "processing_instance_type": model.instance_types.processing,
        "training_instance_type": model.instance_types.training,
        # Every instance type the package may be served on: SageMaker refuses a model package on others.
        "inference_instance_types": serving_instance_types(model),
        "feature_group_name": model.feature_group,
        # The pipeline role acts only on jobs carrying the model's tag (_sagemaker_execution_role).
        "resource_tags": {MODEL_TAG: model.name},
        # What every package the build registers records: the smoke test, Model Monitor and the
        # batch check read the package's own contract, and its sample payloads, from it.
        # Clarify's bias checks (None: explainability only), and what the model card says besides what the
        # build measures.
        "clarify": _clarify_settings(model),
        "card": _card_settings(model),
        "package_metadata": {
            "task": PACKAGE_TASKS[model.problem_type],
            "customer_metadata_properties": model.contract.to_properties(),
            "sample_payloads_prefix": SAMPLE_PAYLOADS_PREFIX.format(model=model.name),
        },
    }


# What a model card says of what config does not state.
NOT_STATED: Final = "Not stated in the platform's configuration (models[].card)."


def _clarify_settings(model: ModelConfig) -> dict[str, object] | None:
    clarify = model.clarify
    if clarify is None:
        return None
    return {
        "facets": [{"name": facet.name, "values": list(facet.values)} for facet in clarify.facets],
        "label_values": list(clarify.label_values),
        "bias_policy": clarify.bias_policy,
    }


def _card_settings(model: ModelConfig) -> dict[str, object]:
    card = model.card
    if card is None:
        return {
            "description": model.description,
            "intended_uses": NOT_STATED,
            "limitations": NOT_STATED,
            "risk_rating": "unknown",
            "owner": NOT_STATED,
        }
    return {
        "description": model.description,
        "intended_uses": card.intended_uses,
        "limitations": card.limitations,
        "risk_rating": card.risk_rating,
        "owner": card.owner,
    }


def serving_instance_types(model: ModelConfig) -> list[str]:
    """The model's inference instance type first, then any other its stages or batch transform use."""
    types = [model.instance_types.inference]
    if model.is_batch:
        types.append(model.batch.instance_type or model.instance_types.inference)
    else:
        types += [
            stage.instance_type for stage in (model.serving.staging, model.serving.production) if stage.instance_type
        ]
    return list(dict.fromkeys(types))


def seed_asset(seed_directory: Path, settings: Mapping[str, object]) -> Path:
    """The seed without local state, plus `settings` as `model_config.json`.

    The archive is made at synth time: `settings` must be literal (no token), see `model_settings`.
    """
    unresolved = sorted(set(_unresolved_settings(settings)))
    if unresolved:
        raise ValueError(
            "model_config.json is written at synth time, but these settings are known only at deploy time"
            f" (CloudFormation tokens): {', '.join(unresolved)}. Give the repository literal settings instead"
            f" (for a product, its defaults with model_name {PLACEHOLDER_MODEL_NAME!r}); the build reads the"
            f" real ones from {MODEL_SETTINGS_VARIABLE}"
        )
    settings_json = json.dumps(settings, indent=2, sort_keys=True) + "\n"
    files: dict[str, Content] = {**tree(seed_directory, excludes=SEED_EXCLUDES), "model_config.json": settings_json}
    return compose("mlops-seed", files)


def _unresolved_settings(value: object, path: str = "") -> Iterator[str]:
    """The dotted names of the settings in `value` that hold a token."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if Token.is_unresolved(key):
                yield name
            yield from _unresolved_settings(item, name)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _unresolved_settings(item, path)
    elif Token.is_unresolved(value):
        yield path
