"""The feature store grants each access to a group through one managed policy, whatever the number of roles."""

from __future__ import annotations

import json

from aws_cdk.assertions import Template


def test_one_policy_per_access_and_group_shared_by_the_roles_granted_it(feature_store: Template) -> None:
    """CloudFormation takes 500 resources in a stack: a policy per role and access would reach it near
    120 models on one group (docs/performance.md); a policy per access and group stays at three."""
    policies = feature_store.find_resources("AWS::IAM::ManagedPolicy")
    by_access = {
        policy["Properties"]["Description"]: json.dumps(policy["Properties"]["Roles"])
        for policy in policies.values()
        if policy["Properties"].get("Description", "").startswith("Feature Store ")
    }
    assert sorted(by_access) == [
        "Feature Store Ingest: feature group churn-customer-features",
        "Feature Store ReadOffline: feature group churn-customer-features",
        "Feature Store ReadOnline: feature group churn-customer-features",
    ]
    offline = by_access["Feature Store ReadOffline: feature group churn-customer-features"]
    # The train build's role (it builds the training set) and the training job's role (it reads the set).
    assert "ProjectTrainProjectRole" in offline
    assert "ProjectSageMakerExecutionRole" in offline
    assert (
        "ProjectSageMakerExecutionRole" not in by_access["Feature Store Ingest: feature group churn-customer-features"]
    )
    assert "DeployServingRole" in by_access["Feature Store ReadOnline: feature group churn-customer-features"]
