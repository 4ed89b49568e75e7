"""Alerts and dashboard: generated from the chart, tested with promtool, only real metrics.

- The plain rule file ``deploy/prometheus/category-match-rules.yaml`` is what
  ``scripts/render_rules.py`` renders from the chart's PrometheusRule template (no stale copy).
- ``promtool check rules`` and ``promtool test rules`` pass (synthetic series: every alert
  fires when it should and stays silent when it should not); every dashboard query parses.
- Every metric name in an alert or a dashboard query is exported by our code (the worker's
  real registry, the predictor's) or listed in ``EXTERNAL_METRICS`` (documented in
  docs/METRICS.md), and used as its kind: counters through rate()/increase(), histogram
  buckets under histogram_quantile(rate()), gauges never through rate().
- The rendered PrometheusRule passes its schema (deploy/schemas); every alert has a runbook
  section in docs/OPERATIONS.md (the anchors runbook_url links to) and a row in METRICS.md.

promtool comes from Debian's ``prometheus`` package (scripts/bootstrap.sh installs it when
root); without it those tests are skipped, except under CI where they fail. helm comes from
scripts/install_helm.sh, as in test_manifests.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.fixtures.tools import installed, load_script
from worker.metrics import METRICS

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "category-match"
RULES = REPO / "deploy" / "prometheus" / "category-match-rules.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "category-match-rules.test.yaml"
DASHBOARD = CHART / "dashboards" / "category-match.json"
METRICS_DOC = REPO / "docs" / "METRICS.md"
OPERATIONS_DOC = REPO / "docs" / "OPERATIONS.md"

# Metrics that alerts or the dashboard use but our code does not export, with their source
# and kind (see sample_kinds). Each is documented in docs/METRICS.md (section "Alerts and
# dashboard: metrics from elsewhere").
EXTERNAL_METRICS: dict[str, tuple[str, str]] = {
    # kube-state-metrics: CatmatchWorkerRestarting, the restarts panel.
    "kube_pod_container_status_restarts_total": ("kube-state-metrics", "counter"),
    # Strimzi's Kafka Exporter / kafka_exporter: CatmatchConsumerLagGrowing, the lag panel.
    "kafka_consumergroup_lag": ("Kafka exporter", "gauge"),
    # KServe's model server (kserve/metrics.py), on the predictor's /metrics.
    **{
        f"request_{step}_seconds_{suffix}": ("KServe model server", kind)
        for step in ("preprocess", "predict", "postprocess", "explain")
        for suffix, kind in (
            ("bucket", "bucket"),
            ("count", "counter"),
            ("sum", "counter"),
            ("created", "gauge"),
        )
    },  # fmt: skip
}


# -- metric names from the code ---------------------------------------------------------------


def exported_names(families: Iterable[Any]) -> set[str]:
    """Sample names of metric families as Prometheus sees them (suffixes included)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "stateset": ("",),
        "info": ("_info",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
        "summary": ("", "_count", "_sum", "_created"),
        "unknown": ("",),
    }
    names: set[str] = set()
    for family in families:
        names |= {family.name + s for s in suffixes[family.type]}
        names |= {sample.name for sample in family.samples}
    return names


def sample_kinds(families: Iterable[Any]) -> dict[str, str]:
    """How PromQL must read each sample name: a counter's ``_total``
    and a histogram's ``_count``/``_sum`` are counters, its ``_bucket`` buckets, the rest
    (gauges, enums, infos, ``_created`` timestamps) gauges."""
    kinds: dict[str, str] = {}
    for family in families:
        if family.type == "counter":
            kinds |= {family.name + "_total": "counter", family.name + "_created": "gauge"}
        elif family.type == "histogram":
            kinds |= {family.name + "_bucket": "bucket", family.name + "_created": "gauge"}
            kinds |= {family.name + "_count": "counter", family.name + "_sum": "counter"}
        elif family.type == "summary":
            kinds |= {family.name + "_count": "counter", family.name + "_sum": "counter"}
            kinds |= {family.name: "gauge", family.name + "_created": "gauge"}
        else:  # gauge, stateset (Enum), info, unknown
            kinds |= {name: "gauge" for name in exported_names([family])}
    return kinds


def worker_metric_kinds() -> dict[str, str]:
    """Everything the worker's real registry (worker.metrics.METRICS) exports, by kind."""
    return sample_kinds(METRICS.registry.collect())


def predictor_metric_kinds() -> dict[str, str]:
    """The predictor's own metrics (predictor/live.py; imports no torch or kserve)."""
    from prometheus_client.metrics import MetricWrapperBase

    from predictor import live

    metrics = [m for m in vars(live).values() if isinstance(m, MetricWrapperBase)]
    assert metrics, "predictor.live defines no metrics"
    return sample_kinds(f for m in metrics for f in m.collect())


def worker_metric_names() -> set[str]:
    return set(worker_metric_kinds())


def predictor_metric_names() -> set[str]:
    return set(predictor_metric_kinds())


def known_metric_kinds() -> dict[str, str]:
    """Every metric name an alert or the dashboard may use, with its kind."""
    external = {name: kind for name, (_, kind) in EXTERNAL_METRICS.items()}
    return worker_metric_kinds() | predictor_metric_kinds() | external


# -- PromQL: the metric names an expression selects ---------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?
               (?:(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE,
)
# The aggregation operators (``sum by (x) (...)`` has no "(" right after ``sum``).
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
# Words that are never metric names outside label matchers: PromQL's keywords.
_KEYWORDS = {
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan",
} | _AGGREGATIONS  # fmt: skip
# Keywords followed by a parenthesised label list.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Grafana's variables, replaced by something of the same kind before parsing.
_GRAFANA_DURATIONS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


class PromQLSyntaxError(ValueError):
    pass


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise PromQLSyntaxError(f"unexpected {expr[pos : pos + 20]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def grafana_to_promql(expr: str) -> str:
    """A dashboard query as plain PromQL: durations for $__rate_interval & co., ``x`` for
    other variables (they only appear inside label matcher strings here)."""
    for name, value in _GRAFANA_DURATIONS.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?\w+\}?", "x", expr)


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects: bare names and ``{__name__="..."}`` matchers."""
    return {name for name, _ in selector_contexts(expr)}


def selector_contexts(expr: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each metric name ``expr`` selects, with the functions and aggregations around it
    (outermost first; ``""`` for plain parentheses).

    Not a whole PromQL parser (promtool checks the syntax); it walks the tokens: names
    followed by ``(`` are functions or aggregations, keywords are skipped with the label
    lists after ``by``/``on``/..., and inside ``{...}`` only a ``__name__`` matcher counts.
    """
    tokens = tokenize(expr)
    found: list[tuple[str, tuple[str, ...]]] = []
    stack: list[str] = []
    pending = ""  # the function or aggregation whose "(" comes next
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if text == "{":
            names: list[str] = []
            i = _matchers(tokens, i + 1, names, expr)
            found += [(name, tuple(stack)) for name in names]
            continue
        if text == "[":  # a range or subquery: durations only, e.g. [10m:1m]
            i = _skip_range(tokens, i + 1, expr)
            continue
        if text == "(":
            stack.append(pending)
            pending = ""
        elif text == ")":
            if not stack:
                raise PromQLSyntaxError(f"unbalanced brackets in {expr!r}")
            stack.pop()
        elif text == "]":
            raise PromQLSyntaxError(f"unbalanced brackets in {expr!r}")
        elif kind == "ident":
            word = text.lower()
            if word in _LABEL_LISTS and nxt == "(":
                i = _skip_group(tokens, i + 1, expr)
                continue
            if word in _AGGREGATIONS or (word not in _KEYWORDS and nxt == "("):
                pending = word
            elif word not in _KEYWORDS:
                found.append((text, tuple(stack)))
        i += 1
    if stack:
        raise PromQLSyntaxError(f"unbalanced brackets in {expr!r}")
    return found


# How PromQL may read each kind of sample: counters only through a per-second rate or an
# increase; histogram buckets only so, under histogram_quantile; gauges never so.
COUNTER_FUNCTIONS = {"rate", "irate", "increase", "resets"}
# Functions that only look at which series exist, not at their values: fine for any kind.
ANY_KIND = {"count", "group", "absent", "absent_over_time", "present_over_time", "timestamp"}


def kind_misuses(expr: str, kinds: dict[str, str]) -> list[str]:
    """What ``expr`` does with a metric that its kind does not allow (unknown names: none)."""
    problems = []
    for name, stack in selector_contexts(expr):
        kind = kinds.get(name)
        inner = next((f for f in reversed(stack) if f), "")
        if kind == "counter" and inner not in COUNTER_FUNCTIONS | ANY_KIND:
            problems.append(f"counter {name} outside rate()/increase() (in {inner or 'nothing'})")
        elif kind == "bucket" and (
            inner not in COUNTER_FUNCTIONS - {"resets"} or "histogram_quantile" not in stack
        ):
            problems.append(f"histogram buckets {name} outside histogram_quantile(rate())")
        elif kind == "gauge" and COUNTER_FUNCTIONS & set(stack):
            problems.append(f"gauge {name} in {'/'.join(COUNTER_FUNCTIONS & set(stack))}()")
    return problems


def _skip_range(tokens: list[tuple[str, str]], start: int, expr: str) -> int:
    """Index after the ``]`` closing a range or subquery that starts at ``start``."""
    for j in range(start, len(tokens)):
        if tokens[j][1] == "]":
            return j + 1
        if tokens[j][1] in "([{":
            break
    raise PromQLSyntaxError(f"bad range in {expr!r}")


def _skip_group(tokens: list[tuple[str, str]], start: int, expr: str) -> int:
    """Index after the ``( ... )`` that starts at ``start`` (a label list)."""
    for j in range(start + 1, len(tokens)):
        if tokens[j][1] == ")":
            return j + 1
        if tokens[j][0] not in ("ident", "op", "string") or tokens[j][1] in "({[":
            break
    raise PromQLSyntaxError(f"bad label list in {expr!r}")


def _matchers(tokens: list[tuple[str, str]], start: int, names: list[str], expr: str) -> int:
    """Read ``label op "value", ...}`` from ``start``; returns the index after ``}``."""
    j = start
    while j < len(tokens) and tokens[j][1] != "}":
        if tokens[j][1] == ",":
            j += 1
            continue
        if j + 2 >= len(tokens):
            break
        (lk, label), (_, op), (vk, value) = tokens[j : j + 3]
        if lk != "ident" or op not in ("=", "!=", "=~", "!~") or vk != "string":
            raise PromQLSyntaxError(f"bad label matcher {label}{op}{value} in {expr!r}")
        if label == "__name__" and op == "=":
            names.append(value[1:-1])
        j += 3
    if j >= len(tokens):
        raise PromQLSyntaxError(f"unclosed label matchers in {expr!r}")
    return j + 1


# -- what the alerts and the dashboard query ----------------------------------------------------


def rule_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return data


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in rule_file()["groups"] for r in g["rules"] if "alert" in r]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out += panel.get("panels", [])  # collapsed rows keep theirs inside
    return out


def dashboard_queries() -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every panel target and every query variable."""
    queries = [
        (f"panel {p['title']!r} {t['refId']}", t["expr"])
        for p in dashboard_panels()
        for t in p.get("targets", [])
    ]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            assert match, f"variable {var['name']}: only label_values(selector, label) here"
            queries.append((f"variable {var['name']}", match[1]))
    return queries


# -- tools --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def render_rules() -> ModuleType:
    """scripts/render_rules.py as a module."""
    return load_script("render_rules")


@pytest.fixture(scope="module")
def validate_manifests() -> ModuleType:
    """scripts/validate_manifests.py as a module (its schema checks)."""
    return load_script("validate_manifests")


@pytest.fixture(scope="module")
def helm(render_rules: ModuleType) -> Path:
    path: Path = render_rules.install_helm()
    return path


def tool(name: str) -> str:
    """Path of a Prometheus binary (Debian's prometheus package)."""
    return installed(name, "apt-get install prometheus")


@pytest.fixture(scope="module")
def promtool() -> str:
    return tool("promtool")


def run_promtool(promtool: str, *args: str, cwd: Path | None = None) -> str:
    out = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def render(helm: Path, *args: str, namespace: str = "shop") -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(helm), "template", "category-match", str(CHART), "-n", namespace, *args],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


# -- the rule file is the chart's ----------------------------------------------------------------


def test_rule_file_is_rendered_from_the_chart(render_rules: ModuleType, helm: Path) -> None:
    expected = render_rules.rule_file_text(render_rules.render_groups(helm))
    assert RULES.read_text() == expected, "stale: run python scripts/render_rules.py"
    assert RULES.read_text().startswith("# GENERATED by scripts/render_rules.py")


def test_promtool_checks_and_unit_tests_the_rules(promtool: str) -> None:
    out = run_promtool(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {len(alert_rules())} rules found" in out
    out = run_promtool(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert "SUCCESS" in out


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    alerts = {r["alert"] for r in alert_rules()}
    assert alerts == fires, f"no firing case for {alerts - fires}"
    assert alerts <= silent, f"no silent case for {alerts - silent}"


def test_the_charts_namespaced_rules_pass_promtool(
    promtool: str, helm: Path, tmp_path: Path
) -> None:
    """As the Prometheus Operator would load them: every alert on, namespace matchers."""
    (rule,) = of_kind(
        render(helm, "-f", str(CHART / "ci" / "monitoring-values.yaml")), "PrometheusRule"
    )
    path = tmp_path / "chart-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    out = run_promtool(promtool, "check", "rules", str(path))
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_dashboard_queries_parse_with_promtool(promtool: str, tmp_path: Path) -> None:
    """Each query as a recording rule: promtool parses it with Prometheus' own parser."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)}
        for i, (_, expr) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run_promtool(promtool, "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in out


# -- only metrics that exist -------------------------------------------------------------------


def test_worker_registry_names_include_the_suffixes() -> None:
    names = worker_metric_names()
    assert {
        "catmatch_worker_messages_consumed_total",
        "catmatch_worker_dead_letters_total",  # labelled, no child yet: still listed
        "catmatch_worker_end_to_end_seconds_bucket",
        "catmatch_worker_batch_size_count",
        "catmatch_worker_batch_size_sum",
        "catmatch_worker_predictor_state",  # an Enum (stateset)
        "catmatch_worker_committed_offset",
    } <= names
    assert "catmatch_worker_messages_consumed" not in names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('sum by (le, outcome) (rate(a_bucket{x="y", z=~"$v"}[5m]))', {"a_bucket"}),
        ("histogram_quantile(0.95, sum(rate(b_bucket[1m])) by (le))", {"b_bucket"}),
        ('{__name__="c_total", job="w"} offset 5m', {"c_total"}),
        ("d and on (instance) group_left (pod) e or vector(0)", {"d", "e"}),
        ("sum without (instance) (f) > bool 1 unless g", {"f", "g"}),
        ("deriv(sum by (topic) (h)[10m:1m]) > 0 and h > 1e4", {"h"}),
        ("count_values(\"version\", i) / ignoring(x) j{a!~'b}'}", {"i", "j"}),
        ("rule:recorded:rate5m", {"rule:recorded:rate5m"}),
        ("max_over_time(k[1h] @ end()) - Inf", {"k"}),
    ],
)
def test_metric_names_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    "expr", ["sum(rate(a[5m])", 'a{b="c"', "a{b c}", "sum by (x (a)", "rate(a[5m)", "a)"]
)
def test_metric_names_rejects_broken_promql(expr: str) -> None:
    with pytest.raises(PromQLSyntaxError):
        metric_names(expr)


def used_metrics() -> dict[str, str]:
    """``{where: PromQL}`` of every alert and every dashboard query (Grafana's variables
    replaced)."""
    used = {f"alert {rule['alert']}": str(rule["expr"]) for rule in alert_rules()}
    for where, expr in dashboard_queries():
        used[f"dashboard {where}"] = grafana_to_promql(expr)
    return used


def test_every_metric_in_alerts_and_dashboard_is_exported() -> None:
    known = set(known_metric_kinds())
    used = {where: metric_names(expr) for where, expr in used_metrics().items()}
    unknown = {where: names - known for where, names in used.items() if names - known}
    assert unknown == {}, f"metrics nobody exports: {unknown}"
    assert all(used.values()), [where for where, names in used.items() if not names]
    # The external ones the alerts rely on are documented, with what provides them.
    doc = METRICS_DOC.read_text()
    for name in {n for names in used.values() for n in names} & set(EXTERNAL_METRICS):
        stem = re.sub(r"_(bucket|count|sum|created)$", "", name)
        assert stem in doc, f"{name} ({EXTERNAL_METRICS[name][0]}) is not in docs/METRICS.md"


def test_every_metric_is_used_as_its_kind() -> None:
    """Counters through rate()/increase(), buckets under histogram_quantile(rate()), gauges
    never through rate()."""
    kinds = known_metric_kinds()
    misused = {
        where: problems
        for where, expr in used_metrics().items()
        # label_values(selector, label) of a variable reads which series exist: any kind.
        if not where.startswith("dashboard variable ") and (problems := kind_misuses(expr, kinds))
    }
    assert misused == {}


def test_worker_metric_kinds() -> None:
    kinds = worker_metric_kinds()
    assert kinds["catmatch_worker_messages_consumed_total"] == "counter"
    assert kinds["catmatch_worker_dead_letters_total"] == "counter"
    assert kinds["catmatch_worker_end_to_end_seconds_bucket"] == "bucket"
    assert kinds["catmatch_worker_predictor_request_seconds_count"] == "counter"
    assert kinds["catmatch_worker_predictor_state"] == "gauge"  # an Enum
    assert kinds["catmatch_worker_progress_stalled"] == "gauge"
    assert predictor_metric_kinds()["catmatch_predictor_model_info"] == "gauge"  # an Info


KINDS = {"c_total": "counter", "h_bucket": "bucket", "h_count": "counter", "g": "gauge"}


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("sum(rate(c_total[5m])) + sum by (x) (increase(h_count[1h]))", None),
        ("histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))", None),
        ("max(g) > 1 and deriv(sum(g)[10m:1m]) > 0 or count(c_total)", None),
        ("sum(c_total) > 10", "counter c_total outside rate()/increase() (in sum)"),
        ("c_total", "counter c_total outside rate()/increase() (in nothing)"),
        ("sum(rate(h_bucket[5m]))", "histogram buckets h_bucket outside"),
        ("histogram_quantile(0.9, h_bucket)", "histogram buckets h_bucket outside"),
        ("rate(g[5m])", "gauge g in rate()"),
        ("max_over_time(rate(sum(g)[5m:1m])[1h:])", "gauge g in rate()"),
    ],
)
def test_kind_misuses_finds_what_it_should(expr: str, problem: str | None) -> None:
    problems = kind_misuses(expr, KINDS)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_kserve_metric_names_are_kserves() -> None:
    """The KServe names in EXTERNAL_METRICS are the ones kserve defines, of the same kind."""
    kserve_metrics = pytest.importorskip("kserve.metrics")
    from prometheus_client import Histogram

    histograms = [m for m in vars(kserve_metrics).values() if isinstance(m, Histogram)]
    kinds = sample_kinds(f for m in histograms for f in m.collect())
    listed = {n: k for n, (src, k) in EXTERNAL_METRICS.items() if src == "KServe model server"}
    assert listed.items() <= kinds.items()


# -- the dashboard ----------------------------------------------------------------------------


def test_dashboard_shows_what_an_operator_needs() -> None:
    board = dashboard()
    assert board["uid"] == "category-match" and board["title"]
    exprs = " ".join(expr for _, expr in dashboard_queries())
    for needle in (
        "catmatch_worker_messages_consumed_total",  # throughput
        "catmatch_worker_results_produced_total",
        "kafka_consumergroup_lag",  # lag ...
        "catmatch_worker_committed_offset",  # ... and progress
        "catmatch_worker_progress_stalled",
        "catmatch_worker_batch_size_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(catmatch_worker_end_to_end_seconds_bucket",
        "sum by (error_class) (rate(catmatch_worker_dead_letters_total",
        "sum by (catmatch_worker_predictor_state) (catmatch_worker_predictor_state",
        "catmatch_worker_predictor_request_seconds_bucket",
        "sum by (reason) (rate(catmatch_worker_predictor_retries_total",  # cold-start waits
        "catmatch_worker_predictor_circuit_open",
        "catmatch_predictor_model_info",
    ):
        assert needle in exprs, needle
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel.get("description"), f"panel {panel['title']!r} has no description"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


# -- the chart -------------------------------------------------------------------------------


def test_monitoring_objects_are_off_by_default(helm: Path) -> None:
    kinds = {o["kind"] for o in render(helm)}
    assert "PrometheusRule" not in kinds
    assert not [o for o in render(helm) if o["metadata"]["name"].endswith("-dashboard")]


def test_prometheus_rule_uses_values(helm: Path) -> None:
    objs = render(
        helm,
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.prometheusRule.labels.release=kube-prometheus-stack",
        "--set", "metrics.prometheusRule.alertLabels.team=ml",
        "--set", "metrics.prometheusRule.runbookUrl=https://git.example/METRICS.md",
        "--set", "metrics.prometheusRule.alerts.predictorNotReady.for=7m",
        "--set-json", "metrics.prometheusRule.alerts.deadLetterRate.threshold=2.5",
        "--set", "metrics.prometheusRule.alerts.kafkaDown.enabled=false",
    )  # fmt: skip
    (rule,) = of_kind(objs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "CatmatchWorkerKafkaDown" not in rules  # disabled
    assert "CatmatchConsumerLagGrowing" not in rules  # off by default (needs an exporter)
    assert rules["CatmatchPredictorNotReady"]["for"] == "7m"
    assert rules["CatmatchDeadLetterRateHigh"]["expr"].endswith("> 2.5")
    for name, r in rules.items():
        assert r["labels"]["team"] == "ml" and r["labels"]["severity"], name
        assert r["annotations"]["runbook_url"] == f"https://git.example/METRICS.md#{name.lower()}"
        # Every selector of our own metrics is limited to the release's namespace.
        for selector in re.findall(r"(catmatch_worker_\w+)(\{[^}]*\})?", r["expr"]):
            assert 'namespace="shop"' in selector[1], (name, r["expr"])
    restarts = rules["CatmatchWorkerRestarting"]["expr"]
    assert 'container="worker"' in restarts
    assert 'pod=~"category-match-worker-.*"' in restarts


def test_rendered_prometheus_rule_is_schema_valid(
    helm: Path, validate_manifests: ModuleType
) -> None:
    """The PrometheusRule of ci/monitoring-values.yaml (every alert, labels, runbook URLs)
    passes the custom-resource schema in deploy/schemas, which catches broken rules."""
    vm = validate_manifests
    schemas = vm.Schemas("1.31", vm.crd_schema_dir(None))
    (rule,) = of_kind(
        render(helm, "-f", str(CHART / "ci" / "monitoring-values.yaml")), "PrometheusRule"
    )
    assert len(rule["spec"]["groups"][0]["rules"]) == len(alert_rules())
    assert vm.check_object(rule, schemas) == []

    def broken(change: Callable[[dict[str, Any]], object]) -> str:
        copy = json.loads(json.dumps(rule))
        change(copy["spec"]["groups"][0]["rules"][0])
        return "\n".join(vm.check_object(copy, schemas))

    assert "'10 minutes' does not match" in broken(lambda r: r.update({"for": "10 minutes"}))
    assert "'expression' was unexpected" in broken(lambda r: r.update(expression="1"))
    assert "'expr' is a required property" in broken(lambda r: r.pop("expr"))
    assert "True is not of type 'string'" in broken(lambda r: r["labels"].update(page=True))
    assert "spec/groups/0/rules/0: " in broken(lambda r: r.update(record="a:b"))  # both


def test_consumer_lag_alert_names_the_group_and_input_topic(helm: Path) -> None:
    objs = render(
        helm,
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.prometheusRule.alerts.consumerLag.enabled=true",
        "--set", "worker.groupId=shop-workers",
        "--set", "topics.input=shop-in",
    )  # fmt: skip
    (rule,) = of_kind(objs, "PrometheusRule")
    rules = rule["spec"]["groups"][0]["rules"]
    (lag,) = [r for r in rules if r["alert"] == "CatmatchConsumerLagGrowing"]
    assert 'kafka_consumergroup_lag{consumergroup="shop-workers", topic="shop-in"}' in lag["expr"]
    assert 'namespace="shop"' not in lag["expr"]  # the exporter runs in Kafka's namespace


def lag_expr(helm: Path, *args: str) -> str:
    objs = render(
        helm,
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.prometheusRule.alerts.consumerLag.enabled=true",
        *args,
    )  # fmt: skip
    (rule,) = of_kind(objs, "PrometheusRule")
    (lag,) = [r for r in rule["spec"]["groups"][0]["rules"] if r["alert"].endswith("LagGrowing")]
    return str(lag["expr"])


def test_consumer_lag_is_summed_per_exporter_namespace(helm: Path) -> None:
    """dev and ops use the same group and topic names: a sum over every namespace added
    their lags up (promtool cases in category-match-rules.test.yaml show it)."""
    expr = lag_expr(helm)
    assert expr.count("sum by (namespace, consumergroup, topic) (kafka_consumergroup_lag{") == 2
    # The Strimzi cluster's namespace, where its Kafka Exporter runs, unless set explicitly.
    strimzi = ("--set", "topics.strimzi.enabled=true", "--set", "topics.strimzi.namespace=kafka")
    assert expr.count('namespace="') == 0
    assert lag_expr(helm, *strimzi).count(', namespace="kafka"}') == 2
    explicit = ("--set", "metrics.prometheusRule.alerts.consumerLag.exporterNamespace=kafka-x")
    assert lag_expr(helm, *strimzi, *explicit).count(', namespace="kafka-x"}') == 2


def test_ops_is_alerted_and_has_the_dashboard(helm: Path) -> None:
    ops = REPO / "gitops" / "values" / "ops.yaml"
    objs = render(helm, "-f", str(ops), namespace="category-match-ops")
    (rule,) = of_kind(objs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert {r["alert"] for r in alert_rules()} == set(rules)  # every alert, lag included
    assert all(r["labels"]["environment"] == "ops" for r in rules.values())
    assert ', namespace="kafka"}' in rules["CatmatchConsumerLagGrowing"]["expr"]
    assert 'namespace="category-match-ops"' in rules["CatmatchWorkerStalled"]["expr"]
    assert [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]


@pytest.mark.parametrize(("aggregation", "port"), [(False, 8080), (True, 9088)])
def test_predictor_pod_monitor_scrapes_a_port_that_exists(
    helm: Path, aggregation: bool, port: int
) -> None:
    """9088 exists only with KServe's qpext queue-proxy (predictor.metricAggregation);
    without it the PodMonitor reads the model server's own /metrics on 8080."""
    objs = render(
        helm,
        "--set", "metrics.predictorPodMonitor.enabled=true",
        "--set", f"predictor.metricAggregation={str(aggregation).lower()}",
    )  # fmt: skip
    (monitor,) = of_kind(objs, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["portNumber"] == port
    (isvc,) = of_kind(objs, "InferenceService")
    annotations = isvc["metadata"]["annotations"]
    assert ("serving.kserve.io/enable-metric-aggregation" in annotations) is aggregation
    if not aggregation:
        ports = isvc["spec"]["predictor"]["containers"][0]["ports"]
        assert [p["containerPort"] for p in ports] == [port]


def test_dashboard_configmap_carries_the_sidecar_label_and_the_json(helm: Path) -> None:
    objs = render(
        helm,
        "--set", "metrics.grafanaDashboard.enabled=true",
        "--set", "metrics.grafanaDashboard.annotations.grafana_folder=shop",
    )  # fmt: skip
    (cm,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {
        "grafana_folder": "shop",
        "argocd.argoproj.io/sync-wave": "2",  # with the monitors, after the workers
    }
    assert json.loads(cm["data"]["category-match.json"]) == dashboard()


# -- docs ------------------------------------------------------------------------------------


def test_every_alert_has_a_runbook_section() -> None:
    """docs/OPERATIONS.md has a heading per alert whose anchor is the alert name in lower
    case, as the chart's runbook_url annotation (runbookUrl + "#" + lower(name)) links."""
    doc = OPERATIONS_DOC.read_text()
    headings = re.findall(r"^### (Catmatch\w+)$", doc, flags=re.MULTILINE)
    assert sorted(headings) == sorted(r["alert"] for r in alert_rules())
    for section in re.split(r"^### ", doc, flags=re.MULTILINE)[1:]:
        name = section.split("\n", 1)[0]
        for part in ("**Means**", "**Check**", "**Do**"):
            assert part in section, f"{name}: no {part}"


def test_every_alert_is_in_the_alerts_table() -> None:
    doc = METRICS_DOC.read_text()
    section = doc.split("## Alerts", 1)[1]
    in_table = set(re.findall(r"^\| `?(Catmatch\w+)`? ", section, flags=re.MULTILINE))
    assert in_table == {r["alert"] for r in alert_rules()}
