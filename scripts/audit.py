#!/usr/bin/env python3
"""Audit the pinned Python packages for known vulnerabilities, from PyPI alone.

    .venv/bin/python scripts/audit.py                  # requirements/constraints.txt
    .venv/bin/python scripts/audit.py --json           # one JSON report

Every version in ``requirements/constraints.txt`` (what the images and the tests install) is
looked up in the PyPA advisory database as PyPI publishes it in its JSON API, and in nothing
else: no OSV, no other service, so it runs wherever ``pip install`` does.

1. ``pip-audit -s pypi`` (``--no-deps --disable-pip``: the pins as they are, no resolver)
   reads each release's page, ``/pypi/<name>/<version>/json``.
2. A registry (mirror) may serve only project pages, ``/pypi/<name>/json``; pip-audit then
   reports every package as "not found". For those the project page's ``vulnerabilities``
   are read: they describe the project's latest release, so they count when the pin *is*
   that release. Any other pin is listed as not audited, never passed silently.

Findings listed in ``requirements/audit-exceptions.txt`` (``<ID> <package> <reason>``, the
reason required) are reported but allowed. Exit codes: 0 clean or all excepted; 1 a
vulnerability without an exception (or a malformed exceptions file); 2 nothing could be
audited (registry unreachable) while ``CI=true``; outside CI that case warns and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPI_JSON = os.environ.get("CATMATCH_PYPI_JSON", "https://pypi.org/pypi")
NOT_FOUND = "not found on PyPI"


@dataclass
class Finding:
    package: str
    version: str
    id: str
    aliases: list[str]
    fixed_in: list[str]
    summary: str
    exception: str | None = None  # the written-down reason, when excepted


@dataclass
class Report:
    packages: int = 0
    audited: dict[str, str] = field(default_factory=dict)  # package -> how
    not_audited: dict[str, str] = field(default_factory=dict)  # package -> why
    findings: list[Finding] = field(default_factory=list)
    stale_exceptions: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.exception is None]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """``name==version`` lines (canonical names); anything else is skipped."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+).*", line)
        if match:
            pins[canonical(match[1])] = match[2]
    return pins


def read_exceptions(path: Path) -> dict[tuple[str, str], str]:
    """``(ID, package) -> reason``; raises ``ValueError`` on a line without a reason."""
    allowed: dict[tuple[str, str], str] = {}
    if not path.exists():
        return allowed
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not text:
            continue
        parts = text.split(None, 2)
        if len(parts) < 3:
            raise ValueError(f"{path}:{number}: write '<ID> <package> <reason>'")
        allowed[(parts[0], canonical(parts[1]))] = parts[2]
    return allowed


def pip_audit(constraints: Path) -> tuple[dict[str, list[Finding]], set[str]] | None:
    """pip-audit's PyPI service: findings per package and the packages it audited; ``None``
    when pip-audit is not installed or did not produce a report."""
    command = [sys.executable, "-m", "pip_audit", "-r", str(constraints), "--no-deps",
               "--disable-pip", "-s", "pypi", "-f", "json", "--progress-spinner", "off"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        report = json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    findings: dict[str, list[Finding]] = {}
    audited: set[str] = set()
    for dep in report.get("dependencies", []):
        name = canonical(dep["name"])
        if "skip_reason" in dep:
            continue
        audited.add(name)
        findings[name] = [
            Finding(name, dep["version"], v["id"], v.get("aliases", []),
                    v.get("fix_versions", []), (v.get("description") or "")[:200])
            for v in dep.get("vulns", [])
        ]
    return findings, audited


def project_page(name: str) -> dict[str, object] | str:
    """PyPI's project JSON, or why it could not be read."""
    url = f"{PYPI_JSON}/{name}/json"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - the registry
            return dict(json.load(resp))
    except urllib.error.HTTPError as exc:
        return NOT_FOUND if exc.code == 404 else f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"unreachable ({type(exc).__name__})"


def from_project_pages(pins: dict[str, str], report: Report) -> dict[str, list[Finding]]:
    """Findings for ``pins`` from project pages, where the pin is the latest release."""
    findings: dict[str, list[Finding]] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = dict(zip(pins, pool.map(project_page, pins), strict=True))
    for name, page in pages.items():
        version = pins[name]
        if isinstance(page, str):
            report.not_audited[name] = page
            continue
        info = page.get("info")
        latest = info.get("version") if isinstance(info, dict) else None
        if latest != version:
            report.not_audited[name] = (
                f"pinned {version}; this registry describes only the latest release, {latest}")
            continue
        report.audited[name] = "PyPI project page"
        vulns = page.get("vulnerabilities") or []
        findings[name] = [
            Finding(name, version, str(v.get("id")), list(v.get("aliases") or []),
                    list(v.get("fixed_in") or []), str(v.get("summary") or v.get("details")
                                                       or "")[:200])
            for v in vulns if isinstance(v, dict) and not v.get("withdrawn")
        ]
    return findings


def audit(constraints: Path, exceptions: Path) -> Report:
    pins = read_pins(constraints)
    allowed = read_exceptions(exceptions)
    report = Report(packages=len(pins))
    by_package: dict[str, list[Finding]] = {}
    first = pip_audit(constraints)
    if first is not None:
        found, audited = first
        by_package.update(found)
        report.audited.update({name: "pip-audit (PyPI)" for name in audited})
    rest = {name: version for name, version in pins.items() if name not in report.audited}
    by_package.update(from_project_pages(rest, report))
    used: set[tuple[str, str]] = set()
    for name, findings in sorted(by_package.items()):
        for finding in findings:
            for key in [(finding.id, name)] + [(alias, name) for alias in finding.aliases]:
                if key in allowed:
                    finding.exception = allowed[key]
                    used.add(key)
                    break
            report.findings.append(finding)
    report.stale_exceptions = [f"{i} {p}" for i, p in sorted(set(allowed) - used)]
    return report


def print_report(report: Report) -> None:
    print(f"audit: {report.packages} pinned packages, {len(report.audited)} audited, "
          f"{len(report.not_audited)} not audited, {len(report.findings)} known vulnerabilities "
          f"({len(report.blocking)} without an exception)")
    for f in report.findings:
        status = f"EXCEPTED: {f.exception}" if f.exception else "NOT EXCEPTED"
        fix = ", ".join(f.fixed_in) or "no fix yet"
        print(f"  {f.package} {f.version}: {f.id} ({', '.join(f.aliases)}) fixed in {fix}; "
              f"{status}\n      {f.summary}")
    for name, why in sorted(report.not_audited.items()):
        print(f"  not audited: {name}: {why}")
    for stale in report.stale_exceptions:
        print(f"  exception no longer needed (remove it): {stale}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path,
                        default=ROOT / "requirements" / "constraints.txt")
    parser.add_argument("--exceptions", type=Path,
                        default=ROOT / "requirements" / "audit-exceptions.txt")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = audit(args.constraints, args.exceptions)
    except ValueError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**asdict(report), "blocking": len(report.blocking)}, indent=2))
    else:
        print_report(report)
    if report.blocking:
        return 1
    if not report.audited:
        ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
        print("audit: nothing could be audited (is the package registry reachable?)",
              file=sys.stderr)
        return 2 if ci else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
