"""cfn-lint over every synthesized template, serving templates included: zero errors and warnings.

Warnings we keep are listed, with their reason, in .cfnlintrc.yaml. cfn-lint runs in the background from
the moment each configuration is synthesized (tests/conftest.py, tests/template_lint.py); these tests
collect its findings, last in the session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CONFIGURATIONS, Synthesized, synthesized_templates
from tests.template_lint import TemplateLint


@pytest.mark.background
@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_every_template_passes_cfn_lint(
    configuration: str, request: pytest.FixtureRequest, template_lint: TemplateLint
) -> None:
    synthesized: Synthesized = request.getfixturevalue(configuration)
    assembly = Path(synthesized.assembly.directory)
    # The stacks' templates, and the SageMaker Projects products' (<...>.product.template.json).
    templates = sorted(assembly.glob("*.template.json"))
    # The serving templates the deploy pipelines deploy travel inside their deploy bundle asset.
    serving_templates = sorted(assembly.glob("asset.*/*.template.json"))
    assert templates, "no template was synthesized"
    assert {path.name for path in serving_templates} == {"staging.template.json", "production.template.json"}
    # Every rendered serving template, of the models in config and of the products, is linted (equal
    # bundles share one asset).
    linted = [json.loads(path.read_text()) for path in serving_templates]
    projects = synthesized.platform.projects
    pipelines = [stack.deploy for stack in synthesized.platform.model_deploys.values()] + (
        [template.deployed.deploy for template in projects.templates.values()] if projects else []
    )
    assert all(rendered in linted for deploy in pipelines for rendered in deploy.templates.values())
    products = sorted(assembly.glob("*.product.template.json"))
    assert len(products) == (len(projects.templates) if projects else 0)
    templates += serving_templates
    assert templates == synthesized_templates(synthesized)
    findings = template_lint.findings(templates)
    assert findings == [], "\n\n".join(findings)
