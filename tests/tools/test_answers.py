"""How a request is encoded and whether an answer fits the model's inference contract (tools/answers.py).

Nothing here is specific to one model: every problem type, in JSON and in CSV, and requests and answers
in different formats.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.common.contracts import CSV_CONTENT_TYPE
from tests.tools.conftest import CONTRACTS, INSTANCES, answer_body, batch_output, prediction
from tools.answers import check_answer, check_answer_lines, encode_instances

BINARY = CONTRACTS["binary-json"]
REGRESSION = CONTRACTS["regression-json"]


class TestRequests:
    def test_json_requests_hold_the_instances(self) -> None:
        assert json.loads(encode_instances(BINARY, INSTANCES)) == {"instances": INSTANCES}

    def test_csv_requests_are_header_less_rows_in_key_order(self) -> None:
        body = encode_instances(CONTRACTS["binary-csv"], INSTANCES)
        assert body == b'34,basic,20.5\n61,"premium, annual",99.0\n19,basic,0\n'


def _json(*predictions: Any) -> bytes:
    return json.dumps({"predictions": list(predictions)}).encode()


# What is wrong with answers, per contract: (contract, body, instances, the problem found).
BAD_ANSWERS = [
    # the answer as a whole, JSON
    ("binary-json", b"<html>502 Bad Gateway</html>", 1, "answer is not JSON"),
    ("binary-json", b'"0.3"', 1, 'answer has no "predictions" list'),
    ("binary-json", b'{"probabilities": [0.3]}', 1, 'answer has no "predictions" list'),
    ("binary-json", b'{"predictions": "0.3"}', 1, 'answer has no "predictions" list'),
    ("binary-json", _json(), 1, "0 predictions for 1 instances"),
    ("binary-json", _json(0.3), 1, "prediction 1: not an object: 0.3"),
    # binary classification
    ("binary-json", _json({"probability": 0.3}), 1, "prediction 1: no label (the prediction attribute)"),
    ("binary-json", _json({"label": 1}), 1, "prediction 1: no probability (the probability attribute)"),
    ("binary-json", _json({"label": 2, "probability": 0.3}), 1, "label 2 is not 0 or 1"),
    ("binary-json", _json({"label": True, "probability": 0.3}), 1, "label True is not 0 or 1"),
    ("binary-json", _json({"label": "1", "probability": 0.3}), 1, "label '1' is not 0 or 1"),
    ("binary-json", _json({"label": None, "probability": 0.3}), 1, "label None is not 0 or 1"),
    ("binary-json", _json({"label": 1, "probability": 1.5}), 1, "probability 1.5 is not a number in [0, 1]"),
    ("binary-json", _json({"label": 0, "probability": -0.1}), 1, "probability -0.1 is not a number in [0, 1]"),
    ("binary-json", b'{"predictions": [{"label": 0, "probability": NaN}]}', 1, "probability nan is not a number"),
    ("binary-json", _json({"label": 0, "probability": "0.3"}), 1, "probability '0.3' is not a number in [0, 1]"),
    ("binary-json", _json({"label": 1, "probability": True}), 1, "probability True is not a number in [0, 1]"),
    (
        "binary-json",
        _json({"label": 0, "probability": 0.3}, {"label": "1", "probability": 0.9}),
        2,
        "prediction 2: label '1' is not 0 or 1",
    ),
    # multiclass classification
    ("multiclass-json", _json({"species": "", "score": 0.5}), 1, "species '' is not a class: an empty string"),
    ("multiclass-json", _json({"species": None, "score": 0.5}), 1, "species None is not a class"),
    ("multiclass-json", _json({"species": True, "score": 0.5}), 1, "species True is not a class"),
    ("multiclass-json", _json({"species": 1.5, "score": 0.5}), 1, "species 1.5 is not a class"),
    ("multiclass-json", b'{"predictions": [{"species": NaN, "score": 0.5}]}', 1, "species nan is not a class"),
    ("multiclass-json", _json({"species": ["a"], "score": 0.5}), 1, "species ['a'] is not a class"),
    ("multiclass-json", _json({"species": "setosa", "score": 2}), 1, "score 2 is not a number in [0, 1]"),
    # regression
    ("regression-json", _json({"value": 3.0}), 1, "prediction 1: no price (the prediction attribute)"),
    ("regression-json", _json({"price": "3.0"}), 1, "price '3.0' is not a finite number"),
    ("regression-json", _json({"price": False}), 1, "price False is not a finite number"),
    ("regression-json", b'{"predictions": [{"price": Infinity}]}', 1, "price inf is not a finite number"),
    ("regression-json", b'{"predictions": [{"price": NaN}]}', 1, "price nan is not a finite number"),
    # CSV answers: one line per row, the attributes are column numbers
    ("binary-csv", b"\xff\xfe", 1, "answer is not UTF-8 text"),
    ("binary-csv", b"0.3,1\n", 2, "1 lines for 2 instances"),
    ("binary-csv", b"0.3,1\n0.2,0\n", 1, "2 lines for 1 instances"),
    ("binary-csv", b"", 1, "0 lines for 1 instances"),
    ("binary-csv", b"0.3\n", 1, "line 1: no column 1 (the prediction attribute): '0.3'"),
    ("binary-csv", b"\n", 1, "line 1: no column 1 (the prediction attribute): ''"),
    ("binary-csv", b"0.3,2\n", 1, "line 1: column 1 '2' is not 0 or 1"),
    ("binary-csv", b"0.3,true\n", 1, "line 1: column 1 'true' is not 0 or 1"),
    ("binary-csv", b"1.3,1\n", 1, "line 1: column 0 '1.3' is not a number in [0, 1]"),
    ("binary-csv", b"high,1\n", 1, "line 1: column 0 'high' is not a number in [0, 1]"),
    ("binary-csv", b"0.1,0\n0.3,x\n", 2, "line 2: column 1 'x' is not 0 or 1"),
    ("multiclass-csv", b"\n", 1, "line 1: no column 0 (the prediction attribute)"),
    ("multiclass-csv", b" \n", 1, "line 1: column 0 ' ' is not a class: an empty string"),
    ("multiclass-csv", b"nan\n", 1, "line 1: column 0 'nan' is not a class"),
    ("multiclass-csv", b"2.5\n", 1, "line 1: column 0 '2.5' is not a class"),
    ("regression-csv", b"abc\n", 1, "line 1: column 0 'abc' is not a finite number"),
    ("regression-csv", b"inf\n", 1, "line 1: column 0 'inf' is not a finite number"),
    ("regression-csv", b'"3.0\n', 1, "line 1: not CSV"),
    ("regression-json-to-csv", _json({"price": 3.0}), 1, 'column 0 \'{"predictions": [{"price": 3.0}]}\' is not'),
    ("binary-csv-to-json", b"0.3,1\n", 1, "answer is not JSON"),
]


class TestAnswerCheck:
    @pytest.mark.parametrize(("name", "body", "instances", "problem"), BAD_ANSWERS)
    def test_a_malformed_answer_is_described(self, name: str, body: bytes, instances: int, problem: str) -> None:
        found = check_answer(CONTRACTS[name], body, instances)
        assert found is not None
        assert problem in found

    @pytest.mark.parametrize(
        ("name", "body"),
        [
            ("binary-json", _json({"label": 1.0, "probability": 1})),
            ("binary-csv", b"0.7,1.0\r\n"),
            ("multiclass-json", _json({"species": 2, "score": 0.4}, {"species": "virginica", "score": 0.9})),
            ("multiclass-csv", b"3\nvirginica\n"),
            ("multiclass-csv", b"2.0"),  # no newline after the last line
            ("regression-json", _json({"price": -12}, {"price": 1e300})),
            ("regression-csv", b"-12.5,ignored\n7\n"),
        ],
    )
    def test_edge_cases_that_are_well_formed(self, name: str, body: bytes) -> None:
        instances = (
            len(body.splitlines())
            if CONTRACTS[name].accept == CSV_CONTENT_TYPE
            else len(json.loads(body)["predictions"])
        )
        assert check_answer(CONTRACTS[name], body, instances) is None

    @pytest.mark.parametrize("name", sorted(CONTRACTS))
    @given(count=st.integers(min_value=1, max_value=20), offset=st.integers(min_value=0, max_value=1000))
    def test_any_well_formed_answer_is_accepted(self, name: str, count: int, offset: int) -> None:
        contract = CONTRACTS[name]
        predictions = [prediction(contract, offset + n) for n in range(count)]
        assert check_answer(contract, answer_body(contract, predictions), count) is None

    @given(
        st.lists(
            st.fixed_dictionaries(
                {
                    "probability": st.floats(min_value=0, max_value=1) | st.sampled_from([0, 1]),
                    "label": st.sampled_from([0, 1]),
                }
            ),
            min_size=1,
        )
    )
    def test_any_binary_probability_in_range_is_accepted(self, predictions: list[dict[str, Any]]) -> None:
        assert check_answer(BINARY, _json(*predictions), len(predictions)) is None

    @given(st.floats(allow_nan=True, allow_infinity=True))
    def test_a_regression_value_is_accepted_exactly_when_finite(self, value: float) -> None:
        found = check_answer(REGRESSION, json.dumps({"predictions": [{"price": value}]}).encode(), 1)
        assert (found is None) is math.isfinite(value)


class TestBatchOutputCheck:
    @pytest.mark.parametrize("name", sorted(CONTRACTS))
    def test_one_valid_answer_per_line_passes(self, name: str) -> None:
        contract = CONTRACTS[name]
        output = batch_output(contract, [prediction(contract, n) for n in range(4)])
        assert check_answer_lines(contract, output, 4) == (4, [])

    @pytest.mark.parametrize(
        ("name", "output", "answers", "problems"),
        [
            ("binary-json", b"", 0, ["0 answers for 2 instances"]),
            (
                "binary-json",
                b'{"predictions": [{"label": 1, "probability": 0.9}]}\n',
                1,
                ["1 answers for 2 instances"],
            ),
            (
                "binary-json",
                b'{"predictions": [{"label": 1, "probability": 0.9}, {"label": 0, "probability": 0.1}]}\n'
                b'{"predictions": [{"label": 3, "probability": 0.9}]}\n',
                2,
                ["line 1: 2 predictions, not 1", "line 2: label 3 is not 0 or 1"],
            ),
            (
                "regression-json",
                b'{"predictions": [{"price": 1}]}\nnot json\n',
                2,
                ["line 2: answer is not JSON: b'not json'"],
            ),
            ("binary-csv", b"0.9,1\n0.2\n", 2, ["line 2: no column 1 (the prediction attribute): '0.2'"]),
            ("multiclass-csv", b"a\nb\nc\n", 3, ["3 answers for 2 instances"]),
            ("regression-csv", b"\xff", 0, ["answer is not UTF-8 text: b'\\xff'"]),
        ],
    )
    def test_missing_extra_and_invalid_answers_are_each_described(
        self, name: str, output: bytes, answers: int, problems: list[str]
    ) -> None:
        assert check_answer_lines(CONTRACTS[name], output, 2) == (answers, problems)
