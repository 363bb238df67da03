"""Content-addressed asset directories that synth composes from several sources.

An asset whose content is assembled at synth time (the seed with a model's settings, a Lambda
handler with the shared package, the deploy pipeline's templates) is written to
`<temp dir>/mlops-assets/<kind>/<hash of the content>`: repeated synths reuse the directory, CDK's asset hash
changes only when the content does, and concurrent synths never see a half-written directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from fnmatch import fnmatch
from pathlib import Path

# Every composed asset directory lives below this one (`make clean` removes it).
ASSETS_ROOT = Path(tempfile.gettempdir()) / "mlops-assets"
# A file of an asset: generated text, or a file of the repository copied with its permission bits.
Content = str | Path


def tree(directory: Path, *, excludes: Iterable[str] = (), under: str = "") -> dict[str, Path]:
    """The files below `directory` by relative path (prefixed with `under`), skipping every file
    that is, or lies below, a path component matching one of the `excludes` glob patterns."""
    patterns = tuple(excludes)
    files: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not any(fnmatch(part, pattern) for part in relative.parts for pattern in patterns):
            files[str(Path(under, relative))] = path
    return files


def compose(kind: str, files: Mapping[str, Content]) -> Path:
    """Write `files` (relative path -> content) into the content-addressed directory of `kind`."""
    digest = hashlib.sha256()
    for name in sorted(files):
        content = files[name]
        data = content.read_bytes() if isinstance(content, Path) else content.encode()
        mode = stat.S_IMODE(content.stat().st_mode) if isinstance(content, Path) else 0o644
        for part in (name.encode(), str(mode).encode(), data):
            digest.update(len(part).to_bytes(8, "big") + part)
    staged = ASSETS_ROOT / kind / digest.hexdigest()[:16]
    if staged.exists():
        return staged
    partial = staged.with_name(f"{staged.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for name, content in files.items():
        target = partial / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy2(content, target)
        else:
            target.write_text(content)
    try:
        partial.rename(staged)
    except OSError:  # another synth composed the same content first: theirs is identical
        shutil.rmtree(partial, ignore_errors=True)
    return staged
