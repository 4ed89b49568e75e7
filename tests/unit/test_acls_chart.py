"""The chart's KafkaUsers carry exactly the ACLs that transport/acls.py gives each role, and
KEDA logs in as the chart's KEDA user when there is one.

Rendered with helm (scripts/install_helm.sh fetches it when missing), validated against the
Strimzi KafkaUser v1beta2 schema in deploy/schemas, and compared rule by rule.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from core.settings import Settings, TopicSettings, WorkerSettings
from tests.fixtures.tools import load_script
from transport.acls import PipelineNames, as_tuples, flatten_strimzi, role_grants

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "category-match"
KAFKAUSER_SCHEMA = REPO / "deploy" / "schemas" / "kafka.strimzi.io" / "kafkauser_v1beta2.json"
SECURED = [
    "--set", "kafka.securityProtocol=SASL_SSL",
    "--set", "kafka.sasl.mechanism=SCRAM-SHA-512",
    "--set", "kafka.sasl.username=cm-worker",
    "--set", "kafka.sasl.existingSecret=cm-worker",
    "--set", "kafka.users.create=true",
    "--set", "kafka.users.keda.name=cm-keda",
    "--set", "kafka.users.producer.name=shop",
    "--set", "kafka.users.operator.name=oncall",
]


@pytest.fixture(scope="module")
def helm() -> Path:
    return Path(load_script("validate_manifests").install_helm())


def kafka_users(helm: Path, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(helm), "template", "category-match", str(CHART), "-n", "ns", *SECURED, *args],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "KafkaUser"]


CASES = {
    "defaults": ([], Settings()),
    "renamed, exactly once": (
        ["--set", "topics.input=shop.products", "--set", "topics.output=shop.labels",
         "--set", "topics.deadLetter=shop.rejects", "--set", "worker.groupId=labeller",
         "--set", "settings.worker.processing_guarantee=exactly_once"],
        Settings(
            topics=TopicSettings(input="shop.products", output="shop.labels",
                                 dead_letter="shop.rejects"),
            worker=WorkerSettings(group_id="labeller", processing_guarantee="exactly_once"),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_kafkauser_has_its_roles_acls_and_nothing_else(helm: Path, case: str) -> None:
    args, settings = CASES[case]
    names = PipelineNames.from_settings(settings)
    users = {u["metadata"]["labels"]["category-match/kafka-role"]: u
             for u in kafka_users(helm, *args)}
    assert set(users) == {"worker", "keda", "producer", "operator"}
    assert users["worker"]["metadata"]["name"] == "cm-worker"  # = kafka.sasl.username
    schema = json.loads(KAFKAUSER_SCHEMA.read_text())
    for role, user in users.items():
        jsonschema.validate(user, schema)
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        rendered = flatten_strimzi(user["spec"]["authorization"]["acls"])
        assert rendered == as_tuples(role_grants(role, names)), role  # type: ignore[arg-type]


def test_only_the_worker_user_by_default(helm: Path) -> None:
    only = ["--set", "kafka.users.keda.name=", "--set", "kafka.users.producer.name=",
            "--set", "kafka.users.operator.name="]
    users = kafka_users(helm, *only)
    assert [u["metadata"]["labels"]["category-match/kafka-role"] for u in users] == ["worker"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "kafka.sasl.mechanism=SCRAM-SHA-256"], "SCRAM-SHA-512"),
        (["--set", "kafka.users.worker.name=someone-else"], "must equal kafka.sasl.username"),
    ],
)
def test_misfit_user_values_fail_the_render(helm: Path, args: list[str], message: str) -> None:
    out = subprocess.run(
        [str(helm), "template", "x", str(CHART), *SECURED, *args],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode != 0 and message in out.stderr


# -- KEDA logs in as its own user ------------------------------------------------------------

# Both ScaledObjects: the workers' and (Standard mode) the predictor's.
KEDA_ON = ["--set", "keda.enabled=true", "--set", "predictor.deploymentMode=Standard"]


def rendered(helm: Path, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(helm), "template", "category-match", str(CHART), "-n", "ns", *SECURED, *args],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def keda_login(objs: list[dict[str, Any]]) -> tuple[str, dict[str, tuple[str, str]]]:
    """The username KEDA logs in with and each parameter's (Secret, key), after checking that
    every ScaledObject uses the one TriggerAuthentication."""
    (auth,) = [o for o in objs if o["kind"] == "TriggerAuthentication"]
    scaled = [o for o in objs if o["kind"] == "ScaledObject"]
    assert {s["metadata"]["name"] for s in scaled} == {
        "category-match-worker", "category-match-predictor"}
    for so in scaled:
        (trigger,) = so["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        assert trigger["metadata"]["sasl"] == "scram_sha512"
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    user_secret, user_key = refs["username"]
    username = (secrets[user_secret]["stringData"][user_key] if user_secret in secrets
                else f"<{user_secret}:{user_key}>")  # fmt: skip
    vm = load_script("validate_manifests")
    assert vm.check_references(objs) == [] and vm.check_sync_waves(objs) == []
    return username, refs


def test_keda_logs_in_as_the_keda_user_with_the_secret_strimzi_writes(helm: Path) -> None:
    objs = rendered(helm, *KEDA_ON)
    username, refs = keda_login(objs)
    (keda_user,) = [u for u in objs if u["kind"] == "KafkaUser"
                    and u["metadata"]["labels"]["category-match/kafka-role"] == "keda"]
    # The user operator writes the password into a Secret named like the user, key password.
    assert username == keda_user["metadata"]["name"] == "cm-keda"
    assert refs["password"] == ("cm-keda", "password")
    # Not the workers' credentials anywhere.
    assert "cm-worker" not in {name for name, _ in refs.values()} and username != "cm-worker"


def test_keda_user_wins_over_a_username_key_of_the_workers_secret(helm: Path) -> None:
    username, refs = keda_login(rendered(helm, *KEDA_ON, "--set", "kafka.sasl.usernameKey=user"))
    assert username == "cm-keda" and refs["password"] == ("cm-keda", "password")


def test_the_ca_still_comes_from_the_cluster_ca_secret(helm: Path) -> None:
    _, refs = keda_login(rendered(helm, *KEDA_ON, "--set", "kafka.tls.caSecret=cluster-ca"))
    assert refs["ca"] == ("cluster-ca", "ca.crt")
    assert refs["password"] == ("cm-keda", "password")


@pytest.mark.parametrize(
    "args",
    [
        ["--set", "kafka.users.keda.name="],  # the chart's users, but none for KEDA
        ["--set", "kafka.users.create=false"],  # a KEDA name, but no KafkaUsers from the chart
    ],
    ids=["no-keda-user", "users-not-created"],
)
def test_without_a_keda_user_keda_uses_the_workers_credentials(
    helm: Path, args: list[str]
) -> None:
    username, refs = keda_login(rendered(helm, *KEDA_ON, *args))
    assert username == "cm-worker" and refs["password"] == ("cm-worker", "password")
