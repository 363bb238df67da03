"""What a change does to the deployed infrastructure, without an AWS account: the working tree's
templates against those of a git revision.

    python -m tools.template_diff [--base REV] [--config FILE] [--fail]

Run from the repository root (`make diff`, `make diff BASE=origin/main`). Both trees are synthesized
with this checkout's virtualenv and CDK CLI: the revision from `git archive`, the working tree as it
is (uncommitted changes and config included). Then, per stack, `cdk diff --template` prints the
resource and security changes (IAM statements, security groups) as `cdk diff` does against a deployed
stack; stacks only one side has are named. Assets (Lambda code, the seed, the deploy bundle), paired by
construct path, are listed with the files they gain, lose or change; the CloudFormation templates
among those files (the serving templates the deploy pipelines deploy) are compared as JSON.

`--config FILE` synthesizes both trees with the same configuration, to see what a code change does
to it; by default each tree uses its own `config/platform.yaml`.

Exit status: 0 compared (`--fail`: and nothing differs), 1 differences with `--fail`, 2 a tree did
not synthesize or the revision does not exist.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
TEMPLATE_SUFFIX = ".template.json"
NO_DIFFERENCES = "Number of stacks with differences: 0"


@dataclass(frozen=True)
class Assembly:
    """A synthesized cloud assembly (a `cdk.out` directory)."""

    directory: Path

    def stacks(self) -> dict[str, Path]:
        """Each stack's template file, by stack name."""
        return {name: self.directory / artifact["properties"]["templateFile"] for name, artifact in self._stacks()}

    def environments(self) -> set[tuple[str, str]]:
        """The (account, region) pairs the stacks deploy to."""
        pairs = set()
        for _, artifact in self._stacks():
            account, region = artifact["environment"].removeprefix("aws://").split("/")
            pairs.add((account, region))
        return pairs

    def file_assets(self) -> Iterator[tuple[str, Path, dict[str, Any]]]:
        """Every file asset of every stack, its template too: `<stack>/<construct path>`, the local
        source, and its entry in the stack's asset manifest (with the S3 destinations)."""
        for stack in self.stacks():
            manifest = json.loads((self.directory / f"{stack}.assets.json").read_text())
            for asset in manifest.get("files", {}).values():
                source = self.directory / asset["source"]["path"]
                yield f"{stack}/{asset.get('displayName', source.name)}", source, asset

    def assets(self) -> dict[str, Path]:
        """Each stack's file and directory assets (not its template), as `<stack>/<construct path>`.

        The SageMaker Projects products' assets are named by their path in the product's template, the
        same in every product: the second one of a name is `<name> (2)`, and so on, in manifest order."""
        templates = set(self.stacks().values())
        assets: dict[str, Path] = {}
        for name, source, _ in self.file_assets():
            if source in templates:
                continue
            unique, count = name, 1
            while unique in assets:
                count += 1
                unique = f"{name} ({count})"
            assets[unique] = source
        return assets

    def _stacks(self) -> list[tuple[str, dict[str, Any]]]:
        manifest = json.loads((self.directory / "manifest.json").read_text())
        return [
            (name, artifact)
            for name, artifact in manifest["artifacts"].items()
            if artifact["type"] == "aws:cloudformation:stack"
        ]


@dataclass(frozen=True)
class Difference:
    name: str
    change: str  # "changed", "added", "removed" or "unchanged"
    report: str = ""


StackDiffer = Callable[[Assembly, str, Path], str]


def cdk_diff(current: Assembly, stack: str, base_template: Path) -> str:
    """`cdk diff` of one stack of `current` against a template file: its report, or "" when equal."""
    result = subprocess.run(  # noqa: S603 - the project's CLI on our own assembly
        [
            cdk_executable(),
            "diff",
            "--app",
            str(current.directory),
            stack,
            "--exclusively",
            "--no-color",
            "--template",
            str(base_template),
        ],
        capture_output=True,
        text=True,
        env=tool_environment(),
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"cdk diff of {stack} failed ({result.returncode}):\n{output}")
    return "" if NO_DIFFERENCES in output else output.strip()


def compare(base: Assembly, current: Assembly, *, diff_stack: StackDiffer = cdk_diff) -> list[Difference]:
    """Every stack and asset of either assembly, with what changed from `base`."""
    stacks = pair(base.stacks(), current.stacks(), lambda name, before, _: diff_stack(current, name, before))
    assets = pair(base.assets(), current.assets(), lambda _, before, after: asset_diff(before, after))
    return stacks + assets


def pair(base: dict[str, Path], current: dict[str, Path], differ: Callable[[str, Path, Path], str]) -> list[Difference]:
    """The items of both sides by name: added, removed, or compared by `differ(name, base, current)`."""
    differences = []
    for name in sorted(base | current):
        if name not in base:
            differences.append(Difference(name, "added"))
        elif name not in current:
            differences.append(Difference(name, "removed"))
        else:
            report = differ(name, base[name], current[name])
            differences.append(Difference(name, "changed" if report else "unchanged", report))
    return differences


def asset_diff(before: Path, after: Path) -> str:
    """Which files of an asset changed; for the CloudFormation templates among them, how."""
    if before.name == after.name:  # the staged name is the content's hash
        return ""
    if before.is_file() or after.is_file():
        return f"content changed: {before.name} -> {after.name}"
    old, new = _files(before), _files(after)
    lines = [f"+ {name}" for name in sorted(new.keys() - old.keys())]
    lines += [f"- {name}" for name in sorted(old.keys() - new.keys())]
    changed = sorted(name for name in old.keys() & new.keys() if old[name].read_bytes() != new[name].read_bytes())
    lines += [f"~ {name}" for name in changed]
    lines += [json_diff(old[name], new[name], name) for name in changed if name.endswith(TEMPLATE_SUFFIX)]
    return "\n".join(lines)


def _files(directory: Path) -> dict[str, Path]:
    return {path.relative_to(directory).as_posix(): path for path in directory.rglob("*") if path.is_file()}


def json_diff(before: Path, after: Path, name: str) -> str:
    """A unified diff of two JSON documents, keys sorted, so only content changes show."""

    def lines(path: Path) -> list[str]:
        return json.dumps(json.loads(path.read_text()), indent=1, sort_keys=True).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(before), lines(after), f"base/{name}", f"current/{name}"))


def extract_revision(revision: str, destination: Path) -> None:
    """The files of `revision` (as committed) into `destination`."""
    archive = subprocess.run(  # noqa: S603 - git on this repository
        ["git", "-C", str(REPOSITORY), "archive", "--format=tar", revision],  # noqa: S607 - git from PATH
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise RuntimeError(f"git archive {revision}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")


def synthesize(source: Path, outdir: Path, context: Sequence[str]) -> Assembly:
    app = f"{sys.executable} app.py"
    result = subprocess.run(  # noqa: S603 - the project's CLI on our own app
        [cdk_executable(), "synth", "--quiet", "--app", app, "--output", str(outdir), *context],
        cwd=source,
        capture_output=True,
        text=True,
        env=tool_environment(),
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth in {source} failed:\n{result.stdout}{result.stderr}")
    return Assembly(outdir)


def cdk_executable() -> str:
    return str(REPOSITORY / "node_modules" / ".bin" / "cdk")


def tool_environment() -> dict[str, str]:
    """The CLI with the virtualenv's Node, and no way to reach AWS: nothing here needs an account."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_") or key == "AWS_REGION"}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["AWS_EC2_METADATA_DISABLED"] = "true"
    environment.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    return environment


def render(differences: list[Difference]) -> str:
    reports = [f"=== {d.name}\n{d.report}\n" for d in differences if d.report]
    summary = [f"{d.change:>9}  {d.name}" for d in differences]
    return "\n".join([*reports, "Summary (base -> working tree):", *summary]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", default="HEAD", help="git revision to compare with (default HEAD)")
    parser.add_argument("--config", type=Path, help="synthesize both trees with this configuration file")
    parser.add_argument("--fail", action="store_true", help="exit 1 when anything differs")
    args = parser.parse_args(argv)
    context = ["--context", f"config={args.config.resolve()}"] if args.config else []
    with tempfile.TemporaryDirectory(prefix="template-diff-") as scratch:
        base_tree = Path(scratch) / "base"
        try:
            extract_revision(args.base, base_tree)
            base = synthesize(base_tree, Path(scratch) / "base.out", context)
            current = synthesize(REPOSITORY, Path(scratch) / "current.out", context)
            differences = compare(base, current)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    sys.stdout.write(render(differences))
    changed = any(d.change != "unchanged" for d in differences)
    return 1 if args.fail and changed else 0


if __name__ == "__main__":
    sys.exit(main())
