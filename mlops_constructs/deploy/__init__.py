"""A model's deployment: the deploy pipeline, its bundle, its CodeBuild actions and the serving roles.

- `pipeline`: the DeployPipeline construct (staging, smoke test, approval, production);
- `bundle`: the pipeline's source, the serving templates and the scripts its actions run;
- `projects`: the smoke test and champion resolution CodeBuild projects;
- `roles`: the serving, monitoring and CloudFormation roles, scoped to this model's resources.
"""

from mlops_constructs.deploy.pipeline import DeployPipeline

__all__ = ["DeployPipeline"]
