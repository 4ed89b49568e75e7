"""Least privilege, written once: the ACLs each client role of the pipeline needs.

:func:`role_grants` is the single source of truth. It is rendered three ways: Kafka
``AclBinding``s applied through the admin API (``catmatch acls apply``), the ``acls`` of a
Strimzi ``KafkaUser`` (:func:`strimzi_acls`; the chart writes the same set, and
``tests/unit/test_acls_chart.py`` renders the chart to compare), and the table in
docs/SECURITY.md (:func:`markdown_table`, compared by a test).

Roles, and the calls each grant is for:

- ``worker``: consumes the input topic in its consumer group (Read on both; Read implies
  Describe, which the committed-offset and watermark requests need), produces results and
  dead letters (Write on both output topics; Write also lets the idempotent producer get a
  producer id, so no cluster-wide IdempotentWrite), reads the output topics'
  ``max.message.bytes`` at start (DescribeConfigs on both); under ``exactly_once`` also
  Write and Describe on the transactional ids ``<group>-*`` (one per worker slot);
- ``producer``: writes the input topic, nothing else (``catmatch produce``, a shop);
- ``operator``: ``catmatch status``, ``topics describe``, ``dlq stats`` and ``dlq replay``:
  Describe on the input and output topics (partitions, offsets), Read on the dead-letter
  topic, Write on the input topic (replay), Describe on the worker group (members, lag);
- ``keda``: the lag scaler reads the group's committed offsets and the input topic's end
  offsets: Describe on both;
- ``reader``: downstream consumers of the results, and ``catmatch tail``: Read on the
  output topic (a consumer that joins a group of its own also needs Read on that group;
  ``catmatch tail`` assigns its partitions and uses none);
- ``topics``: ``catmatch topics create`` / ``python -m transport.topics create`` (the
  bootstrap Job): Create and Describe on the three topics by name.

Names follow Strimzi's spelling (resource ``topic``, ``group``, ``transactionalId``,
``cluster``; pattern ``literal`` or ``prefix``; operations ``Read``, ``DescribeConfigs``...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from core.settings import Settings
from transport.admin import admin_client
from transport.errors import TransportError

Role = Literal["worker", "producer", "operator", "keda", "reader", "topics"]
ROLES: tuple[Role, ...] = ("worker", "producer", "operator", "keda", "reader", "topics")
Resource = Literal["topic", "group", "transactionalId", "cluster"]
Pattern = Literal["literal", "prefix"]
Operation = Literal["Read", "Write", "Create", "Describe", "DescribeConfigs"]

_RESOURCE_TYPES: dict[str, ResourceType] = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactionalId": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,  # librdkafka's name for the cluster resource
}
_PATTERNS: dict[str, ResourcePatternType] = {
    "literal": ResourcePatternType.LITERAL,
    "prefix": ResourcePatternType.PREFIXED,
}
_OPERATIONS: dict[str, AclOperation] = {
    "Read": AclOperation.READ,
    "Write": AclOperation.WRITE,
    "Create": AclOperation.CREATE,
    "Describe": AclOperation.DESCRIBE,
    "DescribeConfigs": AclOperation.DESCRIBE_CONFIGS,
}


@dataclass(frozen=True, order=True)
class Grant:
    """One allowed operation on one resource (a name, or a name prefix)."""

    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation
    why: str = field(default="", compare=False)

    def binding(self, principal: str, host: str = "*") -> AclBinding:
        """This grant as a Kafka ACL for ``principal`` (``User:<name>``)."""
        return AclBinding(
            _RESOURCE_TYPES[self.resource], self.name, _PATTERNS[self.pattern], principal,
            host, _OPERATIONS[self.operation], AclPermissionType.ALLOW,
        )


@dataclass(frozen=True)
class PipelineNames:
    """The names the grants are about."""

    input: str
    output: str
    dead_letter: str
    group: str
    exactly_once: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineNames:
        return cls(
            input=settings.topics.input,
            output=settings.topics.output,
            dead_letter=settings.topics.dead_letter,
            group=settings.worker.group_id,
            exactly_once=settings.worker.processing_guarantee == "exactly_once",
        )

    @property
    def transactional_prefix(self) -> str:
        """Every worker's ``transactional.id`` starts so (``worker.delivery``)."""
        return f"{self.group}-"


def role_grants(role: Role, names: PipelineNames) -> list[Grant]:
    """What ``role`` needs, in a stable order (see the module docstring for why)."""
    t = names
    if role == "worker":
        grants = [
            Grant("topic", t.input, "literal", "Read", "consume the input"),
            Grant("group", t.group, "literal", "Read", "join the group, commit offsets"),
            Grant("topic", t.output, "literal", "Write", "produce results"),
            Grant("topic", t.dead_letter, "literal", "Write", "produce dead letters"),
            Grant("topic", t.output, "literal", "DescribeConfigs",
                  "read max.message.bytes at start"),
            Grant("topic", t.dead_letter, "literal", "DescribeConfigs",
                  "read max.message.bytes at start"),
        ]
        if t.exactly_once:
            grants += [
                Grant("transactionalId", t.transactional_prefix, "prefix", "Write",
                      "transactions (exactly_once)"),
                Grant("transactionalId", t.transactional_prefix, "prefix", "Describe",
                      "transactions (exactly_once)"),
            ]
        return grants
    if role == "producer":
        return [Grant("topic", t.input, "literal", "Write", "produce products")]
    if role == "operator":
        return [
            Grant("topic", t.input, "literal", "Describe", "partitions and offsets"),
            Grant("topic", t.output, "literal", "Describe", "partitions and offsets"),
            Grant("topic", t.dead_letter, "literal", "Read", "dlq stats, dlq replay"),
            Grant("topic", t.input, "literal", "Write", "dlq replay"),
            Grant("group", t.group, "literal", "Describe", "members, committed offsets, lag"),
        ]
    if role == "keda":
        return [
            Grant("topic", t.input, "literal", "Describe", "partitions and end offsets"),
            Grant("group", t.group, "literal", "Describe", "committed offsets"),
        ]
    if role == "reader":
        return [Grant("topic", t.output, "literal", "Read", "read the results")]
    if role == "topics":
        return [
            grant
            for name in (t.input, t.output, t.dead_letter)
            for grant in (
                Grant("topic", name, "literal", "Create", "create the topic"),
                Grant("topic", name, "literal", "Describe", "see whether it exists"),
            )
        ]
    raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")


def principal_of(user: str) -> str:
    """``User:<name>`` for a user name (a principal is passed through)."""
    return user if ":" in user else f"User:{user}"


# -- renderings ---------------------------------------------------------------------------


def strimzi_acls(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    """``spec.authorization.acls`` of a Strimzi ``KafkaUser`` (v1beta2): one rule per
    resource, its operations sorted."""
    rules: dict[tuple[str, str, str], set[str]] = {}
    for grant in grants:
        rules.setdefault((grant.resource, grant.name, grant.pattern), set()).add(grant.operation)
    out = []
    for (resource, name, pattern), operations in sorted(rules.items()):
        target: dict[str, Any] = {"type": resource}
        if resource != "cluster":
            target |= {"name": name, "patternType": pattern}
        out.append({"resource": target, "operations": sorted(operations), "host": "*",
                    "type": "allow"})
    return out


def flatten_strimzi(acls: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str, str]]:
    """``(resource, name, pattern, operation)`` of every allowed operation in Strimzi rules
    (the inverse of :func:`strimzi_acls`, for comparisons)."""
    out = set()
    for rule in acls:
        if rule.get("type", "allow") != "allow":
            continue
        res = rule["resource"]
        operations = rule.get("operations") or [rule["operation"]]
        for operation in operations:
            out.add((res["type"], res.get("name", "kafka-cluster"),
                     res.get("patternType", "literal"), operation))
    return out


def as_tuples(grants: Iterable[Grant]) -> set[tuple[str, str, str, str]]:
    return {(g.resource, g.name if g.resource != "cluster" else "kafka-cluster", g.pattern,
             g.operation) for g in grants}


def markdown_table(roles: Sequence[Role], names: PipelineNames) -> str:
    """The grants of ``roles`` as a Markdown table (docs/SECURITY.md)."""
    lines = ["| role | resource | name | pattern | operation | for |",
             "| --- | --- | --- | --- | --- | --- |"]
    for role in roles:
        for g in role_grants(role, names):
            lines.append(f"| {role} | {g.resource} | `{g.name}` | {g.pattern} | "
                         f"{g.operation} | {g.why} |")
    return "\n".join(lines)


def text_table(grants: Sequence[Grant], principal: str) -> str:
    """The grants as aligned text lines (``catmatch acls print``)."""
    rows = [(g.resource, g.name, g.pattern, g.operation, g.why) for g in grants]
    widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else [0] * 4
    return "\n".join(
        f"{principal}  allow  " + "  ".join(r[i].ljust(widths[i]) for i in range(4))
        + f"  # {r[4]}"
        for r in rows
    )


# -- applying -----------------------------------------------------------------------------


def apply_grants(
    admin_conf: Mapping[str, Any], grants: Sequence[Grant], principal: str,
    *, timeout: float = 10.0,
) -> int:
    """Create the ACLs of ``grants`` for ``principal`` (existing ones are left as they are).

    Returns:
        How many bindings were sent.

    Raises:
        TransportError: the cluster refused one (e.g. the caller may not alter ACLs).
    """
    bindings = [g.binding(principal) for g in grants]
    if not bindings:
        return 0
    admin = admin_client(admin_conf)
    futures = admin.create_acls(bindings, request_timeout=timeout)
    for binding, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            raise TransportError(
                f"cannot create ACL {binding}: {exc.args[0].str()}"
            ) from None
    return len(bindings)


def revoke_grants(
    admin_conf: Mapping[str, Any], grants: Sequence[Grant], principal: str,
    *, timeout: float = 10.0,
) -> int:
    """Delete the ACLs of ``grants`` for ``principal``; returns how many were deleted."""
    filters = [
        AclBindingFilter(
            _RESOURCE_TYPES[g.resource], g.name, _PATTERNS[g.pattern], principal, "*",
            _OPERATIONS[g.operation], AclPermissionType.ALLOW,
        )
        for g in grants
    ]
    if not filters:
        return 0
    admin = admin_client(admin_conf)
    futures = admin.delete_acls(filters, request_timeout=timeout)
    deleted = 0
    for acl_filter, future in futures.items():
        try:
            deleted += len(future.result(timeout=timeout))
        except KafkaException as exc:
            raise TransportError(
                f"cannot delete ACL {acl_filter}: {exc.args[0].str()}"
            ) from None
    return deleted
