"""cdk-nag: every rule pack passes with zero unacknowledged findings, and the packs really run."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

from mlops_constructs.compliance import acknowledge, rule_packs
from tests.conftest import CONFIGURATIONS, Synthesized


def _findings(app: App) -> dict[str, list[str]]:
    findings: dict[str, list[str]] = {}
    for pack in rule_packs(app):
        report = pack.validate_scope(app)
        findings[pack.read_pack_name] = [
            f"{violation.rule_name} at {resource.construct_path}: {violation.description}"
            for violation in report.violations
            for resource in violation.violating_resources
        ]
    return findings


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_platform_has_no_unacknowledged_findings(configuration: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(configuration)
    findings = _findings(synthesized.app)
    assert set(findings) == {"AwsSolutions", "NIST.800.53.R5"}
    assert findings == {"AwsSolutions": [], "NIST.800.53.R5": []}


def test_the_packs_catch_an_insecure_bucket() -> None:
    """Guards the guard: a bare bucket must produce findings, else the test above proves nothing."""
    app = App()
    s3.Bucket(Stack(app, "Insecure"), "Bare")
    findings = _findings(app)
    assert any(finding.startswith("AwsSolutions-S1 at Insecure/Bare") for finding in findings["AwsSolutions"])
    assert any(finding.startswith("NIST.800.53.R5-S3BucketLoggingEnabled") for finding in findings["NIST.800.53.R5"])


def test_an_acknowledgment_silences_only_its_rule() -> None:
    app = App()
    bucket = s3.Bucket(Stack(app, "Acknowledged"), "Bare")
    acknowledge(bucket, "test: this bucket exists to check acknowledgments", "AwsSolutions-S1")
    findings = _findings(app)
    assert not any(finding.startswith("AwsSolutions-S1 ") for finding in findings["AwsSolutions"])
    assert any(finding.startswith("AwsSolutions-S10 ") for finding in findings["AwsSolutions"])


def test_an_acknowledgment_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        acknowledge(s3.Bucket(Stack(App(), "NoReason"), "Bare"), "  ", "AwsSolutions-S1")
