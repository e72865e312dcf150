"""Real local services for the tests and benchmarks (SeaweedFS S3, free ports, the CLI)."""
