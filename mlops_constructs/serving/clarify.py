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
from lambdas.common.contracts import MODEL_BIAS, MODEL_EXPLAINABILITY, monitoring_schedule_name
from mlops_constructs.serving.monitoring_jobs import PUBLISH_METRICS, MonitoringJobs, monitoring_schedule


@dataclass(frozen=True)
class ClarifyBaseline:
    """One Clarify check the champion package was registered with: the analysis config its monitor runs
    (the job's ConfigUri) and the constraints it judges each run against. Empty strings (template
    parameters) when the package has none: the monitor is then not created."""

    analysis_config_s3_uri: str
    constraints_s3_uri: str


class ClarifyMonitor(Construct):
    """Clarify's monitors on what production serves, each hourly against the champion's baseline.

    - Feature attribution drift (ModelExplainability), for every model: the SHAP attributions of the
      hour's captured requests against the package's explainability baseline (a ranking that moved,
      nDCG below 0.9, is a violation). The score explained is the answer's probability where the
      model's inference contract has one, else its prediction.
    - Bias drift (ModelBias), where `bias` is given (the model has ground truth): the post-training bias
      metrics of the hour's predictions, joined with their labels `ground_truth_delay_hours` late, as
      model quality joins them, against the package's post-training bias constraints. The predicted
      label is the one the model answers: a binary model picks its decision threshold in training, per
      package, so no threshold of the template's would judge the labels the model actually gave.

    Where a captured request's features are, and their names, the package's analysis config says (the
    platform does not know a model's feature layout). Each monitor and its schedule exist only when
    the champion's package carries that baseline (a package registered before its build ran the
    check has none). Jobs run network isolated, with KMS on volumes and reports, as the monitoring role,
    and write to `<monitoring output>/<kind>`. A run that finds violations ends CompletedWithViolations
    and lists them in its constraint_violations.json: the drift alert takes the run from there
    (mlops_constructs/endpoint_automation.py), since no CloudWatch metric says a run violated.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        jobs: MonitoringJobs,
        model: ModelConfig,
        explainability: ClarifyBaseline,
        bias: ClarifyBaseline | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The configuration accepts only regions with a Clarify image (config/regions.py).
        self._image = clarify_image_uri(Stack.of(self).region)
        self._jobs, self._model = jobs, model
        self.has_explainability_baseline = _has_baseline(self, "HasExplainabilityBaseline", explainability)
        self.explainability_schedule = self._explainability(explainability, self.has_explainability_baseline)
        self.has_bias_baseline: CfnCondition | None = None
        self.bias_schedule: sagemaker.CfnMonitoringSchedule | None = None
        ground_truth = model.monitoring.ground_truth_s3_uri
        if bias is not None:
            if not ground_truth:
                raise ValueError(f"model {model.name}: bias drift is monitored against labels, and none are configured")
            self.has_bias_baseline = _has_baseline(self, "HasBiasBaseline", bias)
            self.bias_schedule = self._bias(bias, ground_truth, self.has_bias_baseline)

    def _explainability(self, baseline: ClarifyBaseline, condition: CfnCondition) -> sagemaker.CfnMonitoringSchedule:
        contract, jobs = self._model.contract, self._jobs
        explained = contract.probability_attribute or contract.prediction_attribute
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
                **jobs.job_input(definition, contract, inference_attribute=contract.monitor_attribute(explained))
            ),
            model_explainability_job_output_config=jobs.output_config(
                definition, MODEL_EXPLAINABILITY, upload_mode="EndOfJob"
            ),
            **jobs.runtime(definition),
        )
        return self._scheduled(job, condition, "Explainability", "ModelExplainability", MODEL_EXPLAINABILITY)

    def _bias(
        self, baseline: ClarifyBaseline, ground_truth_s3_uri: str, condition: CfnCondition
    ) -> sagemaker.CfnMonitoringSchedule:
        model, jobs = self._model, self._jobs
        contract, delay = model.contract, model.monitoring.ground_truth_delay_hours
        definition = sagemaker.CfnModelBiasJobDefinition
        attributes: dict[str, Any] = {
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
