"""`make bench`: how fast the platform synthesizes, its handlers start and its tests run, side by side.

    python -m tools.bench [--repeats N] [--handler-repeats N] [--models 5,20] [--hundred] [--tests]
                          [--write docs/performance.md]

In one run, on this machine:
- **synth**: `cdk synth --quiet` (the project's pinned CLI) of a one-bucket CDK app (the floor: Node, the
  CLI, Python and jsii starting), of the default configuration, and of the default configuration with its
  model repeated to 5 and 20 models (`--models`). Runs are interleaved (each round synthesizes every case
  once) and the median is reported with its ratio to the one-bucket app's, and the models' to one model's.
  `--hundred` adds one synthesis of 100 models, with the largest template against CloudFormation's limits.
- **handlers**: each Lambda handler's cold import from its synthesized asset against a bare `import boto3`
  plus one client (tools/bench_handlers.py).
- **tests** (`--tests`): the root suite (`make test`: it runs each seed's suite within), then each seed's
  suite alone, once each.

Figures are medians of paired runs: a benchmark, never a timed test (nothing asserts an absolute time).
`--write` replaces the generated part of docs/performance.md (between its bench markers), keeping the
text around it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tools import bench_handlers
from tools.template_diff import REPOSITORY, cdk_executable, tool_environment

DEFAULT_REPEATS = 5
DEFAULT_MODELS = (5, 20)
HUNDRED = 100
DEFAULT_CONFIG = REPOSITORY / "config" / "platform.yaml"
PERFORMANCE_DOC = REPOSITORY / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SEED_DIRS = ("seed/binary-classification", "seed/regression")
# CloudFormation's quotas a template must stay within (CDK uploads templates to S3: 1 MB).
TEMPLATE_BYTES_LIMIT = 1_000_000
RESOURCES_LIMIT = 500
OUTPUTS_LIMIT = 200
PARAMETERS_LIMIT = 200

MINIMAL_APP = """
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

app = App()
stack = Stack(app, "Minimal")
s3.Bucket(stack, "Bucket")
app.synth()
"""


@dataclass(frozen=True)
class SynthCase:
    name: str
    cwd: Path
    app: str
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: list[float]
    reference: str | None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True)
class TemplateSize:
    stack: str
    size_bytes: int
    resources: int
    outputs: int
    parameters: int


def many_models(count: int, base: Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The default configuration with its first model repeated `count` times (m001, m002, ...)."""
    raw: dict[str, Any] = yaml.safe_load(base.read_text())
    model = raw["models"][0]
    raw["models"] = [dict(model, name=f"m{index:03d}") for index in range(1, count + 1)]
    return raw


def synth_once(case: SynthCase, outdir: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - the project's pinned CLI on our own apps
        [cdk_executable(), "synth", "--quiet", "--app", case.app, "--output", str(outdir), *case.context],
        cwd=case.cwd,
        capture_output=True,
        text=True,
        env=tool_environment(),
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth of {case.name} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def interleaved(cases: Sequence[SynthCase], repeats: int, scratch: Path) -> dict[str, list[float]]:
    """Each round synthesizes every case once, so that a busy moment of the machine weighs on all alike."""
    times: dict[str, list[float]] = {case.name: [] for case in cases}
    for round_ in range(repeats):
        for case in cases:
            times[case.name].append(synth_once(case, scratch / f"{case.name}-{round_}"))
    return times


def template_sizes(assembly: Path) -> list[TemplateSize]:
    """Every template of a cloud assembly (nested stage assemblies and product templates included)."""
    sizes = []
    for path in sorted(assembly.rglob("*.template.json")):
        template = json.loads(path.read_text())
        sizes.append(
            TemplateSize(
                stack=path.name.removesuffix(".template.json"),
                size_bytes=path.stat().st_size,
                resources=len(template.get("Resources", {})),
                outputs=len(template.get("Outputs", {})),
                parameters=len(template.get("Parameters", {})),
            )
        )
    return sizes


def run_suite(command: Sequence[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, env=tool_environment(), capture_output=True)  # noqa: S603
    return time.perf_counter() - started


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def report(
    synth: Sequence[Timing],
    handlers: Sequence[bench_handlers.Row],
    hundred: tuple[float, list[TemplateSize]] | None,
    suites: Sequence[tuple[str, float]],
    repeats: int,
    handler_repeats: int,
) -> str:
    by_name = {timing.name: timing for timing in synth}
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()} by `make bench`.",
        "",
        f"**Synthesis** (`cdk synth --quiet`, median of {repeats} interleaved runs):",
        "",
        *table(
            ["case", "median", "ratio"],
            [
                (
                    timing.name,
                    f"{timing.median:.2f} s",
                    f"{timing.median / by_name[timing.reference].median:.2f}x {timing.reference}"
                    if timing.reference
                    else "",
                )
                for timing in synth
            ],
        ),
    ]
    if hundred is not None:
        seconds, sizes = hundred
        largest = max(sizes, key=lambda size: size.size_bytes)
        most = max(sizes, key=lambda size: size.resources)
        lines += [
            "",
            f"**100 models**: one synthesis in {seconds:.1f} s, {len(sizes)} templates. The largest, `{largest.stack}`,"
            f" is {largest.size_bytes / 1000:.0f} KB of CloudFormation's {TEMPLATE_BYTES_LIMIT // 1000} KB;"
            f" the most resources, `{most.stack}`, {most.resources} of {RESOURCES_LIMIT};"
            f" outputs at most {max(size.outputs for size in sizes)} of {OUTPUTS_LIMIT},"
            f" parameters at most {max(size.parameters for size in sizes)} of {PARAMETERS_LIMIT}.",
        ]
    lines += [
        "",
        f"**Handler cold imports** (from the synthesized assets, fresh interpreters, median of {handler_repeats}"
        " interleaved runs):",
        "",
        *table(
            ["handler", "median", "ratio"],
            [
                (
                    row.name,
                    f"{row.median_ms:.0f} ms",
                    f"{row.ratio:.2f}x" if row.name != bench_handlers.REFERENCE else "",
                )
                for row in handlers
            ],
        ),
    ]
    if suites:
        lines += [
            "",
            "**Test suites** (one run each, warm: virtualenvs and node_modules installed):",
            "",
            *table(["suite", "wall"], [(name, f"{seconds:.0f} s") for name, seconds in suites]),
            "",
            # The root suite runs each seed's suite too (tests/seed_runs.py), beside its other tests.
            f"`make test` is the root suite, the seeds' suites run within it: {suites[0][1]:.0f} s. "
            "The seeds' suites alone are shown for reference.",
        ]
    return "\n".join(lines) + "\n"


def write_report(text: str, path: Path) -> None:
    """Replace what lies between the bench markers of `path`, keeping the rest."""
    document = path.read_text()
    if BEGIN not in document or END not in document:
        raise ValueError(f"{path} has no {BEGIN} ... {END} section for the figures")
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--models takes counts such as 5,20: {error}") from error
    if not counts or min(counts) < 2:
        raise argparse.ArgumentTypeError("--models takes counts of at least 2 models, such as 5,20")
    return counts


def main(argv: Sequence[str] | None = None, *, log: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="synth runs per case")
    parser.add_argument("--handler-repeats", type=int, default=bench_handlers.DEFAULT_REPEATS)
    parser.add_argument("--models", type=_counts, default=DEFAULT_MODELS, help="model counts to synthesize")
    parser.add_argument("--hundred", action="store_true", help="also synthesize 100 models once")
    parser.add_argument("--tests", action="store_true", help="also time the root and seed test suites")
    parser.add_argument("--write", type=Path, nargs="?", const=PERFORMANCE_DOC, help="update the figures there")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.handler_repeats < 1:
        parser.error("--repeats and --handler-repeats take at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-") as scratch_name:
        scratch = Path(scratch_name)
        (scratch / "minimal").mkdir()
        (scratch / "minimal" / "app.py").write_text(MINIMAL_APP)
        platform_app = f"{sys.executable} app.py"
        cases = [
            SynthCase("one-bucket app", scratch / "minimal", f"{sys.executable} app.py"),
            SynthCase("default config (1 model)", REPOSITORY, platform_app),
        ]
        references = {"default config (1 model)": "one-bucket app"}
        for count in args.models:
            config = scratch / f"models-{count}.yaml"
            config.write_text(yaml.safe_dump(many_models(count), sort_keys=False))
            name = f"{count} models"
            cases.append(SynthCase(name, REPOSITORY, platform_app, ("-c", f"config={config}")))
            references[name] = "default config (1 model)"
        log(f"synthesizing {len(cases)} cases {args.repeats} times each ...")
        times = interleaved(cases, args.repeats, scratch)
        synth = [Timing(name, seconds, references.get(name)) for name, seconds in times.items()]

        hundred = None
        if args.hundred:
            config = scratch / "models-100.yaml"
            config.write_text(yaml.safe_dump(many_models(HUNDRED), sort_keys=False))
            log("synthesizing 100 models once ...")
            case = SynthCase("100 models", REPOSITORY, platform_app, ("-c", f"config={config}"))
            seconds = synth_once(case, scratch / "hundred")
            hundred = (seconds, template_sizes(scratch / "hundred"))

    log(f"importing each handler {args.handler_repeats} times ...")
    handlers = bench_handlers.measure(args.handler_repeats)

    suites: list[tuple[str, float]] = []
    if args.tests:
        log("running the test suites ...")
        suites.append(("root (pytest)", run_suite([sys.executable, "-m", "pytest", "-q"], REPOSITORY)))
        seed_python = str(REPOSITORY / ".venv-seed" / "bin" / "python")
        for seed in SEED_DIRS:
            command = [seed_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
            suites.append((seed, run_suite(command, REPOSITORY / seed)))

    text = report(synth, handlers, hundred, suites, args.repeats, args.handler_repeats)
    log(text)
    if args.write is not None:
        write_report(text, args.write)
        log(f"updated {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
