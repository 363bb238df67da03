"""What a new model repository starts from: the seed templates, and the settings written into them.

Each seed template is a standalone project under `seed/<name>/` (`models[].seed`). The platform adds
the model's `model_config.json` (the seed's config contract, `model_settings`) and pushes the result:
into the CodeCommit repository it creates, or as an archive a team pushes to its own Git host.
"""

from __future__ import annotations

import json
from pathlib import Path

from config.schema import ModelConfig, SeedName
from lambdas.common.contracts import MODEL_TAG, PACKAGE_TASKS, SAMPLE_PAYLOADS_PREFIX, model_package_group_name
from mlops_constructs.assets import Content, compose, tree

SEEDS_DIRECTORY = Path(__file__).resolve().parent.parent / "seed"


def seed_template(seed: SeedName) -> Path:
    """The seed template a model's repository starts from (`models[].seed`)."""
    return SEEDS_DIRECTORY / seed


# Local state of a data scientist's checkout that must never be pushed into a new repository.
SEED_EXCLUDES = (".venv*", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache", "generated", "output")


def model_settings(model: ModelConfig) -> dict[str, object]:
    """The `model_config.json` written into the seeded repository (the seed's config contract)."""
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
        "package_metadata": {
            "task": PACKAGE_TASKS[model.problem_type],
            "customer_metadata_properties": model.contract.to_properties(),
            "sample_payloads_prefix": SAMPLE_PAYLOADS_PREFIX.format(model=model.name),
        },
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


def seed_asset(seed_directory: Path, settings: dict[str, object]) -> Path:
    """The seed without local state, plus this model's settings as `model_config.json`."""
    settings_json = json.dumps(settings, indent=2, sort_keys=True) + "\n"
    files: dict[str, Content] = {**tree(seed_directory, excludes=SEED_EXCLUDES), "model_config.json": settings_json}
    return compose("mlops-seed", files)
