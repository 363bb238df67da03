"""How the handlers and scripts reach what serves when it serves in another account.

With `environment.deployment_accounts`, a stage's endpoint, serving stack and monitoring outputs live in
the stage's own account; the tooling account keeps the registry, the data buckets, the topics, the audit
bus and the state tables. The tooling account's roles reach what serves through the model's "ops" role
there (`contracts.target_role_name(..., "ops")`), named by `contracts.SERVING_ROLE_ARN_ENV` to a
handler or a pipeline script. Unset or empty, what serves is in the caller's own account and nothing is
assumed.

`serving_session` is a boto3 session whose credentials are the role's: botocore's own assume-role
fetcher gets them from the regional STS endpoint at the first call and again before they expire (its
refreshable credentials). A refused AssumeRole raises `ServingRoleError`, a `BotoCoreError` naming the
role: the handlers' `aws_call` turns it into a retryable failure, the scripts report it and exit
non-zero. It is never an AWS answer about the resource asked for, so no reader takes it for "not there".

boto3 and botocore only (and the standard library): this module ships in the deploy bundle too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError, CredentialRetrievalError, NoCredentialsError, NoRegionError

from lambdas.common.contracts import SERVING_ROLE_ARN_ENV

if TYPE_CHECKING:  # the command-line helpers' types: a handler's cold start does without argparse
    import argparse

# IAM's constraint on a role session name (CloudTrail shows it in the serving account).
SESSION_NAME_MAX_LENGTH = 64
_SESSION_NAME_INVALID = re.compile(r"[^\w+=,.@-]")
# The role's credentials; botocore refreshes them 15 minutes before they expire.
ASSUMED_ROLE_DURATION_SECONDS = 3600
STS_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=10)
ASSUME_ROLE_METHOD = "assume-role"


class ServingRoleError(CredentialRetrievalError):
    """AssumeRole of the serving role failed (refused, or STS unreachable): nothing that serves can be read."""

    fmt = "could not assume the serving role {role_arn}: {error_msg}"


def serving_role_arn(environ: Mapping[str, str] | None = None) -> str | None:
    """The role named by `contracts.SERVING_ROLE_ARN_ENV`; None when unset or empty (this account serves)."""
    return (os.environ if environ is None else environ).get(SERVING_ROLE_ARN_ENV) or None


def serving_session(
    role_arn: str | None,
    *,
    session_name: str,
    region_name: str | None = None,
    base: boto3.Session | None = None,
) -> boto3.Session:
    """A session that reaches what serves: `role_arn`'s, assumed with `base`'s credentials (default: boto3's
    default session, or a new one in `region_name`), or `base` itself when `role_arn` is empty.

    Nothing is called here: the role is assumed at the first call of a client of the session (then
    `ServingRoleError` when refused), and again before its credentials expire. All the session's clients
    share them.
    """
    base = base or (boto3.Session(region_name=region_name) if region_name else default_session())
    if not role_arn:
        return base
    region = region_name or base.region_name
    if not region:
        raise NoRegionError()  # the regional STS endpoint, and the clients, need one
    source = base.get_credentials()
    if source is None:
        raise NoCredentialsError()
    fetcher = AssumeRoleCredentialFetcher(
        # The STS client is created anew at each refresh, with the source's then current credentials.
        partial(base.client, region_name=region, config=STS_CONFIG),
        source,
        role_arn,
        extra_args={
            "RoleSessionName": role_session_name(session_name),
            "DurationSeconds": ASSUMED_ROLE_DURATION_SECONDS,
        },
    )
    credentials = DeferredRefreshableCredentials(
        refresh_using=_naming_the_role(fetcher.fetch_credentials, role_arn), method=ASSUME_ROLE_METHOD
    )
    assumed = botocore.session.Session()
    assumed.register_component("credential_provider", CredentialResolver([_Provided(credentials)]))
    return boto3.Session(botocore_session=assumed, region_name=region)


def default_session() -> boto3.Session:
    """boto3's default session, the one `boto3.client` creates its clients from (created if need be).

    Each session loads the endpoint and service models its clients need once: a handler whose serving
    clients are this account's takes them from this session rather than a new one, which would load
    them again (tens of milliseconds of a cold start)."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    return boto3.DEFAULT_SESSION


def role_session_name(name: str) -> str:
    """`name` as a valid role session name: characters IAM refuses become "-", at most 64 of them."""
    return _SESSION_NAME_INVALID.sub("-", name)[:SESSION_NAME_MAX_LENGTH].ljust(2, "-")


def _naming_the_role(fetch: Callable[[], dict[str, Any]], role_arn: str) -> Callable[[], dict[str, Any]]:
    def refresh() -> dict[str, Any]:
        try:
            return fetch()
        except (ClientError, BotoCoreError) as error:
            raise ServingRoleError(role_arn=role_arn, error_msg=str(error)) from error

    return refresh


class _Provided(CredentialProvider):
    """The one credential provider of an assumed-role session: the refreshable credentials given."""

    METHOD = ASSUME_ROLE_METHOD

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


# --- the command-line tools that a person runs -------------------------------------------------------

SERVING_OPTIONS_HELP = (
    "Where staging and production serve in their own accounts (environment.deployment_accounts), what"
    " serves is reached with --serving-profile (an AWS CLI profile of the serving account), --serving-role-arn"
    " (a role of yours to assume there, such as an operator's role the account's administrators grant the"
    " rollback's permissions: docs/runbook-rollback.md; the model's ops role trusts only the platform's"
    " automation; with --serving-profile, assumed with that profile's credentials), or both. Without either,"
    " one set of credentials is used for everything (one account)."
)


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `cli_serving_session` takes (`--serving-profile`, `--serving-role-arn`)."""
    group = parser.add_argument_group("serving account", SERVING_OPTIONS_HELP)
    group.add_argument("--serving-profile", metavar="NAME", help="AWS CLI profile for the serving account")
    group.add_argument("--serving-role-arn", metavar="ARN", help="role to assume in the serving account")


def cli_serving_session(
    args: argparse.Namespace, *, region_name: str | None, session_name: str
) -> boto3.Session | None:
    """The session `add_serving_arguments`' options ask for; None without them (the same credentials as the
    rest). Raises ProfileNotFound (a BotoCoreError) for an unknown profile."""
    profile, role_arn = args.serving_profile, args.serving_role_arn
    if not (profile or role_arn):
        return None
    base = boto3.Session(profile_name=profile, region_name=region_name) if profile else None
    return serving_session(role_arn, session_name=session_name, region_name=region_name, base=base)
