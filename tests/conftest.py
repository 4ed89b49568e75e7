"""Shared fixtures: a real Kafka broker once per session, a real KServe ModelServer, a tiny model."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.predictor",
]
