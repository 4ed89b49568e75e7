"""Find Java and Maven, and resolve the Apache Kafka jars from Maven Central.

The jars are resolved once per Kafka version into ``<jars_dir>/<version>/libs`` with
``mvn dependency:copy-dependencies`` on the pinned ``pom.xml`` next to this module. The
resolution runs in a temporary folder that is renamed into place only after it succeeded,
and a marker file records which pom it came from, so an interrupted run leaves nothing
half-written and a changed pom resolves again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from transport.errors import BrokerError

if TYPE_CHECKING:
    from core.settings import BrokerSettings

log = logging.getLogger(__name__)

POM_PATH = Path(__file__).with_name("pom.xml")
LOG4J2_PATH = Path(__file__).with_name("log4j2.xml")
MARKER_NAME = ".resolved.json"
MIN_JAVA = 17
JAVA_PACKAGE = "openjdk-17-jre-headless"
MAVEN_PACKAGE = "maven"
RESOLVE_TIMEOUT_S = 900.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_java_version(text: str) -> int | None:
    """Major version from ``java -version`` output (``"17.0.15"`` → 17, ``"1.8.0_292"`` → 8)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def _which_java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


def _java_version(java: str) -> int | None:
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_version(proc.stderr + proc.stdout)


def check_tools(*, need_mvn: bool) -> str:
    """Check that Java 17+ (and Maven, if needed) are installed.

    Returns:
        The path of the ``java`` executable.

    Raises:
        BrokerError: one line naming what to install.
    """
    java = _which_java()
    mvn = shutil.which("mvn") if need_mvn else "unused"
    missing = []
    if java is None:
        missing.append(("java (17+)", JAVA_PACKAGE))
    if mvn is None:
        missing.append(("mvn (Apache Maven)", MAVEN_PACKAGE))
    if missing:
        what = " and ".join(name for name, _ in missing)
        packages = " ".join(package for _, package in missing)
        raise BrokerError(
            f"{what} not found: the embedded Kafka broker needs them; "
            f"install e.g. `apt-get install {packages}`"
        )
    assert java is not None
    version = _java_version(java)
    if version is None:
        raise BrokerError(
            f"cannot tell the version of {java}: Kafka needs Java {MIN_JAVA}+; "
            f"install e.g. `apt-get install {JAVA_PACKAGE}`"
        )
    if version < MIN_JAVA:
        raise BrokerError(
            f"{java} is Java {version} but Kafka 4 needs Java {MIN_JAVA}+; "
            f"install e.g. `apt-get install {JAVA_PACKAGE}` (or set JAVA_HOME)"
        )
    return java


def libs_dir(broker: BrokerSettings) -> Path:
    """Where the jars of ``broker.kafka_version`` live once resolved."""
    return Path(broker.jars_dir).expanduser() / broker.kafka_version / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(POM_PATH.read_bytes()).hexdigest()


def _marker_ok(version_dir: Path, version: str, digest: str) -> bool:
    try:
        marker = json.loads((version_dir / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    return bool(marker.get("kafka_version") == version and marker.get("pom_sha256") == digest)


def is_resolved(broker: BrokerSettings) -> bool:
    """Whether the jars are already resolved (no Maven needed)."""
    return _marker_ok(libs_dir(broker).parent, broker.kafka_version, _pom_digest())


def ensure_jars(broker: BrokerSettings, *, timeout: float = RESOLVE_TIMEOUT_S) -> Path:
    """Resolve the Kafka jars unless already done; returns the ``libs`` folder.

    Raises:
        BrokerError: Maven or Java missing, or Maven failed (its last error line is shown).
    """
    target = libs_dir(broker)
    version_dir = target.parent
    digest = _pom_digest()
    if _marker_ok(version_dir, broker.kafka_version, digest):
        return target
    check_tools(need_mvn=True)
    version_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(version_dir.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be resolving the same version
        if _marker_ok(version_dir, broker.kafka_version, digest):
            return target
        _resolve(broker.kafka_version, version_dir, digest, timeout)
    return target


def _resolve(version: str, version_dir: Path, digest: str, timeout: float) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=version_dir.parent))
    try:
        started = time.monotonic()
        log.info("resolving Apache Kafka %s jars from Maven Central into %s", version, version_dir)
        _run_mvn(version, staging / "libs", timeout)
        jar = staging / "libs" / f"kafka_2.13-{version}.jar"
        if not jar.is_file():
            raise BrokerError(f"Maven finished but {jar.name} is missing: check {POM_PATH}")
        marker = {"kafka_version": version, "pom_sha256": digest, "resolved_at": time.time()}
        (staging / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n")
        if version_dir.exists():  # a stale or incomplete copy (no marker, other pom)
            shutil.rmtree(version_dir)
        staging.rename(version_dir)
        log.info("resolved Kafka %s jars in %.1f s", version, time.monotonic() - started)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _run_mvn(version: str, output_dir: Path, timeout: float) -> None:
    mvn = shutil.which("mvn") or "mvn"
    cmd = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(POM_PATH),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
        "-DincludeScope=runtime",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(
            f"Maven did not finish resolving the Kafka {version} jars within {timeout:.0f} s "
            "(is Maven Central reachable?)"
        ) from exc
    if proc.returncode != 0:
        output = _ANSI.sub("", proc.stdout + proc.stderr)
        log.error("mvn output:\n%s", output)
        errors = [
            line for line in output.splitlines() if line.startswith("[ERROR]") and line[7:].strip()
        ]
        reason = errors[0][7:].strip() if errors else f"exit status {proc.returncode}"
        raise BrokerError(f"Maven could not resolve the Kafka {version} jars: {reason}")
