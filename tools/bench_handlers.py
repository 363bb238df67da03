"""Cold import of each Lambda handler, as synthesized, against a bare `import boto3` and one client.

    python -m tools.bench_handlers [--repeats N] [--assembly CDK_OUT] [--profile [TOP]]

Each handler is imported from its function's asset as `cdk synth` writes it (the `lambdas` package with
the handler's folder and `lambdas.common`), the way Lambda does: a fresh interpreter whose project code
is the asset only (Powertools and its extras come from this virtualenv, as from the layer in AWS), with
the function's environment (the template's values; plausible ones where CloudFormation resolves them at
deploy time), Lambda's own variables (so that Powertools' Tracer is on, as in AWS: the functions trace
actively), fake credentials and no way to reach AWS. No bytecode is written: Lambda cannot write it
beside the asset either, so the handler's own modules are compiled at every cold start. As in Lambda,
the X-Ray SDK touches /tmp/.aws-xray/initialized.

The virtualenv holds more than the layer and the runtime (the test tools: moto, requests, ...): a
handler that imported whatever X-Ray can patch would import them here and not in AWS. The handlers
patch botocore alone (`lambdas.common.aws.TRACED_MODULES`), so what they import is what AWS has.

The reference is another fresh interpreter running `import boto3; boto3.client("sqs", ...)`. Runs are
interleaved (each round times the reference and every handler once), and the median of each is
reported with its ratio to the reference's, for the wall time and for the CPU time the interpreter
used (steadier where other work shares the machine): a benchmark, not a timed test (no absolute limit).

`--profile` prints, per handler, the `python -X importtime` modules with the largest cumulative import
time (one run): what a cold start spends its time on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.template_diff import REPOSITORY, Assembly, synthesize

DEFAULT_REPEATS = 15
REGION = "eu-west-1"
ACCOUNT = "123456789012"
REFERENCE = "boto3 + sqs client"
# What the reference interpreter times: the cost every handler pays at least.
REFERENCE_CODE = f'import boto3\nboto3.client("sqs", region_name="{REGION}")'
# Runs the timed code in the fresh interpreter and prints its wall and CPU times in seconds.
TIMER = """
import sys, time
started, cpu_started = time.perf_counter(), time.process_time()
exec(compile(sys.argv[1], "<bench>", "exec"))
print(time.perf_counter() - started, time.process_time() - cpu_started)
"""
# Imports the handler as Lambda's bootstrap does: the module of the `Handler` setting, then the function.
# With `__import__` rather than importlib.import_module, which `-X importtime` would not see.
IMPORT_HANDLER = """
import sys
module_name, function_name = "{handler}".rsplit(".", 1)
__import__(module_name)
assert callable(getattr(sys.modules[module_name], function_name))
"""
# Values for the variables whose values CloudFormation resolves at deploy time (references, imports).
PLAUSIBLE_VALUES = {
    "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-alerts",
    "AUDIT_EVENT_BUS_NAME": "mlops-audit",
    "IDEMPOTENCY_TABLE_NAME": "mlops-approval-ApprovalGateIdempotencyTable",
    "STATE_TABLE_NAME": "mlops-churn-deploy-AutomationRetrainingCooldown",
    "GATE_ROLE_NAME": "mlops-approval-ApprovalGateHandlerRole",
}
# Fake credentials, a region, and no instance metadata lookups: nothing can reach AWS.
OFFLINE = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# The interpreter's own, or an AWS profile, would change what is measured.
INHERITED_EXCLUDED = re.compile(r"^(PYTHON|AWS_|POWERTOOLS_|_X_AMZN|LAMBDA_|_HANDLER$)")
# A line of `-X importtime`: "import time: <self us> | <cumulative us> | <indentation><module>".
IMPORT_TIME_LINE = re.compile(r"^import time:\s+(?P<self>\d+) \|\s+(?P<total>\d+) \| \s*(?P<module>\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class HandlerAsset:
    """A function of the platform as synthesized: its handler setting, asset directory and environment."""

    name: str  # the function's service name, e.g. "approval-gate"
    handler: str  # e.g. "lambdas.approval_gate.handler.handler"
    directory: Path
    environment: Mapping[str, str]

    def lambda_environment(self) -> dict[str, str]:
        """The variables Lambda sets for the function (with tracing active), then the function's own."""
        return {
            "LAMBDA_TASK_ROOT": str(self.directory),
            "LAMBDA_RUNTIME_DIR": str(self.directory),
            "_HANDLER": self.handler,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            **self.environment,
        }


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds
    cpu: float  # seconds of CPU the interpreter used: what a busy machine disturbs least


@dataclass(frozen=True)
class Row:
    name: str
    median_ms: float  # wall time
    ratio: float  # the median over the reference's median
    repeats: int
    # The same of the CPU time, steadier where other work shares the machine.
    cpu_median_ms: float | None = None
    cpu_ratio: float | None = None


def handler_assets(assembly: Assembly) -> list[HandlerAsset]:
    """One function per handler of the platform (the first stack that deploys it), sorted by name."""
    found: dict[str, HandlerAsset] = {}
    for template_file in assembly.stacks().values():
        resources = json.loads(template_file.read_text())["Resources"]
        for resource in resources.values():
            properties = resource["Properties"]
            handler = properties.get("Handler", "")
            if resource["Type"] != "AWS::Lambda::Function" or not handler.startswith("lambdas."):
                continue
            variables = properties.get("Environment", {}).get("Variables", {})
            name = variables.get("POWERTOOLS_SERVICE_NAME", handler.split(".")[1])
            found.setdefault(
                name,
                HandlerAsset(
                    name=name,
                    handler=handler,
                    directory=assembly.directory / f"asset.{properties['Code']['S3Key'].removesuffix('.zip')}",
                    environment={key: _plausible(key, value) for key, value in variables.items()},
                ),
            )
    if not found:
        raise RuntimeError(f"no Lambda handler of the platform in {assembly.directory}")
    return [found[name] for name in sorted(found)]


def _plausible(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if key in PLAUSIBLE_VALUES:
        return PLAUSIBLE_VALUES[key]
    raise RuntimeError(f"{key} is resolved at deploy time ({json.dumps(value)[:80]}): add it to PLAUSIBLE_VALUES")


def offline_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This interpreter's environment without what would change what is measured, offline, and `extra`."""
    inherited = {key: value for key, value in os.environ.items() if not INHERITED_EXCLUDED.match(key)}
    return inherited | OFFLINE | dict(extra or {})


def run_python(
    arguments: Sequence[str], *, cwd: Path, environment: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter, without writing bytecode, in `cwd` (on its import path); raise if it fails."""
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code and assets
        [sys.executable, "-B", *arguments],
        cwd=cwd,
        env={**environment, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"python {' '.join(arguments[:2])} in {cwd} failed:\n{result.stderr[-3000:]}")
    return result


def time_once(code: str, *, cwd: Path, environment: Mapping[str, str]) -> Timing:
    """What `code` takes in a fresh interpreter started in `cwd`."""
    wall, cpu = run_python(["-c", TIMER, code], cwd=cwd, environment=environment).stdout.split()
    return Timing(wall=float(wall), cpu=float(cpu))


def time_handler(handler: HandlerAsset) -> Timing:
    return time_once(
        IMPORT_HANDLER.format(handler=handler.handler),
        cwd=handler.directory,
        environment=offline_environment(handler.lambda_environment()),
    )


def measure(repeats: int = DEFAULT_REPEATS, *, assembly: Path | None = None) -> list[Row]:
    """The reference's row, then each handler's: median cold import (ms) and its ratio to the reference's.

    `assembly`: a `cdk.out` directory to take the assets from; by default the app is synthesized."""
    with synthesized(assembly) as cloud_assembly, tempfile.TemporaryDirectory(prefix="bench-reference-") as empty:
        handlers = handler_assets(cloud_assembly)
        samples: dict[str, list[Timing]] = {REFERENCE: [], **{handler.name: [] for handler in handlers}}
        for _ in range(repeats):
            samples[REFERENCE].append(time_once(REFERENCE_CODE, cwd=Path(empty), environment=offline_environment()))
            for handler in handlers:
                samples[handler.name].append(time_handler(handler))
    wall = {name: statistics.median(timing.wall for timing in timings) for name, timings in samples.items()}
    cpu = {name: statistics.median(timing.cpu for timing in timings) for name, timings in samples.items()}
    return [
        Row(
            name=name,
            median_ms=1000 * wall[name],
            ratio=wall[name] / wall[REFERENCE],
            repeats=repeats,
            cpu_median_ms=1000 * cpu[name],
            cpu_ratio=cpu[name] / cpu[REFERENCE],
        )
        for name in samples
    ]


@dataclass(frozen=True)
class ImportTime:
    module: str
    self_ms: float
    cumulative_ms: float


def profile(handler: HandlerAsset) -> list[ImportTime]:
    """`python -X importtime` of one cold import of the handler, largest cumulative time first."""
    report = run_python(
        ["-X", "importtime", "-c", IMPORT_HANDLER.format(handler=handler.handler)],
        cwd=handler.directory,
        environment=offline_environment(handler.lambda_environment()),
    ).stderr
    times = [
        ImportTime(module=match["module"], self_ms=int(match["self"]) / 1000, cumulative_ms=int(match["total"]) / 1000)
        for match in IMPORT_TIME_LINE.finditer(report)
    ]
    return sorted(times, key=lambda time: time.cumulative_ms, reverse=True)


@contextmanager
def synthesized(directory: Path | None) -> Iterator[Assembly]:
    """The given `cdk.out`, or the app synthesized into a temporary one (removed afterwards)."""
    if directory is not None:
        yield Assembly(directory.resolve())
        return
    with tempfile.TemporaryDirectory(prefix="bench-handlers-") as scratch:
        yield synthesize(REPOSITORY, Path(scratch) / "cdk.out", [])


def render(rows: Sequence[Row]) -> str:
    """A table of the rows: wall and CPU medians, each with its ratio to the reference's."""
    lines = [f"{'':<20} {'wall ms':>9} {'ratio':>6} {'cpu ms':>9} {'ratio':>6}   (medians of {rows[0].repeats} runs)"]
    for row in rows:
        cpu = "" if row.cpu_median_ms is None else f" {row.cpu_median_ms:>9.1f} {row.cpu_ratio or 0:>5.2f}x"
        lines.append(f"{row.name:<20} {row.median_ms:>9.1f} {row.ratio:>5.2f}x{cpu}")
    return "\n".join(lines) + "\n"


def render_profile(handler: HandlerAsset, times: Sequence[ImportTime], top: int) -> Iterator[str]:
    yield f"=== {handler.name}: python -X importtime, cumulative ms (self ms)"
    for entry in times[:top]:
        yield f"{entry.cumulative_ms:>9.1f} ({entry.self_ms:>6.1f})  {entry.module}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help=f"rounds (default {DEFAULT_REPEATS})")
    parser.add_argument("--assembly", type=Path, help="a synthesized cdk.out to use (default: synthesize the app)")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=25, default=0, metavar="TOP", help="print each handler's importtime"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    try:
        with synthesized(args.assembly) as cloud_assembly:
            for handler in handler_assets(cloud_assembly) if args.profile else []:
                print("\n".join(render_profile(handler, profile(handler), args.profile)))
            sys.stdout.write(render(measure(args.repeats, assembly=cloud_assembly.directory)))
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
