"""Clarify's checks of a model that passed the metric gate: data bias (pre-training) and model bias
(post-training) of each facet when the model's settings name facets (`clarify`), and the model's
explanation (SHAP) always.

Each check is a Clarify processing job on the test split (preprocess.py's clarify_dataset: the
features, then the target, no header). The model checks call the model through a shadow endpoint
that Clarify creates from the pipeline's SageMaker model and deletes when done, with the model's own
inference contract: the content type and accept of package_metadata, and the answer's label and
probability fields.

The checks record baselines and never fail a build (skip_check, register_new_baseline, like the
data-quality baseline): the platform's approval gate, not the build, holds the post-training bias
report to its bounds when an approver approves the package.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sagemaker.core.clarify import BiasConfig, DataConfig, ModelConfig, ModelPredictedLabelConfig, SHAPConfig
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.workflow.functions import Join
from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
from sagemaker.mlops.workflow.clarify_check_step import (
    ClarifyCheckConfig,
    ClarifyCheckStep,
    DataBiasCheckConfig,
    ModelBiasCheckConfig,
    ModelExplainabilityCheckConfig,
)

from workflow.config import ClarifySettings, InferenceContract
from workflow.config import ModelConfig as Settings

# The step names (a step's name is also its results' folder under the execution's prefix).
DATA_BIAS = "CheckDataBias"
MODEL_BIAS = "CheckModelBias"
EXPLAINABILITY = "CheckModelExplainability"

JSON_MEDIA_TYPE = "application/json"
# How Clarify writes a JSON request of several rows: the body jobs/inference.py reads,
# {"instances": [{<feature>: value, ...}, ...]}, each row's features named by the dataset's headers.
JSON_REQUEST_TEMPLATE = '{"instances":$records}'
JSON_RECORD_TEMPLATE = "$features_kvp"
# The list of a JSON answer, {"predictions": [{"label": ..., "probability": ...}, ...]}, one per row.
JSON_ANSWERS = "predictions"

# Kernel SHAP: samples per explained row (a fixed seed, so two runs of one model agree). Clarify
# computes the baseline by clustering the dataset (K-prototypes, the features being mixed).
SHAP_SAMPLES = 100
SHAP_SEED = 42


@dataclass(frozen=True)
class ClarifyDataset:
    """The dataset every check reads: a header-less CSV, its columns named by `headers`."""

    s3_uri: PipelineVariable
    headers: list[str]
    label: str


@dataclass(frozen=True)
class ClarifyChecks:
    """The checks of one model; the bias checks only when its settings name facets."""

    explainability: ClarifyCheckStep
    data_bias: ClarifyCheckStep | None = None
    model_bias: ClarifyCheckStep | None = None

    @property
    def steps(self) -> list[ClarifyCheckStep]:
        """In the order the pipeline lists them: data bias (needs no model), then the model checks."""
        return [step for step in (self.data_bias, self.model_bias, self.explainability) if step is not None]


def answer_field(contract: InferenceContract, attribute: str) -> str | int:
    """Where Clarify reads an attribute of each answer: a JMESPath over a JSON answer of several rows,
    or the column of a CSV answer line (`label,probability`)."""
    if contract.accept == JSON_MEDIA_TYPE:
        return f"{JSON_ANSWERS}[*].{attribute}"
    return int(attribute)


def shadow_endpoint(settings: Settings, model_name: PipelineVariable) -> ModelConfig:
    """The endpoint Clarify creates for the model checks: the model called as it is served."""
    contract = settings.package_metadata.customer_metadata_properties
    json_request = (
        {"content_template": JSON_REQUEST_TEMPLATE, "record_template": JSON_RECORD_TEMPLATE}
        if contract.content_type == JSON_MEDIA_TYPE
        else {}
    )
    return ModelConfig(
        model_name=model_name,
        instance_count=1,
        instance_type=settings.inference_instance_types[0],
        content_type=contract.content_type,
        accept_type=contract.accept,
        **json_request,
    )


def bias_config(clarify: ClarifySettings) -> BiasConfig:
    """The facets (each against the rest of the rows) and the labels counted as positive."""
    return BiasConfig(
        label_values_or_threshold=list(clarify.label_values),
        facet_name=[facet.name for facet in clarify.facets],
        facet_values_or_threshold=[list(facet.values) for facet in clarify.facets],
    )


class ClarifyCheckBuilder:
    """Builds the checks; holds what they share (settings, dataset, model, job and output locations)."""

    def __init__(
        self,
        *,
        settings: Settings,
        dataset: ClarifyDataset,
        model_name: PipelineVariable,
        kms_key: str,
        check_job: Callable[[str], CheckJobConfig],
        results_uri: Callable[[str], Join],
        analysis_config_uri: Callable[[str], str],
    ) -> None:
        """`check_job(name)`: the job settings of a check; `results_uri(name)`: where it writes its
        results (per execution); `analysis_config_uri(name)`: where the SDK uploads its analysis
        configuration when the definition is built (a literal, as the SDK requires)."""
        self.settings = settings
        self.dataset = dataset
        self.endpoint = shadow_endpoint(settings, model_name)
        self.kms_key = kms_key
        self.check_job = check_job
        self.results_uri = results_uri
        self.analysis_config_uri = analysis_config_uri

    def checks(self) -> ClarifyChecks:
        clarify = self.settings.clarify
        explainability = self._step(EXPLAINABILITY, self._explainability_config())
        if clarify is None:
            return ClarifyChecks(explainability=explainability)
        return ClarifyChecks(
            explainability=explainability,
            data_bias=self._step(DATA_BIAS, self._data_bias_config(clarify)),
            model_bias=self._step(MODEL_BIAS, self._model_bias_config(clarify)),
        )

    def _data_bias_config(self, clarify: ClarifySettings) -> DataBiasCheckConfig:
        return DataBiasCheckConfig(
            data_config=self._data_config(DATA_BIAS),
            data_bias_config=bias_config(clarify),
            kms_key=self.kms_key,
        )

    def _model_bias_config(self, clarify: ClarifySettings) -> ModelBiasCheckConfig:
        contract = self.settings.package_metadata.customer_metadata_properties
        return ModelBiasCheckConfig(
            data_config=self._data_config(MODEL_BIAS),
            data_bias_config=bias_config(clarify),
            model_config=self.endpoint,
            # The label the model answers (a binary model's threshold already applied), as is.
            model_predicted_label_config=ModelPredictedLabelConfig(
                label=answer_field(contract, contract.prediction_attribute)
            ),
            kms_key=self.kms_key,
        )

    def _explainability_config(self) -> ModelExplainabilityCheckConfig:
        contract = self.settings.package_metadata.customer_metadata_properties
        return ModelExplainabilityCheckConfig(
            data_config=self._data_config(EXPLAINABILITY),
            model_config=self.endpoint,
            explainability_config=SHAPConfig(
                num_samples=SHAP_SAMPLES, agg_method="mean_abs", save_local_shap_values=False, seed=SHAP_SEED
            ),
            # The answer's probability: of class 1 for a binary model, of the answered class otherwise.
            model_scores=answer_field(contract, contract.probability_attribute),
            kms_key=self.kms_key,
        )

    def _data_config(self, name: str) -> DataConfig:
        return DataConfig(
            s3_data_input_path=self.dataset.s3_uri,
            s3_output_path=self.results_uri(name),
            s3_analysis_config_output_path=self.analysis_config_uri(name),
            label=self.dataset.label,
            headers=list(self.dataset.headers),
            dataset_type="text/csv",
        )

    def _step(self, name: str, check: ClarifyCheckConfig) -> ClarifyCheckStep:
        return ClarifyCheckStep(
            name=name,
            clarify_check_config=check,
            check_job_config=self.check_job(name),
            # Record this model's report and baseline, check nothing: the approval gate holds the
            # bias report to the platform's bounds (module docstring).
            skip_check=True,
            register_new_baseline=True,
        )
