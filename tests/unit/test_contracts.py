"""The contracts are defined once (DESIGN.md convention 3): no product file writes a contract's value itself.

Every string constant of lambdas/common/contracts.py is looked for in the string literals (docstrings
excepted: they may explain a name) of every product Python file; each must come from the module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from lambdas.common import contracts
from tests.conftest import ROOT

PRODUCT_DIRECTORIES = ("app.py", "config", "stacks", "mlops_constructs", "lambdas", "tools")
CONTRACTS_FILE = ROOT / "lambdas" / "common" / "contracts.py"
# Plain words that also occur in prose and AWS enums; their use is checked by behaviour tests instead.
WORDS = {
    contracts.CHAMPION_VARIANT,
    contracts.CHALLENGER_VARIANT,
    contracts.APPROVED,
    contracts.NO_CHALLENGER,
    contracts.DATA_QUALITY,
    contracts.MODEL_QUALITY,
    contracts.MODELS_NAMESPACE,
    contracts.PLATFORM_NAMESPACE,
    *contracts.STAGES,
}


# Values that are also AWS's own names, where a file means AWS's, not the contract: (file, value) -> why.
COINCIDENCES = {
    ("lambdas/approval_gate/models.py", contracts.DEPLOY_PIPELINE_VARIABLE): "a field of SageMaker's package event",
    ("mlops_constructs/serving/endpoint.py", contracts.ENDPOINT_OUTPUT): "SageMaker's CloudWatch dimension",
    ("lambdas/traffic_shift/shift.py", contracts.ENDPOINT_OUTPUT): "SageMaker's CloudWatch dimension",
    ("lambdas/traffic_shift/handler.py", contracts.ENDPOINT_OUTPUT): "a field of SageMaker's DescribeEndpoint",
    ("stacks/governance_stack.py", contracts.ALERT_TOPIC_PARAMETER): "the governance stack's output id",
    ("stacks/target_stack.py", contracts.ALERT_TOPIC_PARAMETER): "the target stack's output id",
    ("mlops_constructs/target/forwarding.py", contracts.ENDPOINT_OUTPUT): "a field of SageMaker's endpoint event",
    ("tools/inference_contract.py", contracts.DEPLOY_PIPELINE_VARIABLE): "a field of SageMaker's DescribeModelPackage",
    ("mlops_constructs/serving/batch.py", contracts.MODEL_NAME_PARAMETER): "a field of SageMaker's transform step",
    ("mlops_constructs/serving/endpoint.py", contracts.MODEL_NAME_PARAMETER): "a field of an endpoint config's variant",
    ("lambdas/common/endpoints.py", contracts.MODEL_NAME_PARAMETER): "a field of SageMaker's DescribeEndpointConfig",
    ("mlops_constructs/runtime/model_monitor_preprocessor.py", contracts.INSTANCES_KEY): (
        "runs alone in the Model Monitor container; test_model_monitor_preprocessor checks it reads the contract's"
        " requests"
    ),
}


def contract_values() -> dict[str, str]:
    values = {
        name: value
        for name, value in vars(contracts).items()
        if name.isupper() and isinstance(value, str) and value not in WORDS
    }
    assert len(values) >= 30, sorted(values)
    return values


def product_files() -> Iterator[Path]:
    for entry in PRODUCT_DIRECTORIES:
        path = ROOT / entry
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def string_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_product_file_writes_a_contract_value_of_its_own() -> None:
    values = contract_values()
    copies = [
        f"{path.relative_to(ROOT)}:{line}: {name} = {value!r} in {literal!r}"
        for path in product_files()
        if path != CONTRACTS_FILE
        for line, literal in string_literals(ast.parse(path.read_text()))
        for name, value in values.items()
        if value == literal or (len(value) >= 7 and not value.isalpha() and value in literal)
        if (str(path.relative_to(ROOT)), value) not in COINCIDENCES
    ]
    assert copies == []


def test_the_scan_finds_a_copy() -> None:
    """The test above would see a copied literal (it is not passing because it looks at nothing)."""
    copied = ast.parse(f'PREFIX = f"{{endpoint}}{contracts.DRIFT_ALARM_INFIX}{{feature}}"\n')
    found = [literal for _, literal in string_literals(copied) if contracts.DRIFT_ALARM_INFIX in literal]
    assert found == [contracts.DRIFT_ALARM_INFIX]
    assert sum(1 for _ in product_files()) > 60
