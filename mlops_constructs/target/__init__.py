"""What a serving account holds for the platform (the `<platform>-target-<stage>` stack's constructs):
each model's roles there, named after `mlops_constructs.accounts.ServingAccount`, and the forwarding of
its serving events to the tooling account; for models created from SageMaker Projects, the role their
StackSets run as (`provisioner`) and their roles template (`roles_template`, rendered by `render`).

The tooling account's stacks never reference these constructs: they name the roles, bucket, key and
topic through `ServingAccount`, and compute the record preprocessor's location with
`mlops_constructs.target_account` (which imports none of this), so each account's stacks synthesize on their
own; the target stacks deploy first (`mlops_constructs.accounts`).
"""

from mlops_constructs.target.forwarding import ServingEventForwarding, forwarded_event_patterns
from mlops_constructs.target.model_roles import ModelTargetRoles, serving_account_denies
from mlops_constructs.target.provisioner import RolesProvisioner

__all__ = [
    "ModelTargetRoles",
    "RolesProvisioner",
    "ServingEventForwarding",
    "forwarded_event_patterns",
    "serving_account_denies",
]
