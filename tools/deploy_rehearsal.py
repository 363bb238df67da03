"""Rehearse the first half of `cdk deploy` against a local moto server: bootstrap, then publish every
asset, then check that what landed in the staging bucket is what was synthesized.

    python -m tools.deploy_rehearsal [--assembly DIR]

Run from the repository root (`make deploy-local`); `--assembly` takes an existing `cdk.out`,
otherwise the default configuration is synthesized first. Needs no AWS account: the server runs on a
free port of this machine and the CLI talks to it through `AWS_ENDPOINT_URL`.

What it proves: the pinned CLI reads this app's cloud assembly, bootstraps the environment the stacks
name, assumes the bootstrap's publishing role and uploads every file asset (Lambda code, the seed,
the deploy bundle, the templates) to the key the templates reference, with the content synthesized.
What it cannot: the CloudFormation half. moto 5.2.5 skips CodeCommit, CodePipeline, CodeBuild,
CloudTrail, alarms and most SageMaker types, fails on tagged KMS keys and cannot change termination
protection, so a stack deployment there would prove nothing about AWS.

Exit status: 0 every asset published as synthesized, 1 a step failed or an asset differs.
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tools.template_diff import REPOSITORY, Assembly, cdk_executable, tool_environment

MOTO_ACCOUNT = "123456789012"  # the account moto serves
CDK_PLACEHOLDERS = ("${AWS::AccountId}", "${AWS::Region}", "${AWS::Partition}")


class RehearsalFailed(Exception):
    pass


@dataclass
class Rehearsal:
    """What the rehearsal did: per step its seconds, and each published asset with what it holds."""

    seconds: dict[str, float] = field(default_factory=dict)
    published: dict[str, list[str]] = field(default_factory=dict)  # "<stack>/<asset>" -> its files

    def report(self) -> str:
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.seconds.items())
        templates = sum(name.endswith(" Template") for name in self.published)
        assets = len(self.published) - templates
        return f"{templates} templates and {assets} assets published as synthesized ({steps})"


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free local port, its endpoint URL (`localhost`: the CLI needs a host name)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executable = Path(sys.executable).parent / "moto_server"
    server = subprocess.Popen(  # noqa: S603 - the virtualenv's moto server
        [str(executable), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()  # noqa: S310 - local server
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RehearsalFailed(f"the moto server did not start on port {port}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def rehearse(assembly: Assembly, endpoint: str) -> Rehearsal:
    rehearsal = Rehearsal()
    environments = sorted(assembly.environments())
    accounts = {account for account, _ in environments}
    if accounts != {MOTO_ACCOUNT}:
        raise RehearsalFailed(f"the stacks name accounts {sorted(accounts)}; the rehearsal serves {MOTO_ACCOUNT} only")
    env = rehearsal_environment(endpoint)
    started = time.monotonic()
    for account, region in environments:
        run_cdk(["bootstrap", f"aws://{account}/{region}", "--app", str(assembly.directory)], env)
    rehearsal.seconds["bootstrap"] = time.monotonic() - started
    started = time.monotonic()
    run_cdk(["publish-assets", "--unstable=publish-assets", "--all", "--app", str(assembly.directory)], env)
    rehearsal.seconds["publish"] = time.monotonic() - started
    started = time.monotonic()
    for name, source, destination in file_assets(assembly):
        rehearsal.published[name] = check_published(source, destination, endpoint)
    rehearsal.seconds["check"] = time.monotonic() - started
    return rehearsal


def file_assets(assembly: Assembly) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """Every file asset of every stack (its templates too): name, local source, S3 destination."""
    for name, source, asset in assembly.file_assets():
        for destination in asset["destinations"].values():
            yield name, source, destination


def check_published(source: Path, destination: dict[str, Any], endpoint: str) -> list[str]:
    """The published object's files; raises unless they are the synthesized ones, byte for byte."""
    bucket, key = destination["bucketName"], destination["objectKey"]
    if any(placeholder in bucket + key for placeholder in CDK_PLACEHOLDERS):
        raise RehearsalFailed(f"unresolved placeholder in s3://{bucket}/{key}")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=destination.get("region"),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's
    )
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise RehearsalFailed(f"s3://{bucket}/{key} ({source.name}) was not published") from None
    if source.is_file():
        if body != source.read_bytes():
            raise RehearsalFailed(f"s3://{bucket}/{key} differs from {source.name}")
        return [source.name]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        published = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    synthesized = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    if published != synthesized:
        missing, extra = sorted(synthesized.keys() - published.keys()), sorted(published.keys() - synthesized.keys())
        raise RehearsalFailed(f"s3://{bucket}/{key} differs from {source.name}: missing {missing}, extra {extra}")
    return sorted(published)


def rehearsal_environment(endpoint: str) -> dict[str, str]:
    """This process's environment with every AWS setting replaced by the local server's."""
    env = {key: value for key, value in tool_environment().items() if key != "AWS_REGION"}
    return env | {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def run_cdk(arguments: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - the project's CLI
        [cdk_executable(), *arguments], cwd=REPOSITORY, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RehearsalFailed(f"cdk {arguments[0]} failed:\n{result.stdout}{result.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--assembly", type=Path, help="a synthesized cdk.out (default: synthesize the app)")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="deploy-rehearsal-") as scratch:
            assembly_dir = args.assembly or Path(scratch) / "cdk.out"
            if args.assembly is None:
                app = f"{sys.executable} app.py"
                run_cdk(["synth", "--quiet", "--app", app, "--output", str(assembly_dir)], tool_environment())
            with moto_server() as endpoint:
                rehearsal = rehearse(Assembly(assembly_dir), endpoint)
    except RehearsalFailed as failure:
        print(f"rehearsal failed: {failure}", file=sys.stderr)
        return 1
    print(rehearsal.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
