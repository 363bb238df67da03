"""The SageMaker job scripts, run locally on the synthetic table exactly as the pipeline chains them."""

import json
import math
import re
import tarfile
import typing
from pathlib import Path

import pandas as pd
import pytest

import evaluate
import features
import inference
import preprocess
from workflow import sample_payloads, schema
from workflow.config import METRIC_DIRECTIONS, SERVED_PREDICTION_ATTRIBUTES, MetricName, ModelConfig
from workflow.pipeline import REPORT_SECTION
from workflow.pipeline_jobs import EVALUATION_FILE
from workflow.registration import SERVED_MEDIA_TYPES
from workflow.sample_payloads import DEFAULT_SAMPLE_PAYLOADS

SPLITS = ("train", "validation", "test")


def read_split(run: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run / name / f"{name}.csv")


class Metric(typing.TypedDict):
    value: float
    standard_deviation: str  # "NaN": a single evaluation has none


def evaluation_report(run: Path) -> dict[str, dict[str, Metric]]:
    document = (run / "evaluation" / evaluate.EVALUATION_FILE).read_text()
    report: dict[str, dict[str, Metric]] = json.loads(document)
    return report


def test_preprocess_splits_every_row_once_with_the_models_columns(
    local_run: Path, sales: pd.DataFrame
) -> None:
    splits = {name: read_split(local_run, name) for name in SPLITS}

    assert sum(len(split) for split in splits.values()) == len(sales)
    assert [len(splits[name]) / len(sales) for name in SPLITS] == pytest.approx([0.65, 0.15, 0.2], abs=0.002)
    for split in splits.values():
        assert list(split.columns) == [*features.FEATURES, features.TARGET_COLUMN]
    restored = pd.concat(splits.values()).sort_values(list(features.FEATURES)).reset_index(drop=True)
    original = sales.loc[:, restored.columns].sort_values(list(features.FEATURES)).reset_index(drop=True)
    pd.testing.assert_frame_equal(restored, original)


def test_preprocess_keeps_the_last_of_duplicate_rows_and_drops_rows_without_a_target(
    sales: pd.DataFrame,
) -> None:
    raw = pd.concat([sales.head(5), sales.head(1).assign(units_sold=99.0)], ignore_index=True)
    raw.loc[2, features.TARGET_COLUMN] = None

    cleaned = preprocess.clean(raw)

    assert len(cleaned) == 4
    assert cleaned[features.TARGET_COLUMN].tolist()[-1] == 99.0
    assert cleaned[features.TARGET_COLUMN].dtype == "float64"


def test_preprocess_writes_the_training_features_as_the_endpoint_receives_them(local_run: Path) -> None:
    train = read_split(local_run, "train")
    lines = (
        (local_run / preprocess.TRAIN_FEATURES / f"{preprocess.TRAIN_FEATURES}.jsonl")
        .read_text()
        .splitlines()
    )
    records = [json.loads(line) for line in lines]
    endpoint_instances = json.loads(DEFAULT_SAMPLE_PAYLOADS.read_text())["instances"]

    # One flat record per training row, no target: what the data-quality baseline profiles.
    assert len(records) == len(train)
    assert all(list(record) == list(features.FEATURES) for record in records)
    assert pd.DataFrame.from_records(records).equals(train.loc[:, list(features.FEATURES)])
    # Named and typed like each of the `instances` the endpoint receives (a price is a decimal even
    # when it is whole), so that the monitor compares the same features and types as the baseline.
    baseline_types = {name: {type(record[name]) for record in records} for name in features.FEATURES}
    for instance in endpoint_instances:
        assert {name: {type(value)} for name, value in instance.items()} == baseline_types


def test_preprocess_writes_the_test_split_for_clarify_without_a_header(local_run: Path) -> None:
    test = read_split(local_run, "test")
    path = local_run / preprocess.CLARIFY_DATASET / f"{preprocess.CLARIFY_DATASET}.csv"

    first_line = path.read_text().splitlines()[0]
    clarify = pd.read_csv(path, header=None, names=list(preprocess.CLARIFY_COLUMNS))

    # Every row a week of sales (no header row for Clarify to read as one), the features in the order
    # of a text/csv request, which Clarify sends to the model, then the target.
    assert not first_line.startswith(features.FEATURES[0])
    assert (*features.FEATURES, features.TARGET_COLUMN) == preprocess.CLARIFY_COLUMNS
    pd.testing.assert_frame_equal(clarify, test.loc[:, list(preprocess.CLARIFY_COLUMNS)])


def test_evaluate_writes_the_test_forecasts_beside_the_actual_sales(local_run: Path) -> None:
    test = read_split(local_run, "test")
    predictions = pd.read_csv(local_run / "predictions" / evaluate.PREDICTIONS_FILE)
    served = inference.predict_fn(
        test.loc[:, list(features.FEATURES)], inference.model_fn(str(local_run / "model"))
    )
    reported = evaluation_report(local_run)[REPORT_SECTION]

    # What the model-quality check reads, by column name: one row per test row, in order.
    assert list(predictions.columns) == [evaluate.LABEL_COLUMN, evaluate.PREDICTION_COLUMN]
    assert predictions[evaluate.LABEL_COLUMN].tolist() == test[features.TARGET_COLUMN].tolist()
    assert predictions[evaluate.PREDICTION_COLUMN].tolist() == pytest.approx(served)
    # The forecasts the metrics were measured on.
    assert rmse(predictions[evaluate.LABEL_COLUMN], predictions[evaluate.PREDICTION_COLUMN]) == pytest.approx(
        reported["rmse"]["value"]
    )


def rmse(actual: pd.Series, forecast: pd.Series | float) -> float:
    return math.sqrt(((actual - forecast) ** 2).mean())


def test_the_model_clears_the_threshold_that_naive_forecasts_miss(
    local_run: Path, config: ModelConfig
) -> None:
    gate = config.metric
    test, train = read_split(local_run, "test"), read_split(local_run, "train")
    actual = test[features.TARGET_COLUMN]

    measured = evaluation_report(local_run)[REPORT_SECTION][gate.name]["value"]

    assert (gate.name, gate.lower_is_better) == ("rmse", True)
    # Comfortably on either side of the threshold: the gate measures the model, not luck.
    assert measured < 0.75 * gate.threshold
    assert rmse(actual, train[features.TARGET_COLUMN].mean()) > 1.5 * gate.threshold
    assert rmse(actual, test["units_last_week"]) > 1.25 * gate.threshold


def test_the_evaluation_report_has_the_sagemaker_model_quality_format(local_run: Path) -> None:
    report = evaluation_report(local_run)

    assert list(report) == [REPORT_SECTION] == [evaluate.REPORT_SECTION]
    assert evaluate.EVALUATION_FILE == EVALUATION_FILE
    metrics = report[REPORT_SECTION]
    assert list(metrics) == ["rmse", "mae", "mse", "r2"]
    for metric in metrics.values():
        assert set(metric) == {"value", "standard_deviation"}
        assert isinstance(metric["value"], float)
        assert metric["standard_deviation"] == "NaN"
    assert metrics["mse"]["value"] == pytest.approx(metrics["rmse"]["value"] ** 2)
    assert 0.0 < metrics["mae"]["value"] <= metrics["rmse"]["value"]
    assert 0.8 < metrics["r2"]["value"] < 1.0


def test_the_config_accepts_exactly_the_metrics_evaluate_reports() -> None:
    assert set(typing.get_args(MetricName)) == set(evaluate.REPORTED_METRICS) == set(METRIC_DIRECTIONS)


def test_the_contract_the_config_checks_and_the_package_declares_is_what_inference_serves() -> None:
    assert SERVED_PREDICTION_ATTRIBUTES == {
        inference.JSON_CONTENT_TYPE: inference.PREDICTION_ATTRIBUTE,
        inference.CSV_CONTENT_TYPE: "0",  # one number per line: the first and only column
    }
    assert SERVED_MEDIA_TYPES == [inference.JSON_CONTENT_TYPE, inference.CSV_CONTENT_TYPE]
    assert sample_payloads.INSTANCES_KEY == inference.INSTANCES_KEY


def test_the_model_uses_the_feature_columns_of_the_data_contract_in_their_order() -> None:
    assert features.FEATURES == schema.FEATURE_COLUMNS
    assert set(features.FEATURES) == set(features.NUMERIC_FEATURES) | set(features.CATEGORICAL_FEATURES)
    assert features.ID_COLUMNS == schema.ID_COLUMNS
    assert features.TARGET_COLUMN == schema.TARGET_COLUMN


def test_the_model_artifact_carries_its_serving_code_and_metadata(local_run: Path) -> None:
    model_dir = local_run / "model"
    metadata = json.loads((model_dir / inference.METADATA_FILE).read_text())

    assert (model_dir / "code" / "inference.py").read_text() == Path(inference.__file__).read_text()
    assert metadata["features"] == list(features.FEATURES)
    assert metadata["target"] == features.TARGET_COLUMN
    assert metadata["scikit_learn_version"].startswith("1.9.")


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


@pytest.fixture(scope="module")
def model(local_run: Path) -> inference.DemandModel:
    return inference.model_fn(str(local_run / "model"))


@pytest.fixture(scope="module")
def weeks_to_forecast(local_run: Path) -> pd.DataFrame:
    return read_split(local_run, "test").head(5).loc[:, list(features.FEATURES)]


def serve(model: inference.DemandModel, body: str | bytes, content_type: str, accept: str) -> str:
    """What the scikit-learn container does with one request; the answer has the media type asked for."""
    answer, answer_type = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), model), accept
    )
    assert answer_type == (
        "application/json" if accept.startswith(("application/json", "*/*")) else "text/csv"
    )
    return answer


class TestServingHandlers:
    def test_a_json_request_of_one_instance_gets_one_prediction(
        self, model: inference.DemandModel, weeks_to_forecast: pd.DataFrame
    ) -> None:
        body = json.dumps({"instances": weeks_to_forecast.head(1).to_dict(orient="records")})

        answer = json.loads(serve(model, body, "application/json", "application/json"))

        (prediction,) = answer["predictions"]
        assert list(prediction) == ["prediction"]
        assert prediction["prediction"] == pytest.approx(model.predict(weeks_to_forecast.head(1))[0])

    def test_a_batch_json_document_gets_one_prediction_per_instance_in_order(
        self, model: inference.DemandModel, weeks_to_forecast: pd.DataFrame
    ) -> None:
        body = json.dumps({"instances": weeks_to_forecast.to_dict(orient="records")}).encode()

        answer = json.loads(serve(model, body, "application/json; charset=utf-8", "application/json"))

        assert answer == {"predictions": [{"prediction": float(p)} for p in model.predict(weeks_to_forecast)]}

    @pytest.mark.parametrize("rows", [1, 5])
    def test_csv_rows_get_one_number_per_line_equal_to_the_json_answer(
        self, model: inference.DemandModel, weeks_to_forecast: pd.DataFrame, rows: int
    ) -> None:
        chosen = weeks_to_forecast.head(rows)
        csv_body = chosen.to_csv(header=False, index=False)
        json_body = json.dumps({"instances": chosen.to_dict(orient="records")})

        csv_answer = serve(model, csv_body.encode(), "text/csv", "text/csv")
        json_answer = json.loads(serve(model, json_body, "application/json", "application/json"))

        assert len(csv_answer.splitlines()) == rows
        assert [float(line) for line in csv_answer.splitlines()] == [
            p["prediction"] for p in json_answer["predictions"]
        ]

    def test_the_shipped_sample_payloads_are_answered_in_both_formats(
        self, model: inference.DemandModel
    ) -> None:
        document = json.loads(DEFAULT_SAMPLE_PAYLOADS.read_text())
        as_csv = pd.DataFrame.from_records(document["instances"]).to_csv(header=False, index=False)

        json_answer = json.loads(
            serve(model, DEFAULT_SAMPLE_PAYLOADS.read_bytes(), "application/json", "*/*")
        )
        csv_answer = serve(model, as_csv, "text/csv", "text/csv; charset=utf-8").splitlines()

        assert len(json_answer["predictions"]) == len(csv_answer) == len(document["instances"])
        assert all(p["prediction"] >= 0.0 for p in json_answer["predictions"])

    def test_a_promotion_forecasts_more_units(
        self, model: inference.DemandModel, weeks_to_forecast: pd.DataFrame
    ) -> None:
        regular = weeks_to_forecast.assign(promotion=0, holiday=0)
        promoted = regular.assign(promotion=1, price=regular["price"] * 0.8)

        assert (model.predict(promoted) > model.predict(regular)).all()

    def test_forecasts_are_never_negative(
        self, model: inference.DemandModel, weeks_to_forecast: pd.DataFrame
    ) -> None:
        unsellable = weeks_to_forecast.assign(price=499.0, units_last_week=0.0, store_size_sqm=100)

        assert (model.predict(unsellable) >= 0.0).all()

    def test_an_unseen_category_is_forecast_instead_of_failing(
        self, model: inference.DemandModel, weeks_to_forecast: pd.DataFrame
    ) -> None:
        predictions = inference.predict_fn(weeks_to_forecast.assign(category="garden"), model)

        assert len(predictions) == 5
        assert all(p >= 0.0 for p in predictions)

    def test_extra_keys_of_a_json_instance_are_ignored(
        self, model: inference.DemandModel, weeks_to_forecast: pd.DataFrame
    ) -> None:
        with_ids = weeks_to_forecast.assign(store_id="S001")

        assert inference.predict_fn(with_ids, model) == inference.predict_fn(weeks_to_forecast, model)

    @pytest.mark.parametrize(
        ("body", "content_type", "expected_message"),
        [
            ("1,2,3", "text/csv", "expected 7 CSV columns (price, promotion, week_of_year"),
            ("", "text/csv", "empty text/csv request"),
            ('{"instances": []}', "application/json", "with at least one instance"),
            ('[{"price": 1.0}]', "application/json", 'expected {"instances": [{<feature>: value'),
            ('{"instances": [3]}', "application/json", "every instance must be an object"),
            (
                '{"instances": [{"price": 1.5, "promotion": 0}]}',
                "application/json",
                "missing features: week_of_year",
            ),
            ("...", "application/x-parquet", "unsupported content type 'application/x-parquet'"),
        ],
    )
    def test_a_request_the_model_cannot_answer_is_refused_with_the_reason(
        self, model: inference.DemandModel, body: str, content_type: str, expected_message: str
    ) -> None:
        with pytest.raises(ValueError, match=re.escape(expected_message)):
            serve(model, body, content_type, "application/json")

    def test_an_unsupported_accept_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unsupported accept 'application/xml'"):
            inference.output_fn([1.0], "application/xml")
