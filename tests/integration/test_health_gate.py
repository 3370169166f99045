"""Module cxr.mlops.health_gate against a real Prometheus scraping the real model exporters.

The gate runs through ansible-playbook with the role's own gate tasks (roles/blue_green_cutover/tasks/gate.yml: its
metric templates, the local inventory's thresholds and interval/count/limits). Like test_blue_green.py, the tests that change an exporter's behaviour use a
private Prometheus + exporters started with the sandbox's own code and configuration (ports 20850-20889); the
inventory wiring itself is checked read-only against the shared sandbox's Prometheus.
"""
from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest
from ansible.module_utils.urls import open_url

import sandbox as sandbox_mod
from ansible_collections.cxr.mlops.plugins.module_utils import health

sys.path.insert(0, str(Path(__file__).resolve().parent))  # works with any pytest import mode
from test_blue_green import metrics_stack, private_port_base, set_exporter  # noqa: E402,F401 (shared fixture)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

PLAYBOOK = """\
- name: The blue-green role's own gate (its metric templates, the inventory's thresholds)
  hosts: control
  gather_facts: false
  tasks:
    - name: Run the role's gate
      ansible.builtin.include_role:
        name: cxr.mlops.blue_green_cutover
        tasks_from: gate.yml
      vars:
        _blue_green_cutover_candidate: "{{ gate_color }}"
        _blue_green_cutover_gate_stage: test
        _blue_green_cutover_now: 0
        blue_green_cutover_version: "{{ gate_version }}"
    - name: Show the result
      ansible.builtin.debug:
        msg: "GATE={{ _blue_green_cutover_gate | to_json }}"
    - name: Fail unless the gate passed
      ansible.builtin.assert:
        that: _blue_green_cutover_gate.passed
"""

CHECK_PLAYBOOK = """\
- name: The gate module in check mode
  hosts: control
  gather_facts: false
  tasks:
    - name: Gate
      cxr.mlops.health_gate:
        prometheus_url: "{{ gate_prometheus_url }}"
        metrics:
          - {name: accuracy, query: 'min(model_accuracy{color="${color}",version="${version}"})', operator: '>=', threshold: 0.9}
        args: {color: green, version: "{{ gate_version }}"}
        interval: 1s
        count: 2
      register: gate
    - name: Show the result
      ansible.builtin.debug:
        msg: "GATE={{ gate | to_json }}"
"""


@pytest.fixture(scope="module")
def gate_playbook(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gate") / "gate.yml"
    path.write_text(PLAYBOOK)
    return path


def parse(res):
    gate = None
    for line in res.stdout.splitlines():
        if '"msg": "GATE=' in line:
            gate = json.loads(json.loads("{" + line.strip().rstrip(",") + "}")["msg"][5:])
    if gate is None:  # the module failed: read its result from the failure record
        start = res.stdout.find("FAILED! => ")
        if start >= 0:
            gate = json.JSONDecoder().raw_decode(res.stdout[start + len("FAILED! => "):])[0]
    return gate


def run_gate(ansible_playbook, playbook, prometheus=None, metrics=None, **extra):
    """The gate with the local inventory's settings; -e only for what the test changes."""
    if prometheus:
        extra["blue_green_cutover_prometheus_url"] = prometheus
    if metrics:
        extra["blue_green_cutover_gate_metrics"] = metrics
    res = ansible_playbook(playbook, env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=300, extra_vars=extra)
    return res, parse(res)


def test_healthy_candidate_passes_with_resolved_queries(ansible_playbook, gate_playbook, metrics_stack):
    set_exporter(metrics_stack, "green", "g-ok")
    res, gate = run_gate(ansible_playbook, gate_playbook, metrics_stack["prometheus"], gate_color="green", gate_version="g-ok")
    assert res.rc == 0 and gate["verdict"] == "passed", res
    assert gate["rounds"] == 3 and len(gate["measurements"]) == 12  # 4 checks x 3 rounds (local inventory: count 3)
    assert 'color="green",version="g-ok"' in gate["queries"]["accuracy"]
    assert "${" not in json.dumps(gate["queries"])
    acc = [m for m in gate["measurements"] if m["metric"] == "accuracy"]
    assert [m["value"] for m in acc] == [0.94, 0.94, 0.94]
    assert res.changed == 0


def test_the_gate_is_read_only_and_runs_in_check_mode(ansible_playbook, metrics_stack, tmp_path):
    set_exporter(metrics_stack, "green", "g-check", mode="degraded")
    playbook = tmp_path / "check.yml"
    playbook.write_text(CHECK_PLAYBOOK)
    res = ansible_playbook(playbook, "--check", env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=300,
                           extra_vars={"gate_prometheus_url": metrics_stack["prometheus"], "gate_version": "g-check"})
    gate = parse(res)
    assert res.rc != 0 and res.changed == 0, res
    assert gate["verdict"] == "failed" and gate["measurements"][0]["value"] == 0.71  # measured for real in check mode


def test_degraded_candidate_fails_with_the_accuracy_measurement(ansible_playbook, gate_playbook, metrics_stack):
    set_exporter(metrics_stack, "green", "g-bad", mode="degraded")
    res, gate = run_gate(ansible_playbook, gate_playbook, metrics_stack["prometheus"], gate_color="green", gate_version="g-bad")
    assert res.rc != 0 and gate["verdict"] == "failed", res
    assert gate["reason"].startswith("metric accuracy failed 1 of 1 measurements")
    assert "accuracy = 0.71, expected >= 0.9" in gate["reason"]
    assert gate["rounds"] == 1  # failure_limit 0: the first failed measurement ends the gate


def test_candidate_without_traffic_fails_the_gate(ansible_playbook, gate_playbook, metrics_stack):
    set_exporter(metrics_stack, "green", "g-idle", mode="no_traffic")
    res, gate = run_gate(ansible_playbook, gate_playbook, metrics_stack["prometheus"], gate_color="green",
                         gate_version="g-idle")
    assert res.rc != 0 and gate["verdict"] == "failed", res
    by_metric = {m["metric"]: m for m in gate["measurements"]}
    assert by_metric["request_rate"]["phase"] == "failed" and by_metric["request_rate"]["value"] == 0
    # the latency quantile of nothing is NaN: a failed measurement, never a pass
    assert by_metric["p95_latency_seconds"]["phase"] == "failed"


def test_version_without_series_is_no_data_and_fails(ansible_playbook, gate_playbook, metrics_stack):
    set_exporter(metrics_stack, "green", "g-ok")
    res, gate = run_gate(ansible_playbook, gate_playbook, metrics_stack["prometheus"], gate_color="green",
                         gate_version="never-deployed")
    assert res.rc != 0 and gate["verdict"] == "failed", res
    assert "no data" in gate["reason"]


def test_unreachable_prometheus_is_an_error_that_fails_the_gate(ansible_playbook, gate_playbook):
    with socket.socket() as s:  # a port with nothing behind it
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    res, gate = run_gate(ansible_playbook, gate_playbook, "http://127.0.0.1:%d" % dead, gate_color="green",
                         gate_version="v1")
    assert res.rc != 0 and gate["verdict"] == "error", res
    assert "did not answer" in gate["reason"]
    assert all(m["phase"] == "error" for m in gate["measurements"])


def test_bad_gate_configuration_is_refused_before_querying(ansible_playbook, gate_playbook):
    res, gate = run_gate(ansible_playbook, gate_playbook, "http://127.0.0.1:9", gate_color="green", gate_version="v1",
                         metrics=[{"name": "accuracy", "query": 'model_accuracy{color="${colour}"}', "threshold": 0.9}])
    assert res.rc != 0, res
    assert "invalid configuration" in gate["msg"] and "${colour}" in gate["msg"]


def test_every_series_is_judged_one_bad_series_fails_the_gate(ansible_playbook, gate_playbook, metrics_stack):
    """Issue 15 defect 4: two series (one per color) against '<= 0.1'; the old default (min) passed on the good one."""
    set_exporter(metrics_stack, "green", "g-multi")
    set_exporter(metrics_stack, "blue", "g-multi", mode="degraded")
    metrics = [{"name": "inaccuracy", "query": '1 - model_accuracy{version="${version}"}', "operator": "<=", "threshold": 0.1}]
    res, gate = run_gate(ansible_playbook, gate_playbook, metrics_stack["prometheus"], metrics=metrics,
                         gate_color="green", gate_version="g-multi")
    assert res.rc != 0 and gate["verdict"] == "failed", res
    first = gate["measurements"][0]
    assert first["samples"] == 2 and first["value"] == pytest.approx(0.29)
    assert "series" in gate["reason"] and "expected <= 0.1 for every series" in gate["reason"]


def test_a_query_prometheus_cannot_parse_is_a_configuration_error_at_once(ansible_playbook, gate_playbook, metrics_stack):
    """Issue 15 defect 5: HTTP 400 bad_data is reported at once with Prometheus' message, never retried."""
    metrics = [{"name": "accuracy", "query": 'min(model_accuracy{color="${color}"', "threshold": 0.9}]
    res, gate = run_gate(ansible_playbook, gate_playbook, metrics_stack["prometheus"], metrics=metrics,
                         gate_color="green", gate_version="v1")
    assert res.rc != 0 and gate["verdict"] == "error", res
    assert gate["configuration_error"] is True and gate["rounds"] == 1 and len(gate["measurements"]) == 1
    assert "HTTP 400" in gate["reason"] and "parse error" in gate["reason"]


def test_a_negative_timeout_is_refused_before_any_query(ansible_playbook, gate_playbook, metrics_stack):
    """Issue 15 defect 5: the role passes its timeout to the gate, which refuses one that is not > 0."""
    res, gate = run_gate(ansible_playbook, gate_playbook, metrics_stack["prometheus"], gate_color="green",
                         gate_version="v1", blue_green_cutover_gate_timeout=-1)
    assert res.rc != 0, res
    assert "invalid configuration" in gate["msg"] and "timeout" in gate["msg"]
    assert "measurements" not in gate


def test_prometheus_stopped_mid_gate_fails_closed(tmp_path):
    """A second private Prometheus (same scrape configuration) is stopped between two rounds of a real gate."""
    base = private_port_base()
    box = sandbox_mod.Sandbox(tmp_path / "stack", port_base=base)
    box.up(["blue", "green", "prometheus"])
    try:
        ep = box.endpoints()
        set_exporter({"green": ep["exporters"]["green"], "prometheus": ep["prometheus"]}, "green", "v-mid")
        metrics = [{"name": "accuracy", "query": 'min(model_accuracy{color="${color}",version="${version}"})',
                    "operator": ">=", "threshold": 0.9}]
        rounds = []

        def sleep_then_stop(seconds):
            rounds.append(seconds)
            if len(rounds) == 2:  # after two good rounds, Prometheus goes away
                box._stop("prometheus")
            time.sleep(seconds)

        result = health.run_gate(metrics, health.prometheus_query_fn(ep["prometheus"], open_url, timeout=2),
                                 variables={"color": "green", "version": "v-mid"}, count=6, interval=0.2,
                                 consecutive_error_limit=2, sleep_fn=sleep_then_stop)
    finally:
        box.down()
    phases = [m["phase"] for m in result["measurements"]]
    assert phases[:2] == ["successful", "successful"], result
    assert result["verdict"] == "error" and not result["passed"]
    assert phases[2:] == ["error", "error", "error"] and "errored 3 times in a row" in result["reason"]


def test_the_local_inventory_reaches_the_sandbox_prometheus(ansible_playbook, gate_playbook, sandbox):
    """Read-only: the shared sandbox's Prometheus through the local inventory's URL scrapes both exporters."""
    res, gate = run_gate(ansible_playbook, gate_playbook, gate_color="blue", gate_version="any",
                         cxr_sandbox_port_base=sandbox["port_base"],
                         metrics=[{"name": "targets_up", "query": 'sum(up{job="cxr-inference"})',
                                        "operator": "==", "threshold": 2}])
    assert res.rc == 0 and gate["verdict"] == "passed", res
    assert gate["measurements"][0]["value"] == 2.0
