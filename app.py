#!/usr/bin/env python3
"""The CDK app: load the configuration, build the platform, apply the compliance checks.

The configuration file defaults to config/platform.yaml; override with `-c config=path.yaml`.
"""

from __future__ import annotations

import sys

from aws_cdk import App

from config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from mlops_constructs.compliance import add_compliance_checks
from stacks.platform import build_platform


def main() -> None:
    app = App()
    try:
        config = load_config(app.node.try_get_context("config") or DEFAULT_CONFIG_PATH)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    build_platform(app, config)
    add_compliance_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
