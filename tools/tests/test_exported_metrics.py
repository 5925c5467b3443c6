"""Every metric name and label the rules, the dashboards and the canary analysis read exists in
what a real classifier process exports (issue #14, item 9).

A classifier is started on the model artifact (by classifier_testkit's harness, as the drill
starts one), answers a few requests, and its metrics port is scraped. A name or label it does
not write would leave a query silently empty: an alert that never fires, a panel with no data, a
canary judged on nothing. Other programs' metrics are exempt only if
gitops.alerts.THIRD_PARTY_METRICS names them with their exporter; their labels are checked
against what that exporter writes. Labels the scrape adds (prometheus-operator's target labels)
count for every metric. A few seconds.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from classifier import metrics as service_metrics
from classifier.gpu_metrics import METRIC_NAMES as GPU_METRICS
from classifier.gpu_metrics import GpuCollector
from classifier_testkit import photos
from classifier_testkit.artifacts import default_artifact
from classifier_testkit.ports import free_port
from classifier_testkit.server import local_server
from gitops import slo
from gitops.alerts import THIRD_PARTY_METRICS, bucket_bound
from gitops.paths import REPO_ROOT
from gitops.promtool_tests import RULES

MODEL = "efficientnet-lite0"
# Labels the scrape gives every series of a target: prometheus-operator v0.83.0
# pkg/prometheus/promcfg.go generateServiceMonitorConfig (namespace, service, pod, container, job,
# endpoint; instance is Prometheus' own) and rollouts/templates/servicemonitor.yaml's
# podTargetLabels.
TARGET_LABELS = frozenset(
    {"namespace", "service", "pod", "container", "job", "endpoint", "instance", "rollouts_pod_template_hash"}
)
AGGREGATIONS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    }
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = GROUPING | {"and", "or", "unless", "offset", "bool", "atan2"}
_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      |(?P<range>\[[^\]]*\])
      |(?P<duration>\d+(?:ms|s|m|h|d|w|y)\b)
      |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      |(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=])
      |(?P<punct>[{}(),])
      |(?P<space>\s+)""",
    re.VERBOSE,
)
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*(\w+)\s*\)")

# metric name -> label -> the values the process wrote
Exported = dict[str, dict[str, set[str]]]


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # (label, operator, value)


@dataclass
class References:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # by, without, on, ignoring, group_left/right


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def references(expr: str) -> References:
    """The series selectors and grouping labels of a PromQL expression (a tokenizer, not a parser:
    enough for selectors, aggregations, functions, binary operators and their modifiers)."""
    tokens = [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    if sum(len(m.group()) for m in _TOKEN.finditer(expr)) != len(expr):
        raise ValueError(f"unexpected characters in {expr!r}")
    found = References()
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "name" and text in GROUPING and following == "(":
            index += 2
            while tokens[index][1] != ")":
                if tokens[index][0] == "name":
                    found.grouping.add(tokens[index][1])
                index += 1
        elif kind == "name" and text not in KEYWORDS and text not in AGGREGATIONS and following != "(":
            selector = Selector(text)
            if following == "{":
                index += 2
                while tokens[index][1] != "}":
                    if tokens[index][1] != ",":
                        label, operator, value = (token for _, token in tokens[index : index + 3])
                        selector.matchers.append((label, operator, _unquote(value)))
                        index += 2
                    index += 1
            found.selectors.append(selector)
        elif text == "{":
            raise ValueError(f"a selector without a metric name in {expr!r}")
        index += 1
    return found


def recorded_series() -> dict[str, set[str]]:
    """Recording rule -> the labels it keeps (its aggregation's `by`)."""
    groups = yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]["groups"]
    return {
        rule["record"]: references(rule["expr"]).grouping
        for group in groups
        for rule in group["rules"]
        if "record" in rule
    }


def problems(expr: str, exported: Exported) -> list[str]:
    """What in `expr` no exporter writes: unknown names, labels, and label values matched exactly."""
    recorded = recorded_series()
    refs = references(expr)
    carried: set[str] = set()
    found = []
    for selector in refs.selectors:
        values: dict[str, set[str]] = {}
        if selector.metric in THIRD_PARTY_METRICS:
            labels = set(THIRD_PARTY_METRICS[selector.metric].labels) | TARGET_LABELS
        elif selector.metric in recorded:
            labels = recorded[selector.metric]
        elif selector.metric in exported:
            values = exported[selector.metric]
            labels = set(values) | TARGET_LABELS
        else:
            found.append(f"{selector.metric}: the classifier does not export it, no rule records it, and "
                         "alerts.THIRD_PARTY_METRICS does not name it")  # fmt: skip
            continue
        carried |= labels
        for label, operator, value in selector.matchers:
            if label not in labels:
                found.append(f"{selector.metric} has no label {label} (it has {sorted(labels)})")
            elif operator == "=" and label in values and value not in values[label]:
                found.append(f'{selector.metric}{{{label}="{value}"}}: it writes {sorted(values[label])}')
    carried |= set(_LABEL_REPLACE_DESTINATION.findall(expr))  # a label the expression writes itself
    found += [f"by/on ({label}): no metric of the expression carries it" for label in refs.grouping - carried]
    return found


# label_replace(v, "dst", "replacement", "src", "regex"): its last four arguments, all strings.
_LABEL_REPLACE_DESTINATION = re.compile(r',\s*"(\w+)"\s*,\s*"[^"]*"\s*,\s*"\w+"\s*,\s*"(?:[^"\\]|\\.)*"\s*\)')


def _walk(node: Any) -> Iterator[str]:
    """Every panel target's `expr` and every variable's query of a Grafana dashboard."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str) and "label_values(" in value:
                yield _LABEL_VALUES.sub(r"group by (\2) (\1)", value)
            else:
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every query the platform runs against the classifier's metrics."""
    found = []
    for group in yaml.safe_load((REPO_ROOT / RULES).read_text())["spec"]["groups"]:
        for rule in group["rules"]:
            found.append((f"{RULES} {rule.get('record') or rule.get('alert')}", rule["expr"]))
    for path in sorted((REPO_ROOT / "platform/dashboards").glob("classifier-*.yaml")):
        for name, text in yaml.safe_load(path.read_text())["data"].items():
            found += [(f"{path.relative_to(REPO_ROOT)} {name}", expr) for expr in _walk(json.loads(text))]
    for path in sorted((REPO_ROOT / "rollouts/files").glob("analysis-*.yaml")):
        for metric in yaml.safe_load(path.read_text())["spec"]["metrics"]:
            if "prometheus" in metric["provider"]:  # a job metric queries nothing
                query = metric["provider"]["prometheus"]["query"]
                found.append((f"{path.relative_to(REPO_ROOT)} {metric['name']}", query))
    return found


def _parse(text: str) -> Exported:
    exported: Exported = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = exported.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                labels.setdefault(label, set()).add(value)
    return exported


class _OneGpu:
    """What GpuCollector reads of NVML, for one device: GPU metrics are exported only where NVML
    finds one, so on a CPU machine their names and labels come from the service's own collector."""

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802 (pynvml's names)
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(gpu=50)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(used=1.0, total=2.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A classifier process's /metrics, from its metrics port, after a few requests."""
    metrics_port = free_port()
    env = {
        "CLASSIFIER_MODEL_DIR": str(default_artifact()),
        "CLASSIFIER_METRICS_PORT": str(metrics_port),
        "CLASSIFIER_INFERENCE_WORKERS": "1",
        "CLASSIFIER_LOG_LEVEL": "warning",
    }
    log = tmp_path_factory.mktemp("classifier") / "stdout.log"
    with local_server(env, log_path=log, timeout=90, inherit_settings=False) as server:
        client = server.client
        photo = photos.encode("coffee")
        jpeg = {"content-type": "image/jpeg"}
        assert client.post("/v1/classify", content=photo, headers=jpeg).status_code == 200
        assert (
            client.post("/v1/classify", content=b"x", headers={"content-type": "text/plain"}).status_code
            == 415
        )
        image = {
            "name": "image",
            "shape": [1],
            "datatype": "BYTES",
            "data": [base64.b64encode(photo).decode()],
        }
        assert client.post(f"/v2/models/{MODEL}/infer", json={"inputs": [image]}).status_code == 200
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    scraped = _parse(text)
    if not set(GPU_METRICS) & set(scraped):
        registry = CollectorRegistry()
        registry.register(GpuCollector(_OneGpu()))
        scraped |= _parse(generate_latest(registry).decode())
    return scraped


@pytest.mark.parametrize(("where", "expr"), expressions(), ids=[where for where, _ in expressions()])
def test_every_metric_and_label_read_is_exported(where: str, expr: str, exported: Exported) -> None:
    assert not problems(expr, exported), f"{where}: {expr}"


def test_the_check_refuses_what_the_service_does_not_write(exported: Exported) -> None:
    assert problems('classifier_http_request_duration_seconds_bucket{le="1"}', exported)  # it writes "1.0"
    assert problems('classifier_http_requests_total{status="200"}', exported)  # the label is `code`
    assert problems('classifier_http_request_duration_seconds_count{outcome="ok"}', exported)
    assert problems("sum by (zone) (rate(classifier_images_total[5m]))", exported)
    assert problems("rate(classifier_http_request_total[5m])", exported)
    assert problems('kube_pod_status_ready{status="false"}', exported)  # KSM's label is `condition`
    assert not problems('max by (namespace) (rollout_info{name="classifier", phase="Abort"}) == 1', exported)


def test_third_party_names_are_not_the_services(exported: Exported) -> None:
    """The allow list exempts only what another program writes: nothing the classifier exports."""
    assert not set(THIRD_PARTY_METRICS) & set(exported)
    assert all(
        " v" in metric.source and metric.source.count(" ") == 2 for metric in THIRD_PARTY_METRICS.values()
    )


def test_slo_buckets_are_the_services() -> None:
    """The generator keeps a copy (tools does not import the service); the copy must not drift."""
    assert slo.LATENCY_BUCKETS == service_metrics.LATENCY_BUCKETS


def test_bucket_bounds_are_written_as_the_client_writes_them(exported: Exported) -> None:
    written = exported["classifier_http_request_duration_seconds_bucket"]["le"]
    for bound in slo.LATENCY_BUCKETS:
        assert bucket_bound(bound) == floatToGoString(bound)
        assert bucket_bound(bound) in written
    assert bucket_bound(1.0) == "1.0"
    assert bucket_bound(0.3) == "0.3"


def test_the_tokenizer_finds_every_selector_and_grouping() -> None:
    refs = references(
        'sum by (namespace) (rate(a_total{b="c", d=~"e|f"}[5m])) / on (namespace) group_left (g) '
        "max(h:i:j) > 0.5 and k offset 1h or vector(0)"
    )
    assert [(s.metric, s.matchers) for s in refs.selectors] == [
        ("a_total", [("b", "=", "c"), ("d", "=~", "e|f")]),
        ("h:i:j", []),
        ("k", []),
    ]
    assert refs.grouping == {"namespace", "g"}
    assert references(r'x{route=~"/v2/models/\\{name\\}/infer"}').selectors[0].matchers == [
        ("route", "=~", r"/v2/models/\{name\}/infer")
    ]


def test_exported_checks_cover_each_source() -> None:
    sources = {where.split(" ", 1)[0].split("/")[0] for where, _ in expressions()}
    assert sources == {"platform", "rollouts"}
    assert any(Path(where.split(" ", 1)[0]).name.startswith("analysis-") for where, _ in expressions())
