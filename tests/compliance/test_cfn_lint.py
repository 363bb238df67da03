"""cfn-lint over every synthesized template: zero errors; kept warnings are listed in .cfnlintrc.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Synthesized


def test_every_template_passes_cfn_lint(synthesized: Synthesized) -> None:
    templates = sorted(Path(synthesized.assembly.directory).glob("*.template.json"))
    assert templates, "no template was synthesized"
    result = subprocess.run(  # noqa: S603 - fixed command, our own files
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(ROOT / ".cfnlintrc.yaml"),
            *map(str, templates),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
