#!/usr/bin/env python3
"""The CDK app: load the configuration, build the platform, apply the compliance checks.

The configuration file defaults to config/platform.yaml; override with `-c config=path.yaml`. With a
`delivery` section, the app is the delivery stack, and the platform's stacks are the Stages its pipeline
deploys (the compliance checks walk the whole construct tree, Stages included).
"""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import App

from config import DEFAULT_CONFIG_PATH, ConfigError, PlatformConfig, load_config
from mlops_constructs.compliance import add_compliance_checks
from stacks.platform import build_platform


def build(app: App, config: PlatformConfig, *, config_path: str | Path) -> None:
    """The platform in `app`: with `delivery`, its pipeline's stack (the platform in the pipeline's Stages)."""
    if config.delivery is not None:
        # Only then: CDK Pipelines and the pipeline's actions take a tenth of a default synthesis to import.
        from stacks.delivery_stack import build_delivered_platform

        build_delivered_platform(app, config, config_path=config_path)
    else:
        build_platform(app, config)


def main() -> None:
    app = App()
    config_path = app.node.try_get_context("config") or DEFAULT_CONFIG_PATH
    try:
        build(app, load_config(config_path), config_path=config_path)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    add_compliance_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
