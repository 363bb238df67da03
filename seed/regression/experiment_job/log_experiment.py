"""Processing job (step LogExperiment): log what the build measured of the model into its MLflow run.

Runs only in a build that tracks experiments: the job's MLFLOW_TRACKING_URI is the tracking server's
ARN, which the sagemaker-mlflow plugin (requirements.txt) resolves. It logs into the run that
run_pipeline started for this execution (--run-id), and leaves that run's status to run_pipeline,
which knows how the execution ends. An execution started without a run (from Studio: MlflowRunId
"none") gets a new run of the model's experiment, which this job ends.

What it logs:
- every metric of evaluation.json (its regression_metrics: rmse, mae, ...) as test_<name>, and the
  gate's metric again as gate_<name>, with the gate (gate_metric, gate_threshold, gate_direction) as
  params;
- Clarify's bias metrics per facet value, data_bias/<facet>/<value>/<metric> (pre-training, of the
  actual sales above the settings' threshold) and model_bias/<facet>/<value>/<metric>
  (post-training, of the forecasts above it), when the model has facets; and the global mean |SHAP|
  of each feature's share of the forecast, shap_mean_abs/<feature>;
- the model (model.joblib of model.tar.gz) with MLflow's sklearn flavour, registered as the MLflow
  model named after the model package group (the tracking server syncs it into the SageMaker group
  `<group>-<suffix>`, never into the platform's governed group). Its pyfunc `predict` answers the
  forecast, as the endpoint does; its MLmodel metadata holds model_metadata.json (features, target,
  scikit-learn version).

It writes experiment.json ({"run_id", "experiment_id", "model_version"}): the package records the run.

This job has a source directory of its own: the framework processor pip-installs its
requirements.txt, and only for this job. It imports nothing of jobs/.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import Model

LOGGER = logging.getLogger("log_experiment")

EXPERIMENT_FILE = "experiment.json"
EVALUATION_FILE = "evaluation.json"
MODEL_ARCHIVE = "model.tar.gz"
# What train.py writes into the model directory (jobs/inference.py: MODEL_FILE, METADATA_FILE).
MODEL_FILE = "model.joblib"
METADATA_FILE = "model_metadata.json"
# The run id an execution started without a run carries (the pipeline parameter's default).
NO_RUN = "none"
# The artifact path of the logged model within the run.
MODEL_ARTIFACT = "model"
# What MLflow accepts in a metric name; anything else in a facet or feature name becomes "_".
UNSAFE_NAME_CHARACTERS = re.compile(r"[^\w.\- /:]")
# The sections of Clarify's bias analyses, and the prefix their metrics are logged under.
BIAS_SECTIONS = {"pre_training_bias_metrics": "data_bias", "post_training_bias_metrics": "model_bias"}
# MLflow's limit on the value of a tag (the failure of a run this job ends).
MAX_TAG_VALUE = 5000


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_analysis(directory: Path) -> dict[str, Any]:
    """Clarify's analysis.json, the one JSON file where the job mounts a check's report."""
    files = sorted(directory.glob("*.json"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"expected one Clarify analysis (JSON file) in {directory}, found {len(files)}"
        )
    analysis: dict[str, Any] = read_json(files[0])
    return analysis


def metric_name(*parts: object) -> str:
    return "/".join(UNSAFE_NAME_CHARACTERS.sub("_", str(part)) for part in parts)


def as_number(value: Any) -> float | None:
    """A finite number, else None: Clarify writes undefined metrics as null, and MLflow's REST API
    cannot carry an infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def evaluation_metrics(evaluation: dict[str, Any], gate_metric: str) -> dict[str, float]:
    """evaluation.json's metrics (its one section, that of the problem type), and the gate's again."""
    ((_, section),) = evaluation.items()
    metrics = {f"test_{name}": float(entry["value"]) for name, entry in section.items()}
    if gate_metric not in section:
        raise KeyError(f"{EVALUATION_FILE} has no {gate_metric!r}, the metric the gate compares")
    return metrics | {f"gate_{gate_metric}": float(section[gate_metric]["value"])}


def bias_metrics(analysis: dict[str, Any]) -> dict[str, float]:
    """Each facet value's bias metrics of a Clarify bias analysis, the undefined ones left out."""
    metrics = {}
    for section, prefix in BIAS_SECTIONS.items():
        for facet, groups in analysis.get(section, {}).get("facets", {}).items():
            for group in groups:
                for entry in group["metrics"]:
                    value = as_number(entry.get("value"))
                    if value is not None:
                        name = metric_name(prefix, facet, group["value_or_threshold"], entry["name"])
                        metrics[name] = value
    return metrics


def shap_metrics(analysis: dict[str, Any]) -> dict[str, float]:
    """The global mean |SHAP| of each feature (per explained output when there are several)."""
    outputs = analysis["explanations"]["kernel_shap"]
    metrics = {}
    for output, explanation in outputs.items():
        for feature, value in explanation["global_shap_values"].items():
            parts = [feature] if len(outputs) == 1 else [output, feature]
            if (number := as_number(value)) is not None:
                metrics[metric_name("shap_mean_abs", *parts)] = abs(number)
    return metrics


def unpack_model(model_dir: Path, into: Path) -> tuple[Any, dict[str, Any]]:
    """The fitted scikit-learn pipeline and its metadata, from model.tar.gz (or a model directory)."""
    archive = model_dir / MODEL_ARCHIVE
    if archive.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
        model_dir = into
    return joblib.load(model_dir / MODEL_FILE), read_json(model_dir / METADATA_FILE)


def params(args: argparse.Namespace) -> dict[str, str]:
    """The gate, as run_pipeline logs it too: with the same values (MLflow refuses to change a param),
    and present in a run started from Studio."""
    return {
        "gate_metric": args.gate_metric,
        "gate_threshold": args.gate_threshold,
        "gate_direction": args.gate_direction,
    }


def own_run(client: MlflowClient, experiment_name: str, execution_id: str) -> str:
    """A new run of the model's experiment (created if there is none, here or by another execution
    meanwhile), for an execution started without one."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        try:
            experiment_id = client.create_experiment(experiment_name)
        except MlflowException:
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                raise
            experiment_id = experiment.experiment_id
    else:
        experiment_id = experiment.experiment_id
    run: str = client.create_run(experiment_id, run_name=f"execution-{execution_id}").info.run_id
    return run


def log_assessment(client: MlflowClient, run_id: str, args: argparse.Namespace, scratch: Path) -> str | None:
    """Log the metrics, params and model into the run; the registered model version."""
    metrics = evaluation_metrics(read_json(args.evaluation_dir / EVALUATION_FILE), args.gate_metric)
    for directory in (args.data_bias_dir, args.model_bias_dir):
        if directory is not None:
            metrics |= bias_metrics(read_analysis(directory))
    metrics |= shap_metrics(read_analysis(args.explainability_dir))
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(name, value, now, 0) for name, value in sorted(metrics.items())],
        params=[Param(name, value) for name, value in params(args).items()],
        tags=[RunTag("pipeline_execution_arn", args.execution_arn)],
    )
    LOGGER.info("logged %d metrics into run %s", len(metrics), run_id)

    model, metadata = unpack_model(args.model_dir, scratch)
    # The logged model belongs to the run's experiment (MLflow creates it in the current experiment).
    mlflow.set_experiment(experiment_id=client.get_run(run_id).info.experiment_id)
    # mlflow.sklearn.log_model of the pinned client (3.0) logs into the active run only, which a job
    # gets from mlflow.start_run: that would end the build's run with the job. Model.log, which it
    # calls, takes the run by its id and leaves its status alone.
    info = Model.log(
        artifact_path=None,
        name=MODEL_ARTIFACT,
        flavor=mlflow.sklearn,
        run_id=run_id,
        registered_model_name=args.registered_model,
        metadata=metadata,
        sk_model=model,
        # The trust the endpoint already gives model.joblib (a pickle too).
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True),
    )
    version = info.registered_model_version
    LOGGER.info("model %s registered as %s version %s", info.model_uri, args.registered_model, version)
    return None if version is None else str(version)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-id", required=True, help=f"the build's MLflow run, or {NO_RUN!r}")
    parser.add_argument("--experiment", required=True, help="the model's experiment (the model name)")
    parser.add_argument("--registered-model", required=True, help="the model package group name")
    parser.add_argument("--gate-metric", required=True)
    parser.add_argument("--gate-threshold", required=True)
    parser.add_argument("--gate-direction", required=True)
    parser.add_argument("--execution-id", required=True)
    parser.add_argument("--execution-arn", required=True)
    parser.add_argument("--evaluation-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--explainability-dir", type=Path, default=Path("/opt/ml/processing/explainability"))
    parser.add_argument("--data-bias-dir", type=Path, default=None)
    parser.add_argument("--model-bias-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/experiment"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    client = MlflowClient()
    started_here = args.run_id == NO_RUN
    run_id = own_run(client, args.experiment, args.execution_id) if started_here else args.run_id
    with ending(client, run_id, started_here), tempfile.TemporaryDirectory() as scratch:
        version = log_assessment(client, run_id, args, Path(scratch))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    experiment = {
        "run_id": run_id,
        "experiment_id": client.get_run(run_id).info.experiment_id,
        "model_version": version,
    }
    (args.output_dir / EXPERIMENT_FILE).write_text(json.dumps(experiment))


@contextmanager
def ending(client: MlflowClient, run_id: str, started_here: bool) -> Iterator[None]:
    """End a run this job started (FINISHED, or FAILED with the error); leave the build's run alone."""
    try:
        yield
    except Exception as error:
        if started_here:
            client.set_tag(run_id, "failure_reason", f"LogExperiment: {error}"[:MAX_TAG_VALUE])
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    if started_here:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))


if __name__ == "__main__":
    main()
