"""Reading the CSV tables that SageMaker mounts as directories."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_csv_directory(directory: Path) -> pd.DataFrame:
    """Concatenate every CSV file of a directory: an S3 prefix may hold several parts."""
    csv_files = sorted(directory.glob("*.csv"))
    if not csv_files:
        raise FileNotFoundError(f"no .csv file in {directory}")
    return pd.concat((pd.read_csv(path) for path in csv_files), ignore_index=True)
