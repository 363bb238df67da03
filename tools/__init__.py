"""Command-line tools of the platform: the deploy pipeline's endpoint smoke test and the rollback."""
