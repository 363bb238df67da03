"""Serving: what serves a model in one stage, what watches it, and the template that holds them.

The deploy pipeline deploys this as a CloudFormation template that the app synthesizes (one per
stage, stage settings decided here in Python) and that takes only what is known at deploy time as
parameters: the model package ARNs, the platform resources the deploy stack owns, and the model's
name (so one template serves any model with the same settings, a SageMaker Project's too). So no
step of the pipeline needs the platform's source code, and nothing calls AWS at synth time.

- `endpoint`: a real-time model's endpoint, its variants, alarms, guardrails, autoscaling and dashboard;
- `batch`: a batch model's transform pipeline, its schedule and its alarm;
- `monitor`: Model Monitor schedules and the drift and model-quality alarms, over either;
- `clarify`: Clarify's feature attribution drift and bias drift schedules, over either, and the model
  Clarify explains;
- `monitoring_jobs`: what every monitoring job shares (input, instance, key, network, output, schedule);
- `template`: the stack of one stage, with its parameters;
- `render`: synthesizes that stack in an app of its own, for the deploy bundle.
"""

from mlops_constructs.serving.batch import BatchTransform
from mlops_constructs.serving.endpoint import MultiVariantEndpoint
from mlops_constructs.serving.monitor import ServingMonitor
from mlops_constructs.serving.render import render_serving_template, serving_template
from mlops_constructs.serving.template import ServingTemplateStack

__all__ = [
    "BatchTransform",
    "MultiVariantEndpoint",
    "ServingMonitor",
    "ServingTemplateStack",
    "render_serving_template",
    "serving_template",
]
