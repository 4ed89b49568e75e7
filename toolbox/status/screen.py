"""``catmatch status``: one report (:func:`toolbox.status.report.collect_status`) as one
screen of text."""

from __future__ import annotations

from typing import Any

ROLE_NAMES = {"input": "input", "output": "results", "dead_letter": "dead letters"}


def _num(value: float | int | None, rate: bool = False) -> str:
    if value is None:
        return "-"
    if rate:
        return f"{value:,.1f}/s"
    return f"{value:,}"


def format_status(report: dict[str, Any]) -> str:
    """The report as one screen of text."""
    kafka = report["kafka"]["bootstrap_servers"]
    lines = [f"category-match status  {report['time']}  Kafka {kafka}"]
    rates = report.get("rates")
    lines.append("")
    lines.append(f"{'topic':<32} {'role':<13} {'partitions':>10} {'messages':>12} {'rate':>12}")
    for topic in report["topics"]:
        role = ROLE_NAMES.get(topic["role"], topic["role"])
        if not topic["exists"]:
            lines.append(f"{topic['name']:<32} {role:<13} {'missing (catmatch topics create)':>36}")
            continue
        lines.append(
            f"{topic['name']:<32} {role:<13} {len(topic['partitions']):>10} "
            f"{_num(topic['messages']):>12} {_num(topic['rate_per_s'], rate=True):>12}"
        )

    group, lag = report["group"], report["lag"]
    lines.append("")
    if group.get("error"):
        lines.append(f"group {group['id']}: {group['error']}")
    else:
        members = len(group["members"])
        lines.append(
            f"group {group['id']}: {group['state']}, {members} member(s)"
            + (f", {group['assignor']}" if group["assignor"] else "")
        )
    processed = _num(lag.get("processed_per_s"), rate=True)
    lines.append(f"lag on {lag['topic']}: {_num(lag['total'])} in total, processed {processed}")
    if lag["partitions"]:
        lines.append(f"  {'partition':>9} {'end':>12} {'committed':>12} {'lag':>10}  owner")
        for row in lag["partitions"]:
            lines.append(
                f"  {row['partition']:>9} {_num(row['end']):>12} {_num(row['committed']):>12} "
                f"{_num(row['lag']):>10}  {row['owner'] or '(unassigned)'}"
            )
    for member in group["members"]:
        assigned = ", ".join(f"{p['topic']}/{p['partition']}" for p in member["partitions"])
        lines.append(f"  member {member['name']} on {member['host']}: {assigned or 'nothing'}")

    dead = report.get("dead_letters")
    lines.append("")
    if dead is None:
        lines.append("dead letters: not read (--no-dlq)")
    elif dead.get("error"):
        lines.append(f"dead letters in {dead['topic']}: {dead['error']}")
    else:
        classes = "  ".join(f"{name} {count:,}" for name, count in dead["by_class"].items())
        suffix = f"  ({classes})" if classes else ""
        lines.append(f"dead letters in {dead['topic']}: {dead['total']:,}{suffix}")

    pred = report["predictor"]
    version = pred.get("live_version")
    if version:
        shown = f"live version {version} (from {pred['version_source']})"
    else:
        shown = "live version unknown"
    status = f" HTTP {pred['http_status']}" if pred.get("http_status") not in (None, 200) else ""
    lines.append(f"predictor {pred['url']} model {pred['model']}: {pred['state']}{status}, {shown}")
    if pred.get("error"):
        lines.append(f"  {pred['error']}")
    if rates:
        lines.append("")
        lines.append(f"rates: {rates['method']}, {rates['interval_s']:g} s apart")
    return "\n".join(lines)
