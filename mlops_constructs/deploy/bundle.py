"""The deploy bundle: the deploy pipeline's source, so that no step needs the platform's source code.

It holds the two serving templates and the scripts the pipeline's CodeBuild actions run (no sample
payloads: the checks read the package's own), laid out as
in the repository so that they run as modules (`python -m tools.resolve_champion`) and import the
shared runtime code exactly as their tests do: `lambdas/common/contracts.py` (the names every part
agrees on), `lambdas/common/serving_state.py` (who serves a stage) and `lambdas/common/errors.py`
(what an error answer says). They need nothing but boto3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambdas.common.contracts import Stage
from mlops_constructs.assets import Content, compose

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent.parent
# The bundle's Python files, by their path in the repository (and in the bundle).
SCRIPTS = (
    "lambdas/__init__.py",
    "lambdas/common/__init__.py",
    "lambdas/common/accounts.py",
    "lambdas/common/contracts.py",
    "lambdas/common/errors.py",
    "lambdas/common/serving_state.py",
    "tools/__init__.py",
    "tools/smoke_test.py",
    "tools/inference_contract.py",
    "tools/answers.py",
    "tools/batch_check.py",
    "tools/resolve_champion.py",
)
SMOKE_TEST_MODULE = "tools.smoke_test"
BATCH_CHECK_MODULE = "tools.batch_check"
RESOLVE_CHAMPION_MODULE = "tools.resolve_champion"


def template_file(stage: Stage) -> str:
    return f"{stage}.template.json"


def compose_deploy_bundle(templates: dict[Stage, dict[str, Any]]) -> Path:
    """The serving templates and the scripts, as one asset directory."""
    contents: dict[str, Content] = {
        template_file(stage): json.dumps(template, indent=1, sort_keys=True) for stage, template in templates.items()
    }
    contents |= {script: REPOSITORY_ROOT / script for script in SCRIPTS}
    return compose("mlops-deploy-bundle", contents)
