"""Command-line tools of the platform and the scripts its pipelines run (smoke test, champion resolution)."""
