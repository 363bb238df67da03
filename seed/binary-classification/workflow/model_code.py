"""Where the model's own code lives in this repository, and what the workflow reads from it.

The scripts in jobs/ run inside SageMaker as top-level modules, so they are not importable as a
package from here: the workflow reads them by path (workflow/config.py, load_job_module).
"""

from pathlib import Path

from workflow.config import JOBS_DIR, REPOSITORY_ROOT, load_job_module

__all__ = ["JOBS_DIR", "REPOSITORY_ROOT", "model_features", "target_classes", "target_column"]


def model_features(jobs_dir: Path = JOBS_DIR) -> tuple[str, ...]:
    """The columns the model reads, in order: FEATURES of jobs/features.py."""
    return tuple(load_job_module("features", jobs_dir).FEATURES)


def target_classes(problem_type: str, jobs_dir: Path = JOBS_DIR) -> tuple[int | str, ...]:
    """The classes of the target of `problem_type`: TARGET_CLASSES of jobs/features.py."""
    return tuple(load_job_module("features", jobs_dir).TARGET_CLASSES[problem_type])


def target_column(problem_type: str, jobs_dir: Path = JOBS_DIR) -> str:
    """The column the model of `problem_type` learns: TARGET_COLUMNS of jobs/features.py."""
    return str(load_job_module("features", jobs_dir).TARGET_COLUMNS[problem_type])
