"""Shared fixtures: one real Kafka broker per session, a real KServe ModelServer, a tiny model."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.predictor",
]
