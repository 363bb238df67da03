"""Reading a pipeline definition (JSON) in tests: its steps, nested ones included, and references."""

from typing import Any

Definition = dict[str, Any]


def all_steps(definition: Definition) -> dict[str, dict[str, Any]]:
    """Every step by name, those of the condition's branches included."""
    steps = {}
    for step in definition["Steps"]:
        steps[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            steps.update({nested["Name"]: nested for nested in step["Arguments"].get(branch, [])})
    return steps


def get(reference: str) -> dict[str, str]:
    """A reference to a parameter, execution variable or step property, as the definition spells it."""
    return {"Get": reference}


def join(*values: object) -> dict[str, Any]:
    return {"Std:Join": {"On": "/", "Values": list(values)}}
