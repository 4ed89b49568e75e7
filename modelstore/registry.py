"""The registry of one model: its versions, where each is deployed and the deployment history.

Pure data and rules, no I/O: :class:`~modelstore.store.ModelStore` reads it from
``<root>/<name>/registry.json``, applies one change under the model's lock and writes it back
atomically. JSON shape::

    {"schema_version": 1, "name": "category-match",
     "versions": [{"version": "v1", "created": "2026-11-26T12:00:00Z", "runtime": "transformers",
                   "metrics": {"accuracy": 0.93}, "info": {"data_hash": "..."},
                   "files": {"config.json": {"size": 812, "sha256": "..."}}}],
     "deployments": {"dev": "v1"},
     "history": [{"model": "category-match", "env": "dev", "version": "v1",
                  "previous_version": null, "action": "promote",
                  "at": "2026-11-26T12:05:00Z", "actor": "ana", "note": null}]}
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from core.names import ENV_ALIASES, ENVS, LATEST
from modelstore.errors import StoreError

SCHEMA_VERSION = 1
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
VERSION_PATTERN = re.compile(r"v?([1-9][0-9]*)")

Action = Literal["promote", "rollback"]


class FileEntry(BaseModel):
    """One file of a version, for integrity checks."""

    model_config = ConfigDict(frozen=True)

    size: int
    sha256: str


class VersionEntry(BaseModel):
    """What the registry knows about one immutable version."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    version: str
    created: AwareDatetime
    runtime: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, FileEntry] = Field(default_factory=dict)


class DeploymentEvent(BaseModel):
    """One change of the version deployed to an environment."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model: str
    env: str
    version: str
    previous_version: str | None
    action: Action
    at: AwareDatetime
    actor: str | None = None
    note: str | None = None


class Registry(BaseModel):
    """All versions of one model, the deployed version per environment, and the history."""

    model_config = ConfigDict(protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    name: str
    versions: list[VersionEntry] = Field(default_factory=list)
    deployments: dict[str, str] = Field(default_factory=dict)
    history: list[DeploymentEvent] = Field(default_factory=list)

    @classmethod
    def from_json(cls, data: bytes, source: str = "registry.json") -> Registry:
        """Parse a registry file; :class:`StoreError` when it is not one."""
        try:
            registry = cls.model_validate_json(data)
        except ValidationError as exc:
            raise StoreError(f"invalid model registry {source}: {exc.errors()[0]['msg']}") from exc
        if registry.schema_version != SCHEMA_VERSION:
            raise StoreError(
                f"{source}: registry schema {registry.schema_version} is not supported "
                f"(this catmatch reads {SCHEMA_VERSION})"
            )
        return registry

    def to_json(self) -> bytes:
        return (self.model_dump_json(indent=2) + "\n").encode()

    def version_names(self) -> list[str]:
        return [entry.version for entry in self.versions]

    def next_version(self) -> str:
        """``v1`` for the first version, then one more than the highest."""
        numbers = [version_number(v) for v in self.version_names()]
        return f"v{max(numbers, default=0) + 1}"

    def add_version(self, entry: VersionEntry) -> None:
        if entry.version in self.version_names():
            raise StoreError(f"{self.name} {entry.version} already exists")
        self.versions.append(entry)

    def entry(self, version: str) -> VersionEntry:
        """The entry of ``version`` (``v3`` or ``3``)."""
        wanted = normalize_version(version)
        for entry in self.versions:
            if entry.version == wanted:
                return entry
        known = ", ".join(self.version_names()) or "none"
        raise StoreError(f"{self.name} has no version {version} (versions: {known})")

    def resolve(self, ref: str) -> VersionEntry:
        """A version from ``v3``/``3``, ``latest``, an environment or an alias (``production``)."""
        ref = ref.strip()
        if ref == LATEST:
            if not self.versions:
                raise StoreError(f"{self.name} has no versions yet")
            return self.versions[-1]
        env = ENV_ALIASES.get(ref, ref)
        if env in ENVS:
            deployed = self.deployments.get(env)
            if deployed is None:
                raise StoreError(f"no version of {self.name} is deployed to {env}")
            return self.entry(deployed)
        if VERSION_PATTERN.fullmatch(ref) is None:
            raise StoreError(
                f"unknown version reference {ref!r}: use v<N>, <N>, latest, "
                f"{', '.join(ENVS)} or {', '.join(ENV_ALIASES)}"
            )
        return self.entry(ref)

    def events(self, env: str | None = None) -> list[DeploymentEvent]:
        """History, oldest first; only ``env``'s when given."""
        if env is None:
            return list(self.history)
        env = check_env(env)
        return [event for event in self.history if event.env == env]

    def deployment_stack(self, env: str) -> list[str]:
        """Versions an env went through, replaying the history: promote pushes, rollback pops.

        The last item is what is deployed now; the one before it is where a rollback goes.
        """
        stack: list[str] = []
        for event in self.events(env):
            if event.action == "promote":
                stack.append(event.version)
            elif stack:
                stack.pop()
        return stack

    def promote(
        self, env: str, version: str, *, actor: str | None, note: str | None
    ) -> DeploymentEvent:
        """Deploy ``version`` to ``env`` and record it."""
        env = check_env(env)
        entry = self.entry(version)
        current = self.deployments.get(env)
        if current == entry.version:
            raise StoreError(f"{self.name} {entry.version} is already deployed to {env}")
        return self._record(env, entry.version, current, "promote", actor, note)

    def rollback(self, env: str, *, actor: str | None, note: str | None) -> DeploymentEvent:
        """Go back to the version deployed before the current one in ``env``."""
        env = check_env(env)
        stack = self.deployment_stack(env)
        current = self.deployments.get(env)
        if len(stack) < 2:
            why = f"nothing was deployed before {current}" if current else "nothing is deployed"
            raise StoreError(f"cannot roll back {self.name} in {env}: {why}")
        return self._record(env, stack[-2], current, "rollback", actor, note)

    def _record(
        self,
        env: str,
        version: str,
        previous: str | None,
        action: Action,
        actor: str | None,
        note: str | None,
    ) -> DeploymentEvent:
        event = DeploymentEvent(
            model=self.name,
            env=env,
            version=version,
            previous_version=previous,
            action=action,
            at=datetime.now(UTC),
            actor=actor,
            note=note,
        )
        self.history.append(event)
        self.deployments[env] = version
        return event


def check_name(name: str) -> str:
    """Model names become directory names: lowercase letters, digits, ``.``, ``_``, ``-``."""
    if NAME_PATTERN.fullmatch(name) is None:
        raise StoreError(
            f"invalid model name {name!r}: use lowercase letters, digits, '.', '_', '-'"
        )
    return name


def check_env(env: str) -> str:
    """``dev`` or ``ops`` (``production``/``prod`` mean ``ops``)."""
    env = ENV_ALIASES.get(env, env)
    if env not in ENVS:
        raise StoreError(f"unknown environment {env!r}: use {' or '.join(ENVS)}")
    return env


def normalize_version(version: str) -> str:
    """``3`` or ``v3`` → ``v3``."""
    match = VERSION_PATTERN.fullmatch(str(version).strip())
    if match is None:
        raise StoreError(f"invalid version {version!r}: use v<N> or <N>")
    return f"v{match.group(1)}"


def version_number(version: str) -> int:
    return int(normalize_version(version)[1:])


def is_version_dir(name: str) -> bool:
    """Whether a directory name under a model is a version's (``v<N>``)."""
    return name.startswith("v") and VERSION_PATTERN.fullmatch(name) is not None
