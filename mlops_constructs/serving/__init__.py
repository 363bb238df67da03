"""Serving: a multi-variant SageMaker endpoint, its alarms, autoscaling, dashboard and Model Monitor.

The deploy pipeline deploys this as a CloudFormation template that the app synthesizes (one per
stage, stage settings decided here in Python) and that takes only what is known at deploy time as
parameters: the model package ARNs, and the platform resources the deploy stack owns. So no step
of the pipeline needs the platform's source code, and nothing calls AWS at synth time.

- `endpoint`: the endpoint, its variants, alarms, guardrails, autoscaling and dashboard;
- `monitor`: Model Monitor schedules and the drift alarms;
- `template`: the stack of one stage, with its parameters;
- `render`: synthesizes that stack in an app of its own, for the deploy bundle.
"""

from mlops_constructs.serving.endpoint import MultiVariantEndpoint
from mlops_constructs.serving.monitor import EndpointMonitor
from mlops_constructs.serving.render import render_serving_template
from mlops_constructs.serving.template import ServingTemplateStack

__all__ = ["EndpointMonitor", "MultiVariantEndpoint", "ServingTemplateStack", "render_serving_template"]
