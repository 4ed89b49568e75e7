"""``python -m transport.topics``: the command the chart's topic Job runs in the worker image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from transport import topics


def test_create_takes_the_config_path_and_a_bounded_wait() -> None:
    args = topics.parse_args(["create", "--config", "/etc/catmatch/config.yaml"])
    assert (args.action, args.config, args.timeout, args.partitions) == (
        "create", "/etc/catmatch/config.yaml", 60.0, None,
    )  # fmt: skip
    args = topics.parse_args(["create", "--timeout", "5", "--partitions", "3"])
    assert (args.config, args.timeout, args.partitions) == (None, 5.0, 3)


@pytest.mark.parametrize(
    "argv",
    [[], ["delete"], ["create", "--timeout", "0"], ["create", "--partitions", "0"],
     ["create", "--bogus"]],
)  # fmt: skip
def test_bad_arguments_exit_with_status_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        topics.parse_args(argv)
    assert exc.value.code == 2


def test_existing_topics_are_success_and_errors_are_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka: {bootstrap_servers: 'kafka.ns.svc:9092'}\ntopics: {partitions: 2}\n")
    seen: dict[str, Any] = {}

    def fake_ensure(conf: dict[str, Any], specs: list[Any], *, timeout: float) -> dict[str, str]:
        seen.update(conf=conf, specs=specs, timeout=timeout)
        return {s.name: "exists (2 partitions)" for s in specs}

    monkeypatch.setattr(topics, "ensure_topics", fake_ensure)
    assert topics.main(["create", "--config", str(config), "--timeout", "7"]) == 0
    assert seen["conf"]["bootstrap.servers"] == "kafka.ns.svc:9092"
    assert {s.partitions for s in seen["specs"]} == {2} and seen["timeout"] == 7.0
    assert topics.main(["create", "--config", str(tmp_path / "missing.yaml")]) == 1
