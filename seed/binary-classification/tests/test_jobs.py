"""The SageMaker job scripts, run locally on the synthetic tables exactly as the pipeline chains them."""

import csv
import io
import json
import tarfile
import typing
from pathlib import Path

import pandas as pd
import pytest

import evaluate
import features
import inference
import preprocess
from workflow import schema
from workflow.config import METRICS_BY_PROBLEM_TYPE, MetricName, ModelConfig, ProblemType
from workflow.registration import SERVED_MEDIA_TYPES

from .conftest import multiclass_config

SAMPLE_PAYLOADS = Path(__file__).resolve().parents[1] / "sample_payloads.json"


def read_split(run: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run / name / f"{name}.csv")


class Metric(typing.TypedDict):
    value: float
    standard_deviation: str  # "NaN": a single evaluation has none


def evaluation_report(run: Path) -> dict[str, dict[str, Metric]]:
    document = (run / "evaluation" / evaluate.EVALUATION_FILE).read_text()
    report: dict[str, dict[str, Metric]] = json.loads(document)
    return report


@pytest.mark.parametrize(
    ("run_fixture", "table_fixture", "target"),
    [("local_run", "customers", "churned"), ("multiclass_run", "multiclass_customers", "next_action")],
)
def test_preprocess_splits_every_customer_once_keeping_the_class_shares(
    request: pytest.FixtureRequest, run_fixture: str, table_fixture: str, target: str
) -> None:
    run: Path = request.getfixturevalue(run_fixture)
    table: pd.DataFrame = request.getfixturevalue(table_fixture)
    splits = {name: read_split(run, name) for name in ("train", "validation", "test")}

    assert sum(len(split) for split in splits.values()) == len(table)
    assert {len(split) for split in splits.values()} == {3250, 750, 1000}
    overall_shares = table[target].value_counts(normalize=True)
    for split in splits.values():
        assert list(split.columns) == [*features.FEATURES, target]
        shares = split[target].value_counts(normalize=True)
        assert shares.to_dict() == pytest.approx(overall_shares.to_dict(), abs=0.01)


def test_preprocess_writes_the_training_features_as_the_endpoint_receives_them(local_run: Path) -> None:
    train = read_split(local_run, "train")
    lines = (
        (local_run / preprocess.TRAIN_FEATURES / f"{preprocess.TRAIN_FEATURES}.jsonl")
        .read_text()
        .splitlines()
    )
    records = [json.loads(line) for line in lines]
    endpoint_instances = json.loads(SAMPLE_PAYLOADS.read_text())["instances"]

    # One flat record per training row, no label: what the data-quality baseline profiles.
    assert len(records) == len(train)
    assert all(list(record) == list(features.FEATURES) for record in records)
    assert pd.DataFrame.from_records(records).equals(train.loc[:, list(features.FEATURES)])
    # Named and typed like each of the `instances` the endpoint receives, so that the monitor
    # compares the same features, with the same inferred types, as the baseline.
    baseline_types = {name: {type(record[name]) for record in records} for name in features.FEATURES}
    for instance in endpoint_instances:
        assert {name: {type(value)} for name, value in instance.items()} == baseline_types


def test_the_binary_model_clears_the_configured_threshold(local_run: Path, config: ModelConfig) -> None:
    measured = evaluation_report(local_run)["binary_classification_metrics"][config.metric.name]["value"]

    assert config.metric.higher_is_better
    assert measured >= config.metric.threshold


def test_the_multiclass_model_learns_more_than_the_most_common_class(
    multiclass_run: Path, multiclass_customers: pd.DataFrame, config: ModelConfig
) -> None:
    metrics = evaluation_report(multiclass_run)["multiclass_classification_metrics"]
    most_common_share = multiclass_customers["next_action"].value_counts(normalize=True).max()
    gate = multiclass_config(config).metric

    assert metrics["accuracy"]["value"] > most_common_share + 0.03
    # The threshold the README suggests for a multiclass model of this table.
    assert metrics[gate.name]["value"] >= gate.threshold


@pytest.mark.parametrize(
    ("run_fixture", "problem_type"),
    [("local_run", "binary_classification"), ("multiclass_run", "multiclass_classification")],
)
def test_the_evaluation_report_has_the_sagemaker_model_quality_format_of_the_problem_type(
    request: pytest.FixtureRequest, run_fixture: str, problem_type: ProblemType
) -> None:
    report = evaluation_report(request.getfixturevalue(run_fixture))

    assert list(report) == [f"{problem_type}_metrics"]
    metrics = report[f"{problem_type}_metrics"]
    assert list(metrics) == list(METRICS_BY_PROBLEM_TYPE[problem_type])
    for metric in metrics.values():
        assert set(metric) == {"value", "standard_deviation"}
        assert 0.0 < metric["value"] < 1.0
        assert metric["standard_deviation"] == "NaN"


@pytest.mark.parametrize(
    ("run_fixture", "target"), [("local_run", "churned"), ("multiclass_run", "next_action")]
)
def test_evaluate_writes_the_predictions_it_measured_beside_the_true_labels(
    request: pytest.FixtureRequest, run_fixture: str, target: str
) -> None:
    run: Path = request.getfixturevalue(run_fixture)
    test = read_split(run, "test")
    model = inference.model_fn(str(run / "model"))
    predictions = pd.read_csv(run / "predictions" / evaluate.PREDICTIONS_FILE)
    problem_type = model.problem_type

    # A header, then one row per test customer, in order: what the model-quality baseline reads.
    assert list(predictions.columns) == [
        evaluate.LABEL_COLUMN,
        evaluate.PREDICTION_COLUMN,
        evaluate.PROBABILITY_COLUMN,
    ]
    assert predictions[evaluate.LABEL_COLUMN].tolist() == test[target].tolist()
    answers = model.predict(test)
    assert predictions[evaluate.PREDICTION_COLUMN].tolist() == [answer.label for answer in answers]
    assert predictions[evaluate.PROBABILITY_COLUMN].tolist() == pytest.approx(
        [answer.probability for answer in answers]
    )
    # The metrics of evaluation.json are those of these predictions.
    report = evaluation_report(run)[f"{problem_type}_metrics"]
    assert evaluate.compute_metrics(problem_type, predictions) == pytest.approx(
        {name: metric["value"] for name, metric in report.items()}
    )


@pytest.mark.parametrize(
    ("run_fixture", "target"), [("local_run", "churned"), ("multiclass_run", "next_action")]
)
def test_preprocess_writes_the_test_split_for_clarify_without_a_header(
    request: pytest.FixtureRequest, run_fixture: str, target: str
) -> None:
    run: Path = request.getfixturevalue(run_fixture)
    text = (run / preprocess.CLARIFY_DATASET / f"{preprocess.CLARIFY_DATASET}.csv").read_text()
    test = read_split(run, "test")

    first_row = next(csv.reader(io.StringIO(text)))
    assert first_row != preprocess.clarify_columns(target)
    assert preprocess.clarify_columns(target) == [*features.FEATURES, target]
    dataset = pd.read_csv(io.StringIO(text), header=None, names=preprocess.clarify_columns(target))
    assert dataset.equals(test.loc[:, preprocess.clarify_columns(target)])


@pytest.mark.parametrize(
    ("run_fixture", "problem_type"),
    [("local_run", "binary_classification"), ("multiclass_run", "multiclass_classification")],
)
def test_the_model_answers_the_classes_features_py_declares(
    request: pytest.FixtureRequest, run_fixture: str, problem_type: str
) -> None:
    # The settings' positive labels (clarify.label_values) are checked against TARGET_CLASSES.
    model = inference.model_fn(str(request.getfixturevalue(run_fixture) / "model"))

    assert set(model.classes) == set(features.TARGET_CLASSES[problem_type])
    assert features.TARGET_CLASSES["multiclass_classification"] == schema.NEXT_ACTIONS


def test_the_config_accepts_exactly_the_metrics_evaluate_reports() -> None:
    assert METRICS_BY_PROBLEM_TYPE == evaluate.REPORTED_METRICS
    assert {name for names in evaluate.REPORTED_METRICS.values() for name in names} == set(
        typing.get_args(MetricName)
    )


def test_the_jobs_know_the_problem_types_and_targets_of_the_data_contract() -> None:
    assert set(features.PROBLEM_TYPES) == set(typing.get_args(ProblemType))
    assert features.TARGET_COLUMNS == schema.TARGET_COLUMNS
    assert {inference.BINARY_CLASSIFICATION, inference.MULTICLASS_CLASSIFICATION} == set(
        features.PROBLEM_TYPES
    )


def test_the_model_uses_only_columns_of_the_data_contract() -> None:
    for problem_type, table in schema.CUSTOMER_TABLES.items():
        assert set(features.FEATURES) <= set(table.columns)
        assert features.TARGET_COLUMNS[problem_type] in table.columns
    assert features.ID_COLUMN == schema.ID_COLUMN


def test_the_serving_code_answers_the_contract_the_config_declares(config: ModelConfig) -> None:
    contract = config.package_metadata.customer_metadata_properties

    assert contract.prediction_attribute == inference.PREDICTION_ATTRIBUTE
    assert contract.probability_attribute == inference.PROBABILITY_ATTRIBUTE
    assert SERVED_MEDIA_TYPES == [inference.JSON_MEDIA_TYPE, inference.CSV_MEDIA_TYPE]
    assert {contract.content_type, contract.accept} <= set(SERVED_MEDIA_TYPES)


@pytest.mark.parametrize(
    ("run_fixture", "problem_type", "target", "classes", "has_threshold"),
    [
        ("local_run", "binary_classification", "churned", [0, 1], True),
        (
            "multiclass_run",
            "multiclass_classification",
            "next_action",
            ["cancel", "downgrade", "stay"],
            False,
        ),
    ],
)
def test_the_model_artifact_carries_its_serving_code_and_metadata(
    request: pytest.FixtureRequest,
    run_fixture: str,
    problem_type: str,
    target: str,
    classes: list[object],
    has_threshold: bool,
) -> None:
    model_dir = request.getfixturevalue(run_fixture) / "model"
    metadata = json.loads((model_dir / inference.METADATA_FILE).read_text())

    assert (model_dir / "code" / "inference.py").read_text() == Path(inference.__file__).read_text()
    assert metadata["problem_type"] == problem_type
    assert metadata["features"] == list(features.FEATURES)
    assert metadata["target"] == target
    assert metadata["classes"] == classes
    if has_threshold:
        assert 0.0 < metadata["decision_threshold"] < 1.0
    else:
        assert metadata["decision_threshold"] is None


def test_evaluate_reads_the_model_tar_gz_that_training_jobs_produce(local_run: Path, tmp_path: Path) -> None:
    packaged = tmp_path / "model"
    packaged.mkdir()
    with tarfile.open(packaged / evaluate.MODEL_ARCHIVE, "w:gz") as archive:
        for item in (local_run / "model").iterdir():
            archive.add(item, arcname=item.name)

    evaluate.main(
        [
            "--model-dir",
            str(packaged),
            "--test-dir",
            str(local_run / "test"),
            "--output-dir",
            str(tmp_path / "out"),
            "--predictions-dir",
            str(tmp_path / "predictions"),
        ]
    )

    assert json.loads((tmp_path / "out" / evaluate.EVALUATION_FILE).read_text()) == evaluation_report(
        local_run
    )


def serve(model: inference.ClassifierModel, body: str | bytes, content_type: str, accept: str) -> str:
    """One invocation through the handlers, in the order the serving container calls them; the answer
    must say its content type (CSV when asked for, else JSON)."""
    answer, answered_type = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), model), accept
    )
    assert answered_type == ("text/csv" if accept.split(";")[0] == "text/csv" else "application/json")
    return answer


def json_body(rows: pd.DataFrame) -> str:
    return json.dumps({"instances": rows.to_dict(orient="records")})


def csv_answer(answer: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(answer)))


@pytest.fixture(scope="module")
def binary_model(local_run: Path) -> inference.ClassifierModel:
    return inference.model_fn(str(local_run / "model"))


@pytest.fixture(scope="module")
def multiclass_model(multiclass_run: Path) -> inference.ClassifierModel:
    return inference.model_fn(str(multiclass_run / "model"))


@pytest.fixture(scope="module")
def customers_to_score(local_run: Path) -> pd.DataFrame:
    return read_split(local_run, "test").head(5).loc[:, list(features.FEATURES)]


class TestBinaryAnswers:
    def test_json_answers_label_0_or_1_and_the_probability_of_class_1(
        self, binary_model: inference.ClassifierModel, customers_to_score: pd.DataFrame
    ) -> None:
        answer = json.loads(
            serve(binary_model, json_body(customers_to_score), "application/json", "application/json")
        )
        probabilities = binary_model.pipeline.predict_proba(customers_to_score)[:, 1]

        assert list(answer) == ["predictions"]
        assert len(answer["predictions"]) == 5
        for prediction, probability in zip(answer["predictions"], probabilities, strict=True):
            assert list(prediction) == ["label", "probability"]
            assert prediction["probability"] == pytest.approx(probability)
            assert type(prediction["label"]) is int
            assert prediction["label"] == int(probability >= binary_model.decision_threshold)

    def test_labels_are_the_integers_0_and_1(
        self, binary_model: inference.ClassifierModel, local_run: Path
    ) -> None:
        answers = binary_model.predict(read_split(local_run, "test"))

        assert {answer.label for answer in answers} == {0, 1}
        assert {type(answer.label) for answer in answers} == {int}

    def test_csv_answers_one_label_and_probability_line_per_row(
        self, binary_model: inference.ClassifierModel, customers_to_score: pd.DataFrame
    ) -> None:
        rows = customers_to_score.to_csv(header=False, index=False)

        as_csv = csv_answer(serve(binary_model, rows, "text/csv", "text/csv"))
        as_json = json.loads(
            serve(binary_model, rows.encode(), "text/csv; charset=utf-8", "application/json")
        )

        assert [[int(label), float(p)] for label, p in as_csv] == [
            [p["label"], p["probability"]] for p in as_json["predictions"]
        ]


class TestMulticlassAnswers:
    def test_json_answers_the_most_probable_class_as_spelt_in_the_data_and_its_probability(
        self, multiclass_model: inference.ClassifierModel, customers_to_score: pd.DataFrame
    ) -> None:
        answer = json.loads(
            serve(multiclass_model, json_body(customers_to_score), "application/json", "application/json")
        )
        probabilities = multiclass_model.pipeline.predict_proba(customers_to_score)

        assert len(answer["predictions"]) == 5
        for prediction, row in zip(answer["predictions"], probabilities, strict=True):
            assert list(prediction) == ["label", "probability"]
            assert prediction["label"] in schema.NEXT_ACTIONS
            assert prediction["probability"] == pytest.approx(row.max())
            assert row[multiclass_model.classes.index(prediction["label"])] == row.max()
            assert prediction["probability"] > 1 / 3

    def test_csv_requests_get_the_json_answers_as_label_and_probability_lines(
        self, multiclass_model: inference.ClassifierModel, customers_to_score: pd.DataFrame
    ) -> None:
        rows = customers_to_score.to_csv(header=False, index=False)

        as_csv = csv_answer(serve(multiclass_model, rows, "text/csv", "text/csv"))
        as_json = json.loads(
            serve(multiclass_model, json_body(customers_to_score), "application/json", "json")
        )

        assert [[label, float(p)] for label, p in as_csv] == [
            [p["label"], p["probability"]] for p in as_json["predictions"]
        ]

    def test_the_models_predictions_are_its_answers(
        self, multiclass_model: inference.ClassifierModel, customers_to_score: pd.DataFrame
    ) -> None:
        answers = multiclass_model.predict(customers_to_score)

        assert [a.label for a in answers] == multiclass_model.pipeline.predict(customers_to_score).tolist()


@pytest.mark.parametrize("model_fixture", ["binary_model", "multiclass_model"])
class TestServingRequests:
    def test_the_sample_payloads_are_answered_one_prediction_per_instance(
        self, request: pytest.FixtureRequest, model_fixture: str
    ) -> None:
        model = request.getfixturevalue(model_fixture)
        payload = SAMPLE_PAYLOADS.read_text()

        answer = json.loads(serve(model, payload, "application/json", "application/json"))

        assert len(answer["predictions"]) == len(json.loads(payload)["instances"])
        assert all(0.0 <= p["probability"] <= 1.0 for p in answer["predictions"])

    def test_batch_transform_requests_are_answered_json_lines_and_csv_mini_batches(
        self, request: pytest.FixtureRequest, model_fixture: str, customers_to_score: pd.DataFrame
    ) -> None:
        model = request.getfixturevalue(model_fixture)
        # SplitType=Line: a JSON Lines file is sent one line (one document, newline included) per
        # request; a CSV file several rows per request (MultiRecord), CRLF line ends included.
        json_line = json_body(customers_to_score.head(2)) + "\n"
        mini_batch = customers_to_score.to_csv(header=False, index=False, lineterminator="\r\n")

        from_json_line = serve(model, json_line.encode(), "application/json", "application/json")
        from_mini_batch = serve(model, mini_batch.encode(), "text/csv", "text/csv")

        assert len(json.loads(from_json_line)["predictions"]) == 2
        assert "\n" not in from_json_line
        # One answer line per row and no trailing newline: batch transform joins the answers itself.
        assert len(from_mini_batch.split("\n")) == len(customers_to_score)
        assert [row[0] for row in csv_answer(from_mini_batch)][:2] == [
            str(p["label"]) for p in json.loads(from_json_line)["predictions"]
        ]

    def test_an_unseen_category_is_scored_instead_of_failing(
        self, request: pytest.FixtureRequest, model_fixture: str, customers_to_score: pd.DataFrame
    ) -> None:
        model = request.getfixturevalue(model_fixture)

        answers = inference.predict_fn(customers_to_score.assign(payment_method="crypto"), model)

        assert all(0.0 <= answer.probability <= 1.0 for answer in answers)

    def test_a_csv_row_with_the_wrong_width_is_refused(
        self, request: pytest.FixtureRequest, model_fixture: str
    ) -> None:
        with pytest.raises(ValueError, match="expected 10 CSV columns"):
            inference.predict_fn(
                inference.input_fn("1,2,3", "text/csv"), request.getfixturevalue(model_fixture)
            )


@pytest.mark.parametrize(
    ("body", "expected_message"),
    [
        ('{"instances": []}\n{"instances": []}', r"one JSON document \{\"instances\": \[...\]\}"),
        ("[1, 2]", r"the JSON body must be \{\"instances\""),
        ('{"instances": {"tenure_months": 1}}', r"the JSON body must be \{\"instances\""),
        ('{"instances": [[1, 2]]}', r"the JSON body must be \{\"instances\""),
    ],
    ids=["two-documents", "not-an-object", "instances-not-a-list", "instance-not-an-object"],
)
def test_a_json_body_that_is_not_one_instances_document_is_refused(body: str, expected_message: str) -> None:
    with pytest.raises(ValueError, match=expected_message):
        inference.input_fn(body, "application/json")


def test_an_unsupported_content_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported content type 'application/x-parquet'"):
        inference.input_fn(b"...", "application/x-parquet")


def test_a_model_of_an_unknown_problem_type_is_refused_when_loaded(local_run: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / inference.MODEL_FILE).write_bytes((local_run / "model" / inference.MODEL_FILE).read_bytes())
    metadata = json.loads((local_run / "model" / inference.METADATA_FILE).read_text())
    (model_dir / inference.METADATA_FILE).write_text(json.dumps(metadata | {"problem_type": "regression"}))

    with pytest.raises(ValueError, match="unknown problem_type 'regression'"):
        inference.model_fn(str(model_dir))


def test_the_multiclass_config_used_by_these_tests_is_one_the_platform_could_write(
    config: ModelConfig,
) -> None:
    settings = multiclass_config(config).model_dump(by_alias=True)

    assert ModelConfig.model_validate(settings).problem_type == "multiclass_classification"
