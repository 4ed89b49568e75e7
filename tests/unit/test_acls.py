"""transport.acls: the roles' grants, their renderings, and ``catmatch acls print``."""

from __future__ import annotations

import pytest
import yaml
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from catmatch import cli
from core.settings import Settings, WorkerSettings
from transport.acls import (
    ROLES,
    PipelineNames,
    as_tuples,
    flatten_strimzi,
    principal_of,
    role_grants,
    strimzi_acls,
)

NAMES = PipelineNames("in", "out", "dlq", "g")


def test_the_worker_reads_the_input_and_writes_the_outputs_only() -> None:
    grants = as_tuples(role_grants("worker", NAMES))
    assert grants == {
        ("topic", "in", "literal", "Read"),
        ("group", "g", "literal", "Read"),
        ("topic", "out", "literal", "Write"),
        ("topic", "dlq", "literal", "Write"),
        ("topic", "out", "literal", "DescribeConfigs"),
        ("topic", "dlq", "literal", "DescribeConfigs"),
    }
    eos = as_tuples(role_grants("worker", PipelineNames("in", "out", "dlq", "g", True)))
    assert eos - grants == {("transactionalId", "g-", "prefix", "Write"),
                            ("transactionalId", "g-", "prefix", "Describe")}


def test_no_role_gets_anything_cluster_wide_or_all() -> None:
    for role in ROLES:
        for grant in role_grants(role, NAMES):
            assert grant.resource != "cluster" and grant.why
    assert as_tuples(role_grants("producer", NAMES)) == {("topic", "in", "literal", "Write")}
    keda = as_tuples(role_grants("keda", NAMES))
    assert {op for *_, op in keda} == {"Describe"}


def test_names_come_from_the_settings() -> None:
    settings = Settings(worker=WorkerSettings(group_id="lab", processing_guarantee="exactly_once"))
    names = PipelineNames.from_settings(settings)
    assert (names.input, names.group, names.transactional_prefix) == (
        "category-match-in", "lab", "lab-")
    assert names.exactly_once


@pytest.mark.parametrize("role", ROLES)
def test_strimzi_rendering_round_trips(role) -> None:
    grants = role_grants(role, PipelineNames("in", "out", "dlq", "g", True))
    acls = strimzi_acls(grants)
    assert flatten_strimzi(acls) == as_tuples(grants)
    assert len({(a["resource"]["type"], a["resource"]["name"]) for a in acls}) == len(acls)


def test_a_grant_is_a_kafka_acl_binding() -> None:
    binding = role_grants("worker", PipelineNames("in", "out", "dlq", "g", True))[-1].binding(
        principal_of("svc"))
    assert binding.principal == "User:svc" and binding.host == "*"
    assert binding.restype == ResourceType.TRANSACTIONAL_ID
    assert binding.resource_pattern_type == ResourcePatternType.PREFIXED
    assert binding.operation == AclOperation.DESCRIBE
    assert principal_of("User:x") == "User:x"


def test_catmatch_acls_print(capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("catmatch.commands.acls",))
    assert cli.main(["acls", "print", "--role", "producer", "--principal", "shop"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("User:shop  allow  topic  category-match-in  literal  Write")
    assert cli.main(["acls", "print", "--role", "keda", "--format", "strimzi"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["authorization"]["type"] == "simple"
    assert cli.main(["acls", "apply", "--role", "all", "--principal", "x"]) == 2
