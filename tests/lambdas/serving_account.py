"""A serving account beside the fake one (moto): staging or production serving in its own account, reached
through the model's ops role there (`lambdas.common.accounts`), and what the tests observe of it.

moto 5.2.5 gives AssumeRole's credentials the account of the role assumed: a call signed with them acts
in that account's fake backend, so what serves lives in `SERVING_ACCOUNT`, and a reader that used its
own credentials would not find it. STS answers every AssumeRole; `sts_refusing` has it answer
AccessDenied, as it does when the role does not trust the caller (or the caller may not assume it).

No import of a conftest here: the handler and the tools tests both use this module.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import boto3
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

from lambdas.common.contracts import target_role_name

SERVING_ACCOUNT = "210987654321"
# The access key ids STS gives temporary credentials start with this (moto's too); the tests' own don't.
TEMPORARY_KEY_PREFIX = "ASIA"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


def ops_role_arn(model: str = "churn", account: str = SERVING_ACCOUNT) -> str:
    """The model's production ops role in the serving account (contracts.target_role_name)."""
    return f"arn:aws:iam::{account}:role/{target_role_name('mlops', model, 'production', 'ops')}"


def watched_session(region: str, requests: list[dict[str, Any]], **credentials: str) -> boto3.Session:
    """A session whose STS clients record each AssumeRole request (its parameters and URL) in `requests`."""
    session = boto3.Session(region_name=region, **credentials)

    def parameters(params: dict[str, Any], **_: Any) -> None:
        requests.append(dict(params))

    def url(request: Any, **_: Any) -> None:
        requests[-1]["url"] = request.url

    session.events.register("provide-client-params.sts.AssumeRole", parameters)
    session.events.register("before-send.sts.AssumeRole", url)
    return session


@contextmanager
def sts_refusing() -> Iterator[None]:
    """STS refuses every AssumeRole, as it answers a caller the role does not trust."""

    def refuse(self: STSBackend, role_arn: str, **_: Any) -> None:
        raise STSClientError(
            "AccessDenied",
            f"User: arn:aws:sts::123456789012:assumed-role/tooling is not authorized to perform: sts:AssumeRole"
            f" on resource: {role_arn}",
        )

    with warnings.catch_warnings(), mock.patch.object(STSBackend, "assume_role", refuse):
        # moto's STS model has no AccessDenied shape; botocore reads the code from the answer all the same.
        warnings.filterwarnings("ignore", message=r".*AccessDenied does not match an error shape")
        yield


@contextmanager
def signers(clients: dict[str, Any]) -> Iterator[dict[str, set[str]]]:
    """Which credentials signed each client's requests inside the block, by the clients' names in
    `clients`: "serving" (temporary credentials: the assumed role's) or "own" (the tests' keys)."""
    signed: dict[str, set[str]] = {name: set() for name in clients}
    hooks = []
    for name, aws_client in clients.items():

        def record(request: Any, _name: str = name, **_: Any) -> None:
            header = request.headers.get("Authorization") or ""
            match = _CREDENTIAL.search(header.decode() if isinstance(header, bytes) else header)
            if match:
                signed[_name].add("serving" if match.group(1).startswith(TEMPORARY_KEY_PREFIX) else "own")

        aws_client.meta.events.register("before-send", record)
        hooks.append((aws_client, record))
    try:
        yield signed
    finally:
        for aws_client, record in hooks:
            aws_client.meta.events.unregister("before-send", record)
