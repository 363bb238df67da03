"""The SageMaker job scripts, run locally on the synthetic table exactly as the pipeline chains them."""

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
from workflow.config import MetricName, load_model_config

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


def test_preprocess_splits_every_customer_once_keeping_the_churn_rate(
    local_run: Path, customers: pd.DataFrame
) -> None:
    splits = {name: read_split(local_run, name) for name in ("train", "validation", "test")}

    assert sum(len(split) for split in splits.values()) == len(customers)
    assert {len(split) for split in splits.values()} == {3250, 750, 1000}
    overall_rate = customers[features.TARGET_COLUMN].mean()
    for split in splits.values():
        assert list(split.columns) == [*features.FEATURES, features.TARGET_COLUMN]
        assert split[features.TARGET_COLUMN].mean() == pytest.approx(overall_rate, abs=0.01)


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


def test_the_model_clears_the_configured_threshold(local_run: Path) -> None:
    gate = load_model_config().metric

    measured = evaluation_report(local_run)["binary_classification_metrics"][gate.name]["value"]

    assert measured >= gate.threshold


def test_the_evaluation_report_has_the_sagemaker_model_quality_format(local_run: Path) -> None:
    metrics = evaluation_report(local_run)["binary_classification_metrics"]

    assert set(metrics) == {"auc", "f1", "precision", "recall", "accuracy"}
    for metric in metrics.values():
        assert set(metric) == {"value", "standard_deviation"}
        assert 0.0 < metric["value"] < 1.0
        assert metric["standard_deviation"] == "NaN"


def test_the_config_accepts_exactly_the_metrics_evaluate_reports() -> None:
    assert set(typing.get_args(MetricName)) == set(evaluate.REPORTED_METRICS)


def test_the_model_uses_only_columns_of_the_data_contract() -> None:
    contract_columns = set(schema.CUSTOMER_TABLE.columns)

    assert set(features.FEATURES) <= contract_columns
    assert features.ID_COLUMN == schema.ID_COLUMN
    assert features.TARGET_COLUMN == schema.TARGET_COLUMN


def test_the_model_artifact_carries_its_serving_code_and_metadata(local_run: Path) -> None:
    model_dir = local_run / "model"
    metadata = json.loads((model_dir / inference.METADATA_FILE).read_text())

    assert (model_dir / "code" / "inference.py").read_text() == Path(inference.__file__).read_text()
    assert metadata["features"] == list(features.FEATURES)
    assert 0.0 < metadata["decision_threshold"] < 1.0


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
        ]
    )

    assert json.loads((tmp_path / "out" / evaluate.EVALUATION_FILE).read_text()) == evaluation_report(
        local_run
    )


@pytest.fixture(scope="module")
def model(local_run: Path) -> inference.ChurnModel:
    return inference.model_fn(str(local_run / "model"))


@pytest.fixture(scope="module")
def customers_to_score(local_run: Path) -> pd.DataFrame:
    return read_split(local_run, "test").head(5).loc[:, list(features.FEATURES)]


class TestServingHandlers:
    def test_json_and_csv_requests_get_the_same_scores(
        self, model: inference.ChurnModel, customers_to_score: pd.DataFrame
    ) -> None:
        json_body = json.dumps({"instances": customers_to_score.to_dict(orient="records")})
        csv_body = customers_to_score.to_csv(header=False, index=False)

        from_json = inference.predict_fn(
            inference.input_fn(json_body, "application/json; charset=utf-8"), model
        )
        from_csv = inference.predict_fn(inference.input_fn(csv_body.encode(), "text/csv"), model)

        assert from_json == from_csv
        assert len(from_json) == 5
        for prediction in from_json:
            assert prediction["churned"] == int(prediction["churn_probability"] >= model.decision_threshold)

    def test_responses_are_json_or_one_probability_per_csv_line(
        self, model: inference.ChurnModel, customers_to_score: pd.DataFrame
    ) -> None:
        predictions = inference.predict_fn(customers_to_score, model)

        as_json = json.loads(inference.output_fn(predictions, "application/json"))
        as_csv = inference.output_fn(predictions, "text/csv").splitlines()

        assert as_json == {"predictions": predictions}
        assert [float(line) for line in as_csv] == [p["churn_probability"] for p in predictions]

    def test_an_unseen_category_is_scored_instead_of_failing(
        self, model: inference.ChurnModel, customers_to_score: pd.DataFrame
    ) -> None:
        unseen = customers_to_score.assign(payment_method="crypto")

        predictions = inference.predict_fn(unseen, model)

        assert all(0.0 <= p["churn_probability"] <= 1.0 for p in predictions)

    def test_a_csv_row_with_the_wrong_width_is_refused(self, model: inference.ChurnModel) -> None:
        with pytest.raises(ValueError, match="expected 10 CSV columns"):
            inference.predict_fn(inference.input_fn("1,2,3", "text/csv"), model)

    def test_an_unsupported_content_type_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unsupported content type 'application/x-parquet'"):
            inference.input_fn(b"...", "application/x-parquet")
