"""How a request is encoded and whether an answer fits the model's inference contract.

Shared by the real-time smoke test (`tools/smoke_test.py`) and the batch check (`tools/batch_check.py`),
which resolve the contract and the instances to send with `tools/inference_contract.py`.

Requests are encoded per the contract's content type: JSON, `{"instances": [...]}`; CSV, header-less rows
of each instance's values in key order. Answers are judged per its accept type (a JSON answer's
`{"predictions": [...]}` names attributes, a CSV row numbers columns) and its problem type: the
prediction attribute is 0 or 1 (binary), a class name or whole number (multiclass) or a finite number
(regression); the probability attribute, when the contract has one, a number in [0, 1].

Standard library, `lambdas.common.contracts` and `tools.inference_contract` only: it ships in the deploy
bundle.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from lambdas.common.contracts import INSTANCES_KEY, JSON_CONTENT_TYPE, PREDICTIONS_KEY, InferenceContract
from tools.inference_contract import Instance

# --- requests -------------------------------------------------------------------------------------------


def encode_instances(contract: InferenceContract, instances: Sequence[Instance]) -> bytes:
    """One request body holding `instances`, in the contract's content type."""
    if contract.content_type == JSON_CONTENT_TYPE:
        return json.dumps({INSTANCES_KEY: list(instances)}).encode("utf-8")
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(instance.values() for instance in instances)
    return text.getvalue().encode("utf-8")


# --- answers --------------------------------------------------------------------------------------------


def check_answer(contract: InferenceContract, body: bytes, instances: int) -> str | None:
    """What is wrong with an endpoint's answer to a request of `instances` instances, or None."""
    if contract.accept == JSON_CONTENT_TYPE:
        predictions, problem = _json_predictions(body)
        if predictions is None:
            return problem
        if len(predictions) != instances:
            return f"{len(predictions)} predictions for {instances} instances"
        found = ((n, _json_prediction_problem(contract, p)) for n, p in enumerate(predictions, start=1))
        return next((f"prediction {n}: {problem}" for n, problem in found if problem), None)
    lines, problem = _lines(body)
    if lines is None:
        return problem
    if len(lines) != instances:
        return f"{len(lines)} lines for {instances} instances"
    found = ((n, _csv_row_problem(contract, line)) for n, line in enumerate(lines, start=1))
    return next((f"line {n}: {problem}" for n, problem in found if problem), None)


def check_answer_lines(contract: InferenceContract, body: bytes, instances: int) -> tuple[int, list[str]]:
    """The answers in a batch transform's output of `instances` input lines, and what is wrong with them.

    One line per instance: a JSON answer `{"predictions": [<one prediction>]}`, or a CSV row.
    """
    lines, unreadable = _lines(body)
    if lines is None:
        return 0, [unreadable]
    problems = [] if len(lines) == instances else [f"{len(lines)} answers for {instances} instances"]
    line_problem = _json_line_problem if contract.accept == JSON_CONTENT_TYPE else _csv_row_problem
    problems += [
        f"line {n}: {problem}" for n, line in enumerate(lines, start=1) if (problem := line_problem(contract, line))
    ]
    return len(lines), problems


def _json_line_problem(contract: InferenceContract, line: str) -> str | None:
    predictions, problem = _json_predictions(line.encode("utf-8"))
    if predictions is None:
        return problem
    if len(predictions) != 1:
        return f"{len(predictions)} predictions, not 1"
    return _json_prediction_problem(contract, predictions[0])


def _json_predictions(body: bytes) -> tuple[list[Any] | None, str]:
    """The predictions list of a JSON answer, or None and what is wrong with it."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None, f"answer is not JSON: {body[:200]!r}"
    predictions = answer.get(PREDICTIONS_KEY) if isinstance(answer, dict) else None
    if not isinstance(predictions, list):
        return None, f'answer has no "{PREDICTIONS_KEY}" list: {body[:200]!r}'
    return predictions, ""


def _json_prediction_problem(contract: InferenceContract, prediction: Any) -> str | None:
    if not isinstance(prediction, dict):
        return f"not an object: {prediction!r}"
    for role, attribute, problem_of in _checked_attributes(contract):
        if attribute not in prediction:
            return f"no {attribute} (the {role} attribute)"
        if problem := problem_of(prediction[attribute]):
            return f"{attribute} {prediction[attribute]!r} {problem}"
    return None


def _lines(body: bytes) -> tuple[list[str] | None, str]:
    """The lines of a text answer (the last one may end with a newline), or None and what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"answer is not UTF-8 text: {body[:200]!r}"
    # Lines end at "\n" (or "\r\n") only: str.splitlines would also split at characters inside a value.
    lines = text.removesuffix("\n").split("\n") if text else []
    return [line.removesuffix("\r") for line in lines], ""


def _csv_row_problem(contract: InferenceContract, line: str) -> str | None:
    try:
        row = next(csv.reader([line], strict=True), [])
    except csv.Error as error:
        return f"not CSV ({error}): {line[:200]!r}"
    for role, attribute, problem_of in _checked_attributes(contract):
        column = int(attribute)
        if column >= len(row):
            return f"no column {column} (the {role} attribute): {line[:200]!r}"
        if problem := problem_of(_csv_value(row[column])):
            return f"column {column} {row[column]!r} {problem}"
    return None


def _checked_attributes(contract: InferenceContract) -> list[tuple[str, str, Callable[[Any], str | None]]]:
    """(role, attribute, what is wrong with a value of it) for each attribute the contract's answers carry."""
    checked: list[tuple[str, str, Callable[[Any], str | None]]] = [
        ("prediction", contract.prediction_attribute, PREDICTION_CHECKS[contract.problem_type])
    ]
    if contract.probability_attribute is not None:
        checked.append(("probability", contract.probability_attribute, _probability_problem))
    return checked


def _csv_value(field: str) -> int | float | str:
    """A CSV field as the number it spells, or the string itself."""
    for number_type in (int, float):
        try:
            return number_type(field)
        except ValueError:
            continue
    return field


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but `true` is neither a label, a value nor a probability.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _binary_label_problem(value: Any) -> str | None:
    return None if _is_number(value) and value in (0, 1) else "is not 0 or 1"


def _class_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return None if value.strip() else "is not a class: an empty string"
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return None
    return "is not a class: a non-empty string or a whole number"


def _regression_problem(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return None if isinstance(value, float) and math.isfinite(value) else "is not a finite number"


def _probability_problem(value: Any) -> str | None:
    return None if _is_number(value) and 0 <= value <= 1 else "is not a number in [0, 1]"


PREDICTION_CHECKS: Final[Mapping[str, Callable[[Any], str | None]]] = {
    "binary_classification": _binary_label_problem,
    "multiclass_classification": _class_problem,
    "regression": _regression_problem,
}
