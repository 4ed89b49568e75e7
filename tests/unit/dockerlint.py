"""A small Dockerfile linter (hadolint is not obtainable here): parse, then check our rules.

Rules (each returns messages; empty means clean):
- every base image is pinned by digest (``@sha256:``), directly or through an ARG default;
- no ``:latest``, no ``ADD`` of URLs;
- every ``pip install`` is constrained by ``requirements/constraints.txt``;
- ``apt-get install`` uses ``--no-install-recommends`` and removes the package lists;
- the stages that are images (the last one, and any named ``store``) run as a numeric
  non-root USER, set in the stage or in the stage it derives from;
- ``ENTRYPOINT``/``CMD`` in exec (JSON) form; every ``COPY`` source exists in the context.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_STAGES = {"store"}


@dataclass
class Stage:
    name: str | None
    base: str
    steps: list[tuple[str, str]] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (m.group(1).upper(), m.group(2).strip())
        for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)
    ]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, in order."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for kind, arg in instructions(text):
        if kind == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", arg, re.I)
            assert m, arg
            stages.append(Stage(m.group(2), m.group(1)))
        elif stages:
            stages[-1].steps.append((kind, arg))
        if kind == "ARG" and "=" in arg:
            key, _, value = arg.partition("=")
            args.setdefault(key.strip(), value.strip().strip('"'))
    return args, stages


def lint(path: Path, context: Path) -> list[str]:
    text = path.read_text()
    args, stages = parse(text)
    names = {s.name for s in stages if s.name}
    errors: list[str] = []

    def expand(value: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), value)

    for stage in stages:
        base = expand(stage.base)
        if base not in names and "@sha256:" not in base:
            errors.append(f"FROM {stage.base} ({base}) is not pinned by digest")
        if re.search(r":latest(\b|@|$)", base):
            errors.append(f"FROM {base} uses :latest")
        for kind, arg in stage.steps:
            if kind == "ADD" and re.search(r"https?://", arg):
                errors.append(f"ADD of a URL: {arg}")
            if kind == "RUN":
                for cmd in re.split(r"&&|;", arg):
                    if "pip install" in cmd and "-c requirements/constraints.txt" not in cmd:
                        errors.append(f"pip install without the constraints: {cmd.strip()}")
                if "apt-get install" in arg and "--no-install-recommends" not in arg:
                    errors.append("apt-get install without --no-install-recommends")
                if "apt-get install" in arg and "rm -rf /var/lib/apt/lists" not in arg:
                    errors.append("apt-get install without removing /var/lib/apt/lists")
            if kind in ("ENTRYPOINT", "CMD"):
                try:
                    json.loads(arg)
                except ValueError:
                    errors.append(f"{kind} not in exec (JSON) form: {arg}")
            if kind == "COPY" and not arg.startswith("--from"):
                for src in arg.split()[:-1]:
                    if src.startswith("--") or "${" in src:
                        continue
                    if not (context / src).exists():
                        errors.append(f"COPY source {src} missing")
    by_name = {s.name: s for s in stages if s.name}

    def user(stage: Stage) -> str | None:
        found = [a for k, a in stage.steps if k == "USER"]
        if found:
            return found[-1]
        parent = by_name.get(stage.base)
        return user(parent) if parent is not None else None

    for stage in stages:
        if stage is not stages[-1] and stage.name not in IMAGE_STAGES:
            continue
        who = user(stage)
        if who is None or not re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", who):
            errors.append(f"stage {stage.name or 'final'} runs as {who or 'root'}")
    return errors
