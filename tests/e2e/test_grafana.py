"""The Grafana dashboard (contrib/grafana/hotdog.json) queries only what hotdog exports.

Every PromQL expression of the dashboard (panel targets and the template variables' queries)
is tokenised; each metric name it selects must be a series in the /metrics of a live hotdog,
each label value it matches on literally must occur there, and each label it groups by must be
one that the series carry (or `job`/`instance`, which Prometheus adds). A histogram's `_bucket`,
`_sum` and `_count` are series of their own in /metrics, so they pass for a histogram and fail
for any other family; the bare histogram name, which selects nothing in PromQL, fails too.

No broker: with a spool hotdog starts although bootstrap.servers does not answer, and every
family is there from the start except the per-kind producer errors, which a message for an
invalid topic name (refused locally, before any broker) brings out. The listeners are TCP, UDP,
RELP and TLS (for the per-listener and certificate gauges), and one rule (for rule matches).
"""
import json
import re
import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import clients
from conftest import ROOT, Hotdog, free_port

DASHBOARD = ROOT / "contrib" / "grafana" / "hotdog.json"
PROMETHEUS_LABELS = {"job", "instance"}  # added by the scrape, not by hotdog

# Families of /metrics the dashboard leaves out on purpose; anything else hotdog exports must
# be on it, so that a new metric cannot be forgotten there.
NOT_ON_THE_DASHBOARD = {
    "hotdog_lines_total": "received minus error.log_parse (the original's meaning)",
    "hotdog_kafka_submitted_total": "the original's name for kafka_delivered_total",
    "hotdog_kafka_topic_submitted_total": "the original's name for kafka_topic_delivered_total",
    "hotdog_kafka_topic_produced_total": "by topic, the dashboard shows outcomes: delivered, failed",
    "hotdog_kafka_producer_error_total": "the sum of kafka_producer_errors_total, shown by kind",
    "hotdog_kafka_producer_sent_count_total": "the histogram's _count (the original's timer)",
    "hotdog_kafka_producer_sent_microseconds_total": "the histogram's _sum (the original's timer)",
}

# ------------------------------------------------------------------ PromQL tokeniser

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\])                 # Grafana variables
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+(?:ms|[smhdwy]))+(?!\w)|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@:])
""", re.X)
VARIABLE = re.compile(r"\$\w|\$\{|\[\[")  # in a label value: known when Grafana runs the query
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def tokenise(expr):
    tokens, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        assert m, f"cannot tokenise {expr[pos:]!r} in {expr!r}"
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def unquote(s):
    return s[1:-1] if s[0] == "`" else re.sub(r"\\(.)", r"\1", s[1:-1])


def parse(expr):
    """The vector selectors of a PromQL expression, as (metric, [(label, op, value)]) with value
    None where it holds a Grafana variable, and the labels it groups or matches by (by, without, on, ...)."""
    toks = tokenise(expr)
    selectors, grouping = [], set()
    i = 0

    def nxt(j):
        return toks[j][1] if j < len(toks) else None

    def matchers(j):  # toks[j] is "{"; returns (matchers, index after "}")
        out, j = [], j + 1
        while toks[j][1] != "}":
            (lk, label), (_, op), (vk, value) = toks[j:j + 3]
            assert lk == "ident" and op in ("=", "!=", "=~", "!~") and vk in ("str", "var"), expr
            value = unquote(value) if vk == "str" else None
            out.append((label, op, None if value is None or VARIABLE.search(value) else value))
            j += 3
            if toks[j][1] == ",":
                j += 1
        return out, j + 1

    while i < len(toks):
        kind, text = toks[i]
        if text == "[":  # a range or subquery: durations and variables only
            while toks[i][1] != "]":
                i += 1
            i += 1
        elif kind == "ident" and text in LABEL_LIST_KEYWORDS and nxt(i + 1) == "(":
            i += 2
            while toks[i][1] != ")":
                if toks[i][0] == "ident":
                    grouping.add(toks[i][1])
                i += 1
            i += 1
        elif kind == "ident" and (text in AGGREGATIONS or text in KEYWORDS or nxt(i + 1) == "("):
            i += 1  # a function, an aggregation or a keyword
        elif kind == "ident":
            ms = []
            i += 1
            if nxt(i) == "{":
                ms, i = matchers(i)
            selectors.append((text, ms))
        elif text == "{":  # {__name__="..."}
            ms, i = matchers(i)
            names = [v for l, op, v in ms if l == "__name__" and op == "="]
            assert names, f"a selector without a metric name in {expr!r}"
            selectors.append((names[0], [m for m in ms if m[0] != "__name__"]))
        else:
            i += 1
    return selectors, grouping


def test_the_tokeniser_finds_metric_names_and_nothing_else():
    sel, grp = parse('histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket'
                     '{job=~"$job", instance=~"${instance}"}[$__rate_interval])))')
    assert sel == [("a_seconds_bucket", [("job", "=~", None), ("instance", "=~", None)])]
    assert grp == {"le"}
    sel, grp = parse('sort_desc(sum without (x) (increase(b_total{error="lost", k!~"a\\"b"}'
                     '[$__range])) > 0) / on (y) group_left (z) c offset 5m unless bool d and '
                     'topk(10, {__name__="e"}) * 1e6 or f[5m:1m] @ 1609746000')
    assert sel == [("b_total", [("error", "=", "lost"), ("k", "!~", 'a"b')]), ("c", []), ("d", []),
                   ("e", []), ("f", [])]
    assert grp == {"x", "y", "z"}


# ------------------------------------------------------------------ the dashboard

def expressions(dashboard):
    """Every PromQL expression of the dashboard, with where it is: panel targets (rows'
    collapsed panels included) and the query variables (label_values(EXPR, LABEL))."""
    out = []

    def walk(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                out.append((where, node["expr"], None))
            where = f"{where} / {node['title']}" if isinstance(node.get("title"), str) else where
            for k, v in node.items():
                if k != "templating":
                    walk(v, where)
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    walk(dashboard.get("panels", []), "panel")
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q) or \
            re.fullmatch(r"\s*query_result\((.*)\)()\s*", q)
        assert m, f"variable {var['name']}: a query this test cannot read: {q!r}"
        out.append((f"variable ${var['name']}", m.group(1), m.group(2) or None))
    return out


def scrape(status_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return list(text_string_to_metric_families(text))


def check(dashboard, families):
    """What the dashboard queries that /metrics (parsed families) does not have: a list of
    'where: problem' lines, empty when every query resolves."""
    series = {}  # sample name -> label sets
    kind = {}
    for f in families:
        for s in f.samples:
            series.setdefault(s.name, []).append(s.labels)
            kind[s.name] = f.type
    problems = []
    for where, expr, label_values_of in expressions(dashboard):
        sel, grouping = parse(expr)
        if label_values_of:
            grouping.add(label_values_of)
        labels_here = set(PROMETHEUS_LABELS)
        for name, matchers in sel:
            if name not in series:
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if base != name and base in series:  # a histogram has no series of its name
                    problems.append(f"{where}: {name}: no such series ({base} is not a histogram)")
                elif any(kind[n] == "histogram" for n in series if n.startswith(name + "_")):
                    problems.append(f"{where}: {name}: a histogram is queried by its _bucket, "
                                    "_sum or _count")
                else:
                    problems.append(f"{where}: {name}: no such metric in /metrics")
                continue
            labelsets = series[name]
            labels_here |= {l for ls in labelsets for l in ls}
            for label, op, value in matchers:
                if label in PROMETHEUS_LABELS:
                    continue
                if not any(label in ls for ls in labelsets):
                    problems.append(f"{where}: {name} has no label {label!r}")
                elif value is not None and op in ("=", "=~") and not any(
                        re.fullmatch(value if op == "=~" else re.escape(value), ls.get(label, ""))
                        for ls in labelsets):
                    problems.append(f"{where}: {name}{{{label}{op}{value!r}}} matches no series")
        for label in sorted(grouping - labels_here):
            problems.append(f"{where}: by label {label!r}, which none of its series has")
    return problems


def exposed(family):
    """A family's name as /metrics writes it (prometheus_client drops a counter's _total)."""
    return family.name + "_total" if family.type == "counter" else family.name


def families_on_the_dashboard(dashboard, families):
    """The /metrics families (as exposed) that some expression of the dashboard selects."""
    names = {name for _, expr, _ in expressions(dashboard) for name, _ in parse(expr)[0]}
    return {exposed(f) for f in families if any(s.name in names for s in f.samples)}


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


def test_the_dashboard_is_a_grafana_model_that_imports_with_any_prometheus(dashboard):
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"] == "hotdog"
    assert dashboard["id"] is None  # an exported dashboard: Grafana assigns the id on import
    # Import asks for the data source (__inputs); provisioning, which ignores __inputs, finds
    # the data source variable of the same name instead.
    assert [(i["name"], i["type"], i["pluginId"]) for i in dashboard["__inputs"]] == \
        [("DS_PROMETHEUS", "datasource", "prometheus")]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ds = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 30
    for p in panels:
        assert p["datasource"] == ds, p["title"]
        assert p["targets"] and all(t["datasource"] == ds and t["expr"] for t in p["targets"]), \
            p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
        assert p.get("description"), f"{p['title']}: say what it shows"
    for v in ("job", "instance"):
        assert variables[v]["datasource"] == ds
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    # No two panels share a cell of the 24-column grid.
    cells = {}
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
    # Every expression narrows to the selected job and instances.
    for where, expr, _ in expressions(dashboard):
        for name, matchers in parse(expr)[0]:
            if where.startswith("panel"):
                assert {("job", "=~"), ("instance", "=~")} <= {(l, op) for l, op, _ in matchers}, \
                    f"{where}: {name} is not filtered by $job and $instance"


# ------------------------------------------------------------------ against a live hotdog

@pytest.fixture(scope="module")
def live_metrics(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grafana")
    pki = clients.make_pki(tmp / "pki")
    tcp, relp, tls, status = free_port(), free_port(), free_port(), free_port()
    udp = clients.free_port(kind=socket.SOCK_DGRAM)
    nobody = free_port()  # bootstrap.servers: nothing listens there
    cfg = f"""global:
  listen:
    - {{address: 127.0.0.1, port: {tcp}}}
    - {{address: 127.0.0.1, port: {udp}, protocol: udp}}
    - {{address: 127.0.0.1, port: {relp}, protocol: relp}}
    - address: 127.0.0.1
      port: {tls}
      tls: {{cert: '{pki.server_cert}', key: '{pki.server_key}'}}
  kafka:
    conf:
      bootstrap.servers: '127.0.0.1:{nobody}'
    topic: grafana
    timeout_ms: 1000
    shutdown_timeout_ms: 500
    spool:
      path: '{tmp / "spool"}'
  status:
    address: 127.0.0.1
    port: {status}
rules:
  - regex: '^invalid'
    actions:
      - {{type: forward, topic: 'not a valid topic'}}
"""
    h = Hotdog(tmp, cfg)
    h.start()
    try:
        h.wait_log("starting anyway")
        clients.tcp_send("127.0.0.1", tcp, b"<13>Oct 11 22:14:15 h app: invalid topic\n")
        deadline = time.monotonic() + 15
        while True:
            families = scrape(status)
            if any(f.name == "hotdog_kafka_producer_errors" for f in families):
                break
            assert time.monotonic() < deadline, \
                f"no hotdog_kafka_producer_errors_total after an invalid topic:\n{h.output()}"
            time.sleep(0.1)
    finally:
        h.stop()
    return families


def test_every_metric_the_dashboard_queries_exists_in_metrics(dashboard, live_metrics):
    exprs = expressions(dashboard)
    assert len(exprs) >= 60, "the dashboard's expressions were not found"
    problems = check(dashboard, live_metrics)
    assert not problems, "the dashboard queries what /metrics does not have:\n" + "\n".join(problems)


def test_every_metric_hotdog_exports_is_on_the_dashboard_or_left_out_on_purpose(dashboard,
                                                                              live_metrics):
    shown = families_on_the_dashboard(dashboard, live_metrics)
    exported = {exposed(f) for f in live_metrics}
    missing = sorted(exported - shown - set(NOT_ON_THE_DASHBOARD))
    assert not missing, f"not on the dashboard (add a panel, or to NOT_ON_THE_DASHBOARD): {missing}"
    stale = sorted(set(NOT_ON_THE_DASHBOARD) - exported)
    assert not stale, f"NOT_ON_THE_DASHBOARD names what /metrics does not have: {stale}"
    assert not set(NOT_ON_THE_DASHBOARD) & shown, "NOT_ON_THE_DASHBOARD names a shown metric"


def test_a_query_of_what_does_not_exist_is_caught(live_metrics):
    """The check fails on a bogus metric, label, label value, grouping and histogram suffix."""
    sel = '{job=~"$job", instance=~"$instance"}'
    bad = {"panels": [{"title": "bogus", "type": "timeseries", "targets": [
        {"refId": "A", "expr": f"sum(rate(hotdog_no_such_metric_total{sel}[5m]))"},
        {"refId": "B", "expr": 'rate(hotdog_errors_total{error="no_such_error"}[5m])'},
        {"refId": "C", "expr": 'hotdog_spool_bytes{topic="x"}'},
        {"refId": "D", "expr": "sum by (topic) (hotdog_received_total)"},
        {"refId": "E", "expr": "hotdog_spool_bytes_count + hotdog_kafka_producer_sent_seconds"},
    ]}]}
    problems = check(bad, live_metrics)
    assert problems == [
        "panel / bogus: hotdog_no_such_metric_total: no such metric in /metrics",
        "panel / bogus: hotdog_errors_total{error='no_such_error'} matches no series",
        "panel / bogus: hotdog_spool_bytes has no label 'topic'",
        "panel / bogus: by label 'topic', which none of its series has",
        "panel / bogus: hotdog_spool_bytes_count: no such series (hotdog_spool_bytes is not a histogram)",
        "panel / bogus: hotdog_kafka_producer_sent_seconds: a histogram is queried by its _bucket, "
        "_sum or _count",
    ], problems
    bad = {"templating": {"list": [{"name": "x", "type": "query",
                                    "query": "label_values(hotdog_received_total, topic)"}]}}
    assert check(bad, live_metrics) == \
        ["variable $x: by label 'topic', which none of its series has"]
