"""Reading a pipeline definition (JSON) in tests: its steps, nested ones included, and references."""

import json
import re
from typing import Any

Definition = dict[str, Any]

# What the SDK names afresh each time it builds a definition: the folders it uploads code and monitor
# configurations to (`<job>-<timestamp>`, `/<UUID>/`).
BUILD_TIME_NAMES = re.compile(
    r"(?<=-)(\d{4}(-\d{2}){5}-\d{3}|\d{14})\b|(?<=/)[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}(?=/)"
)


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


def comparable(definition: Definition) -> Definition:
    """The definition with the names the SDK makes up at each build replaced by a placeholder."""
    document: Definition = json.loads(BUILD_TIME_NAMES.sub("<built>", json.dumps(definition)))
    return document
