"""SageMaker Projects: the Service Catalog portfolio data scientists create model projects from in Studio.

One product per seed template (`projects.templates`), each tagged `sagemaker:studio-visibility=true`
so Studio lists it under the organization's templates; the portfolio is shared with the data-scientist
persona (the role their Studio user profiles run as). Service Catalog creates a project's resources
with the launch role (a launch constraint), never with the data scientist's own permissions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import CfnOutput, Environment, Fn, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_servicecatalog as servicecatalog
from constructs import Construct

from config.schema import ProjectsConfig
from lambdas.common.contracts import Stage
from mlops_constructs.accounts import ServingAccount, partition_of
from mlops_constructs.compliance import acknowledge_each, nag_ref
from mlops_constructs.launch_role import PROVISIONED_STACK_PREFIX, ProductLaunchRole
from mlops_constructs.model_product import ModelProductStack, ProductTemplate, product_templates
from mlops_constructs.project_accounts import (
    acknowledge_launch_role_statements,
    launch_role_statements,
    stackset_admin_role,
)
from mlops_constructs.storage import SecureBucket

STUDIO_VISIBILITY_TAG = "sagemaker:studio-visibility"


class ProjectsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platform_name: str,
        projects: ProjectsConfig,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        noncurrent_version_days: int,
        permissions_boundary: iam.IManagedPolicy,
        data_scientist_role: iam.IRole,
        env: Environment,
        serving_accounts: Mapping[Stage, ServingAccount] | None = None,
        config_model_names: Sequence[str] = (),
        tracks_experiments: bool = False,
        **kwargs: Any,
    ) -> None:
        """`serving_accounts`: where each stage serves; a project's model serves in the stage accounts too.
        `tracks_experiments`: the platform has an MLflow tracking server, which a project's build logs to."""
        super().__init__(scope, construct_id, env=env, **kwargs)
        accounts = dict(serving_accounts or {})
        if any(account.remote for account in accounts.values()):
            stackset_admin_role(self, platform_name=platform_name, accounts=accounts.values())
        self.portfolio = servicecatalog.Portfolio(
            self,
            "Portfolio",
            display_name=f"{platform_name} model projects",
            provider_name=f"{platform_name} platform team",
            description="Model projects of the MLOps platform: repository, build and deploy pipelines, "
            "Model Registry group, endpoints, monitoring and alarms, from one of the platform's seed templates",
        )
        self.portfolio.give_access_to_role(data_scientist_role)
        # The products' own assets (seed, deploy bundle, serving templates, functions' code), copied here
        # at deployment: Service Catalog deploys a product's template outside this app's bootstrap.
        self.asset_bucket = SecureBucket(
            self,
            "ProductAssets",
            encryption_key=encryption_key,
            access_log_bucket=access_log_bucket,
            access_log_prefix="product-assets-bucket/",
            noncurrent_version_days=noncurrent_version_days,
            # Service Catalog's asset copies need the bucket's physical name at synth time.
            bucket_name=f"{platform_name}-product-assets-{self.account}-{self.region}",
        ).bucket
        account_statements = launch_role_statements(
            self,
            platform_name=platform_name,
            accounts=accounts.values(),
            boundary_arn=permissions_boundary.managed_policy_arn,
            config_model_names=config_model_names,
        )
        self.launch_role = ProductLaunchRole(
            self,
            "LaunchRole",
            platform_name=platform_name,
            permissions_boundary=permissions_boundary,
            encryption_key=encryption_key,
            asset_bucket=self.asset_bucket,
            extra_statements=account_statements,
        )
        acknowledge_launch_role_statements(self.launch_role, account_statements)
        self.templates: dict[str, ModelProductStack] = {}
        self.products: dict[str, servicecatalog.CloudFormationProduct] = {}
        for template in product_templates(list(projects.templates), list(projects.sources)):
            self._product(
                platform_name,
                template,
                env=env,
                encryption_key=encryption_key,
                log_retention=log_retention,
                noncurrent_version_days=noncurrent_version_days,
                serving_accounts=accounts,
                tracks_experiments=tracks_experiments,
            )
        self._let_data_scientists_create_projects(data_scientist_role)
        self._let_project_buckets_log(access_log_bucket)
        self._acknowledge_the_asset_copy()
        CfnOutput(self, "PortfolioId", value=self.portfolio.portfolio_id, description="Service Catalog portfolio")

    def _product(
        self,
        platform_name: str,
        template: ProductTemplate,
        *,
        env: Environment,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        noncurrent_version_days: int,
        serving_accounts: Mapping[Stage, ServingAccount],
        tracks_experiments: bool,
    ) -> None:
        construct_suffix = template.construct_id
        product_stack = ModelProductStack(
            self,
            f"{construct_suffix}Template",
            platform_name=platform_name,
            template=template,
            env=env,
            template_context=self.node.get_all_context(),
            asset_bucket=self.asset_bucket,
            asset_key=encryption_key,
            log_retention=log_retention,
            noncurrent_version_days=noncurrent_version_days,
            serving_accounts=serving_accounts,
            tracks_experiments=tracks_experiments,
        )
        template_source = servicecatalog.CloudFormationTemplate.from_product_stack(product_stack)
        product = servicecatalog.CloudFormationProduct(
            self,
            f"{construct_suffix}Product",
            product_name=f"{platform_name} {template.title}",
            owner=f"{platform_name} platform team",
            description=template.description,
            distributor=f"{platform_name} platform team",
            product_versions=[
                servicecatalog.CloudFormationProductVersion(
                    product_version_name=template_version(self, template_source),
                    description="The template this platform release synthesized (named by its content hash)",
                    cloud_formation_template=template_source,
                    validate_template=True,
                )
            ],
        )
        Tags.of(product).add(STUDIO_VISIBILITY_TAG, "true")
        self.portfolio.add_product(product)
        self.portfolio.set_launch_role(product, self.launch_role.role)
        product.node.default_child.apply_removal_policy(RemovalPolicy.RETAIN)  # type: ignore[union-attr]
        self.templates[template.key] = product_stack
        self.products[template.key] = product

    def _let_project_buckets_log(self, access_log_bucket: s3.IBucket) -> None:
        """A project's buckets log to the platform's access-log bucket like every other bucket; CDK cannot
        add their statement from a product's template (the bucket is imported there), so it is added here:
        any bucket of a provisioned product's stack (CloudFormation names them `sc-<account>-pp-...`)."""
        access_log_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ProjectBucketsDeliverAccessLogs",
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[access_log_bucket.arn_for_objects("*")],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{self.partition}:s3:::{PROVISIONED_STACK_PREFIX.lower()}{self.account}-pp-*"
                    },
                    "StringEquals": {"aws:SourceAccount": self.account},
                },
            )
        )

    def _acknowledge_the_asset_copy(self) -> None:
        """The function CDK adds to copy the products' assets into their bucket at each deployment."""
        for child in self.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge_each(
                    child,
                    [
                        (
                            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                            "CDK's asset-copy function (BucketDeployment), created by Service Catalog's product stack synthesizer.",
                        ),
                        (
                            "AwsSolutions-IAM5[Action::s3:GetBucket*]",
                            "CDK's asset-copy grant: reads the bootstrap assets.",
                        ),
                        (
                            "AwsSolutions-IAM5[Action::s3:GetObject*]",
                            "CDK's asset-copy grant: reads the bootstrap assets.",
                        ),
                        (
                            "AwsSolutions-IAM5[Action::s3:List*]",
                            "CDK's asset-copy grant: lists the source and the product asset bucket.",
                        ),
                        (
                            "AwsSolutions-IAM5[Action::s3:Abort*]",
                            "CDK's asset-copy grant: writes the product asset bucket.",
                        ),
                        (
                            "AwsSolutions-IAM5[Action::s3:DeleteObject*]",
                            "CDK's asset-copy grant (it never prunes: prune is off).",
                        ),
                        (
                            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                            "Writes objects encrypted with the platform key.",
                        ),
                        ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "L2 grant on the platform key."),
                        # Its partition is a token in an App, literal in a delivery pipeline's Stage.
                        *(
                            (
                                f"AwsSolutions-IAM5[Resource::arn:{partition}:s3:::cdk-hnb659fds-assets-{self.account}-{self.region}/*]",
                                "The bootstrap assets bucket: the products' assets are copied from it.",
                            )
                            for partition in ("<AWS::Partition>", partition_of(self.region))
                        ),
                        (
                            f"AwsSolutions-IAM5[Resource::<{nag_ref(self.asset_bucket)[1:-1]}.Arn>/*]",
                            "The product asset bucket: objects are named by their content hash.",
                        ),
                        ("AwsSolutions-L1", "CDK's asset-copy function pins its own runtime."),
                        ("NIST.800.53.R5-IAMNoInlinePolicy", "CDK's asset-copy function's role."),
                        ("NIST.800.53.R5-LambdaConcurrency", "Runs once per deployment."),
                        (
                            "NIST.800.53.R5-LambdaDLQ",
                            "A CloudFormation custom resource: a failure fails the deployment.",
                        ),
                        ("NIST.800.53.R5-LambdaInsideVPC", "Copies between S3 buckets only."),
                        ("NIST.800.53.R5-CloudWatchLogGroupEncrypted", "CDK's asset-copy function's own log group."),
                    ],
                )

    def _let_data_scientists_create_projects(self, role: iam.IRole) -> None:
        """Create, follow and delete projects from Studio; what a project creates, Service Catalog creates
        with the launch role."""
        policy = iam.ManagedPolicy(
            self,
            "DataScientistProjects",
            description="Data scientists create model projects from the platform's products",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="CreateAndFollowProjects",
                    actions=[
                        "sagemaker:CreateProject",
                        "sagemaker:DescribeProject",
                        "sagemaker:UpdateProject",
                        "sagemaker:DeleteProject",
                    ],
                    resources=[self.format_arn(service="sagemaker", resource="project", resource_name="*")],
                ),
                # ListProjects takes no resource: scoped to projects' ARNs, it would never be allowed.
                iam.PolicyStatement(sid="ListProjects", actions=["sagemaker:ListProjects"], resources=["*"]),
                iam.PolicyStatement(
                    sid="ProvisionThePlatformsProducts",
                    actions=[
                        "servicecatalog:DescribeProduct",
                        "servicecatalog:DescribeProductView",
                        "servicecatalog:DescribeProvisioningParameters",
                        "servicecatalog:ListLaunchPaths",
                        "servicecatalog:ProvisionProduct",
                    ],
                    resources=[product.product_arn for product in self.products.values()],
                ),
                iam.PolicyStatement(
                    sid="FollowProvisionedProjects",
                    actions=[
                        "servicecatalog:SearchProducts",
                        "servicecatalog:DescribeRecord",
                        "servicecatalog:DescribeProvisionedProduct",
                        "servicecatalog:SearchProvisionedProducts",
                        "servicecatalog:UpdateProvisionedProduct",
                        "servicecatalog:TerminateProvisionedProduct",
                    ],
                    resources=["*"],
                    # Only what this account provisioned from the platform's portfolio is visible to them.
                ),
            ],
        )
        acknowledge_each(
            policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::{self.format_arn(service='sagemaker', resource='project', resource_name='*')}]",
                    "Projects are named by the data scientists who create them; Service Catalog creates their resources.",
                ),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "sagemaker:ListProjects and Service Catalog's search and record actions take no resource;"
                    " provisioned products are only the platform's portfolio's, and launch with the launch role.",
                ),
            ],
        )


def template_version(stack: Stack, template: servicecatalog.CloudFormationTemplate) -> str:
    """A product version's name: `v-` and its template's content hash (the template's asset name in the
    URL Service Catalog loads it from; CloudFormation cuts it out of the URL at deployment). Each change of
    the template is then a new version, which existing projects can update to; an unchanged template
    keeps its version, so redeploying the platform changes nothing for them.
    """
    url = template.bind(stack).http_url
    return Fn.join("", ["v-", Fn.select(0, Fn.split(".", Fn.select(4, Fn.split("/", url))))])
