"""Shared fixtures: one real Kafka broker per session, a real KServe ModelServer, a tiny model."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.cluster",
    "tests.fixtures.predictor",
    "tests.fixtures.faults",
    "tests.fixtures.redis",
]
