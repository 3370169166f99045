"""The NetworkPolicy evaluator against the semantics of networking.k8s.io/v1."""
import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import netpol

NS = {"app": {"name": "app"}, "monitoring": {"name": "monitoring", "kubernetes.io/metadata.name": "monitoring"},
      "kube-system": {"kubernetes.io/metadata.name": "kube-system"}}
WEB = {"name": "web", "namespace": "app", "labels": {"app": "web"}, "ports": [[8080, "TCP"]]}
DB = {"name": "db", "namespace": "app", "labels": {"app": "db"}, "ports": [[5432, "TCP"]]}
PROM = {"name": "prometheus", "namespace": "monitoring", "labels": {"app": "prometheus"}, "ports": [[9090, "TCP"]]}
DNS = {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": [[53, "UDP"]]}
ALL = [WEB, DB, PROM, DNS]


def pol(name, ns, selector, types, ingress=None, egress=None):
    spec = {"podSelector": selector, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


DENY_ALL = pol("default-deny", "app", {}, ["Ingress", "Egress"])


def test_no_policies_allow_everything():
    flows = netpol.allowed_flows(ALL, [], NS)
    assert ("app/web", "app/db", "5432/TCP") in flows
    assert len(flows) == 4 * 3


def test_default_deny_isolates_the_namespace_both_ways():
    flows = netpol.allowed_flows(ALL, [DENY_ALL], NS)
    assert not any(src.startswith("app/") or dst.startswith("app/") for src, dst, _ in flows)
    assert ("monitoring/prometheus", "kube-system/coredns", "53/UDP") in flows  # other namespaces untouched


def test_allow_rules_open_exactly_their_flows():
    policies = [
        DENY_ALL,
        pol("web-to-db", "app", {"matchLabels": {"app": "db"}}, ["Ingress"],
            ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}]),
        pol("web-egress-db", "app", {"matchLabels": {"app": "web"}}, ["Egress"],
            egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}]),
        pol("prometheus-scrapes-web", "app", {"matchLabels": {"app": "web"}}, ["Ingress"],
            ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}},
                                "podSelector": {"matchLabels": {"app": "prometheus"}}}], "ports": [{"port": 8080}]}]),
        pol("dns", "app", {}, ["Egress"],
            egress=[{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                             "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                     "ports": [{"port": 53, "protocol": "UDP"}]}]),
    ]
    app_flows = {f for f in netpol.allowed_flows(ALL, policies, NS) if "app/" in f[0] + f[1]}
    assert app_flows == {
        ("app/web", "app/db", "5432/TCP"),
        ("monitoring/prometheus", "app/web", "8080/TCP"),
        ("app/web", "kube-system/coredns", "53/UDP"),
        ("app/db", "kube-system/coredns", "53/UDP"),
    }


def test_namespace_and_pod_selector_in_separate_peers_mean_or():
    policy = pol("either", "app", {"matchLabels": {"app": "db"}}, ["Ingress"],
                 ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}},
                                    {"podSelector": {"matchLabels": {"app": "web"}}}]}])
    assert netpol.flow_allowed(PROM, DB, 5432, [policy], NS)
    assert netpol.flow_allowed(WEB, DB, 5432, [policy], NS)
    assert not netpol.flow_allowed(DNS, DB, 5432, [policy], NS)


def test_ports_and_protocols_must_match():
    policy = pol("udp-only", "app", {"matchLabels": {"app": "db"}}, ["Ingress"],
                 ingress=[{"ports": [{"port": 5432, "protocol": "UDP"}]}])
    assert not netpol.flow_allowed(WEB, DB, 5432, [policy], NS)
    assert netpol.flow_allowed(WEB, DB, 5432, [policy], NS, protocol="UDP")


@pytest.mark.parametrize("value,expected", [("500m", 0.5), ("2", 2.0), ("4Gi", 4 * 2 ** 30), ("1.5", 1.5), (3, 3.0)])
def test_quantities(value, expected):
    assert netpol.parse_quantity(value) == expected


def test_quota_shortfalls_name_the_value():
    assert netpol.quota_shortfalls({"requests.cpu": "2", "requests.memory": "4Gi"},
                                   {"requests.cpu": "2500m", "requests.memory": "1Gi"}) == [
        "requests.cpu quota 2 is below the workloads' 2500m"]
    with pytest.raises(netpol.BaselineError, match="'lots'"):
        netpol.parse_quantity("lots")


@pytest.mark.parametrize("bad", ["grafana", "-bad.example.com", "under_score.example.com", "a" * 64 + ".example.com", ""])
def test_bad_hostnames_are_refused(bad):
    with pytest.raises(netpol.BaselineError):
        netpol.check_hostname(bad)


def test_good_hostname():
    assert netpol.check_hostname("grafana.cxr.example.com") == "grafana.cxr.example.com"


def test_baseline_problems_name_each_value():
    from ansible_collections.cxr.mlops.plugins.filter.baseline import baseline_problems
    problems = baseline_problems(
        [{"name": "cxr-inference", "quota": {"requests.cpu": "1"}, "workload_requests": {"requests.cpu": "4"}}],
        "cxr_example", [{"name": "grafana"}], [{"name": "spot", "min_size": 5, "max_size": 2}])
    assert any("cluster_baseline_domain" in p and "cxr_example" in p for p in problems)
    assert any("requests.cpu quota 1 is below the workloads' 4" in p for p in problems)
    assert any("min_size 5 > max_size 2" in p for p in problems)
    assert baseline_problems([], "cxr.example.com", [{"name": "grafana"}], []) == []
