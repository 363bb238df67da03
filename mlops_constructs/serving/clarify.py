"""SageMaker Clarify's monitors on what production serves: feature attribution drift and bias drift, hourly,
against the Clarify baselines the champion package was registered with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnCondition, Fn, Stack
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.regions import clarify_image_uri
from config.schema import ModelConfig
from lambdas.common.contracts import (
    FEATURE_NAMES_SEPARATORS,
    MODEL_BIAS,
    MODEL_EXPLAINABILITY,
    clarify_answer_attribute,
    clarify_features_attribute,
    clarify_model_name,
    explained_attribute,
    monitoring_schedule_name,
)
from mlops_constructs.serving.endpoint import package_model
from mlops_constructs.serving.monitoring_jobs import PUBLISH_METRICS, MonitoringJobs, monitoring_schedule


@dataclass(frozen=True)
class ClarifyBaseline:
    """One Clarify check the champion package was registered with: the analysis config its monitor runs
    (the job's ConfigUri) and the constraints it judges each run against. Empty strings (template
    parameters) when the package has none: the monitor is then not created."""

    analysis_config_s3_uri: str
    constraints_s3_uri: str


@dataclass(frozen=True)
class ClarifyInputs:
    """What Clarify's monitors take of the champion (template parameters, set by the deploy pipeline's
    champion resolution and the rollback tool, lambdas/common/serving_state.py):

    - its baselines: explainability always (the analysis config written for the deployment, naming the
      model to explain), bias where the model has ground truth (None otherwise);
    - its package, and the role its models run as: the model the explainability monitor explains;
    - `feature_names`: the names the champion's configs give its features, by which Clarify finds them in
      a captured JSON request (`contracts.clarify_feature_names`); None for CSV requests.
    """

    explainability: ClarifyBaseline
    bias: ClarifyBaseline | None
    champion_package_arn: str
    execution_role_arn: str
    feature_names: str | None


class ClarifyMonitor(Construct):
    """Clarify's monitors on what production serves, each hourly against the champion's baseline.

    - Feature attribution drift (ModelExplainability), for every model: the SHAP attributions of the
      hour's captured requests against the package's explainability baseline (a ranking that moved,
      nDCG below 0.9, is a violation). Kernel SHAP asks the model for the predictions of synthetic
      records: Clarify serves the champion on a shadow endpoint it creates, calls and deletes in each
      run, from the SageMaker model this construct creates of the champion's package
      (`contracts.clarify_model_name`; the analysis config names it and the endpoints' prefix). So this
      job alone is not network isolated: it calls the SageMaker API (as the monitoring role, which may
      do so only on this model's shadow endpoints, deploy/roles.py). The score explained is the
      answer's probability where the model's inference contract has one, else its prediction.
    - Bias drift (ModelBias), where `bias` is given (the model has ground truth): the post-training bias
      metrics of the hour's predictions, joined with their labels `ground_truth_delay_hours` late, as
      model quality joins them, against the package's post-training bias constraints. The predicted
      label is the one the model answers: a binary model picks its decision threshold in training, per
      package, so no threshold of the template's would judge the labels the model actually gave.

    What each job reads of a capture (`contracts`, "Clarify's monitors"): a JSON request's features
    are rows of its records' values of `feature_names`, in the order of the analysis config's headers,
    which name them (FeaturesAttribute: every record for the explainability monitor; the first, the one
    a request's label is joined with, for the bias monitor); a CSV request's rows are its features (no
    attribute).
    The answer read (InferenceAttribute) is every record's score explained (`predictions[*].<score>`,
    or the CSV column), and for bias the first record's prediction, as model quality reads it.

    Each monitor and its schedule (and the explained model) exist only when the champion's package
    carries that baseline (a package registered before its build ran the check has none). Jobs run
    with KMS on volumes and reports and inter-instance traffic encrypted, as the monitoring role, and
    write to `<monitoring output>/<kind>`. A run that finds violations ends CompletedWithViolations and
    lists them in its constraint_violations.json: the drift alert takes the run from there
    (mlops_constructs/endpoint_automation.py), since no CloudWatch metric says a run violated.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, jobs: MonitoringJobs, model: ModelConfig, inputs: ClarifyInputs
    ) -> None:
        super().__init__(scope, construct_id)
        # The configuration accepts only regions with a Clarify image (config/regions.py).
        self._image = clarify_image_uri(Stack.of(self).region)
        self._jobs, self._model, self._inputs = jobs, model, inputs
        self.has_explainability_baseline = _has_baseline(self, "HasExplainabilityBaseline", inputs.explainability)
        self.explained_model = self._explained_model()
        self.explainability_schedule = self._explainability(inputs.explainability, self.has_explainability_baseline)
        self.has_bias_baseline: CfnCondition | None = None
        self.bias_schedule: sagemaker.CfnMonitoringSchedule | None = None
        ground_truth = model.monitoring.ground_truth_s3_uri
        if inputs.bias is not None:
            if not ground_truth:
                raise ValueError(f"model {model.name}: bias drift is monitored against labels, and none are configured")
            self.has_bias_baseline = _has_baseline(self, "HasBiasBaseline", inputs.bias)
            self.bias_schedule = self._bias(inputs.bias, ground_truth, self.has_bias_baseline)

    def _explained_model(self) -> sagemaker.CfnModel:
        """The champion's package as the model Clarify serves on its shadow endpoints, named as the analysis
        config written for the deployment names it (the version: the last part of the package's ARN)."""
        champion = self._inputs.champion_package_arn
        model = package_model(
            self,
            "ExplainedModel",
            package_arn=champion,
            execution_role_arn=self._inputs.execution_role_arn,
            model_name=clarify_model_name(self._jobs.serving.name, Fn.select(2, Fn.split("/", champion))),
        )
        model.cfn_options.condition = self.has_explainability_baseline
        return model

    def _features(self, *, first_only: bool) -> dict[str, str]:
        names = self._inputs.feature_names
        if names is None:
            return {}
        # Each name quoted by the template: the parameter holds them joined by commas (contracts).
        separator, quoted_separator = FEATURE_NAMES_SEPARATORS
        quoted = Fn.join(quoted_separator, Fn.split(separator, names))
        return {"features_attribute": clarify_features_attribute(quoted, first_only=first_only)}

    def _explainability(self, baseline: ClarifyBaseline, condition: CfnCondition) -> sagemaker.CfnMonitoringSchedule:
        contract, jobs = self._model.contract, self._jobs
        definition = sagemaker.CfnModelExplainabilityJobDefinition
        job = definition(
            self,
            "ExplainabilityJob",
            model_explainability_app_specification=definition.ModelExplainabilityAppSpecificationProperty(
                image_uri=self._image, config_uri=baseline.analysis_config_s3_uri, environment=PUBLISH_METRICS
            ),
            model_explainability_baseline_config=definition.ModelExplainabilityBaselineConfigProperty(
                constraints_resource=definition.ConstraintsResourceProperty(s3_uri=baseline.constraints_s3_uri)
            ),
            model_explainability_job_input=definition.ModelExplainabilityJobInputProperty(
                **jobs.job_input(
                    definition,
                    contract,
                    **self._features(first_only=False),
                    inference_attribute=clarify_answer_attribute(contract, explained_attribute(contract)),
                )
            ),
            model_explainability_job_output_config=jobs.output_config(
                definition, MODEL_EXPLAINABILITY, upload_mode="EndOfJob"
            ),
            **jobs.runtime(definition, network_isolation=False),
        )
        job.node.add_dependency(self.explained_model)
        return self._scheduled(job, condition, "Explainability", "ModelExplainability", MODEL_EXPLAINABILITY)

    def _bias(
        self, baseline: ClarifyBaseline, ground_truth_s3_uri: str, condition: CfnCondition
    ) -> sagemaker.CfnMonitoringSchedule:
        model, jobs = self._model, self._jobs
        contract, delay = model.contract, model.monitoring.ground_truth_delay_hours
        definition = sagemaker.CfnModelBiasJobDefinition
        attributes: dict[str, Any] = {
            **self._features(first_only=True),
            "inference_attribute": contract.monitor_attribute(contract.prediction_attribute),
            # The hour of predictions whose labels have landed by now (as model quality reads them).
            "start_time_offset": f"-PT{delay + 1}H",
            "end_time_offset": f"-PT{delay}H",
        }
        job = definition(
            self,
            "BiasJob",
            model_bias_app_specification=definition.ModelBiasAppSpecificationProperty(
                image_uri=self._image, config_uri=baseline.analysis_config_s3_uri, environment=PUBLISH_METRICS
            ),
            model_bias_baseline_config=definition.ModelBiasBaselineConfigProperty(
                constraints_resource=definition.ConstraintsResourceProperty(s3_uri=baseline.constraints_s3_uri)
            ),
            model_bias_job_input=definition.ModelBiasJobInputProperty(
                **jobs.job_input(definition, contract, **attributes),
                ground_truth_s3_input=definition.MonitoringGroundTruthS3InputProperty(s3_uri=ground_truth_s3_uri),
            ),
            model_bias_job_output_config=jobs.output_config(definition, MODEL_BIAS, upload_mode="EndOfJob"),
            **jobs.runtime(definition),
        )
        return self._scheduled(job, condition, "Bias", "ModelBias", MODEL_BIAS)

    def _scheduled(
        self, job: Any, condition: CfnCondition, construct_prefix: str, monitoring_type: str, kind: str
    ) -> sagemaker.CfnMonitoringSchedule:
        """The job's hourly schedule, both only when the package has the baseline (`condition`); the job
        waits for the serving resource (SageMaker checks that the endpoint exists)."""
        job.cfn_options.condition = condition
        job.node.add_dependency(self._jobs.serving.resource)
        schedule = monitoring_schedule(
            self,
            f"{construct_prefix}Schedule",
            name=monitoring_schedule_name(self._jobs.serving.name, kind),
            kind=monitoring_type,
            job_definition_arn=job.attr_job_definition_arn,
        )
        schedule.cfn_options.condition = condition
        return schedule


def _has_baseline(scope: Construct, construct_id: str, baseline: ClarifyBaseline) -> CfnCondition:
    """Whether the champion's package carries the baseline: both its analysis config and its constraints."""
    return CfnCondition(
        scope,
        construct_id,
        expression=Fn.condition_and(
            Fn.condition_not(Fn.condition_equals(baseline.analysis_config_s3_uri, "")),
            Fn.condition_not(Fn.condition_equals(baseline.constraints_s3_uri, "")),
        ),
    )
