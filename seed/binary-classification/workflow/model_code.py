"""Where the model's own code lives in this repository, and what the workflow reads from it.

The scripts in jobs/ run inside SageMaker as top-level modules, so they are not importable as a
package from here: the workflow reads them by path.
"""

import importlib.util
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
JOBS_DIR = REPOSITORY_ROOT / "jobs"


def model_features(jobs_dir: Path = JOBS_DIR) -> tuple[str, ...]:
    """The columns the model reads, in order: FEATURES of jobs/features.py."""
    path = jobs_dir / "features.py"
    spec = importlib.util.spec_from_file_location("model_features", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.FEATURES)
