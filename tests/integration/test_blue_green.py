"""Role cxr.mlops.blue_green_cutover through real ansible-playbook runs of playbooks/release.yml and
playbooks/rollback.yml.

The Deployments and Services go to the cluster of the ``kubeconfig`` fixture (the sandbox's Kubernetes API test
server, or a real cluster through KUBECONFIG); each test uses its own namespace. The gates query a real Prometheus
scraping real blue and green model exporters (tests/support/model_exporter.py). These tests change the exporters'
behaviour (degraded, no traffic, version labels), so they run a *private* set of them plus a private Prometheus with
the sandbox's own configuration (tests/support/sandbox.py, parts blue, green, prometheus) on ports of this suite's
range: other suites that share the sandbox never see a degraded green because of this file, and vice versa.
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

import sandbox as sandbox_mod

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "playbooks" / "release.yml"
ROLLBACK = ROOT / "playbooks" / "rollback.yml"
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cxr-inference"
WINDOW = 3  # rollback window of these tests, seconds

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.cluster]


def image(char: str) -> str:
    return "%s@sha256:%s" % (REPO, char * 64)


def private_port_base() -> int:
    """Seven free ports for a private Prometheus + exporters (each call a block of its own: the
    session fixture exists once per module that imports it, and xdist workers run side by side)."""
    from tests.conftest import free_port_base
    return free_port_base()


@pytest.fixture(scope="session")
def metrics_stack(tmp_path_factory):
    """A private Prometheus scraping private blue/green exporters, configured exactly like the sandbox's."""
    base = int(os.environ.get("CXR_BG_METRICS_PORT_BASE") or private_port_base())
    box = sandbox_mod.Sandbox(tmp_path_factory.mktemp("bg-metrics"), port_base=base)
    box.up(["blue", "green", "prometheus"])
    ep = box.endpoints()
    yield {"prometheus": ep["prometheus"], "blue": ep["exporters"]["blue"], "green": ep["exporters"]["green"], "box": box}
    box.down()


def control(url: str, **body) -> dict:
    req = urllib.request.Request(url + "/control", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())


def wait_for_series(prom: str, color: str, version: str, timeout: float = 15) -> None:
    """Wait until Prometheus has scraped the exporter with this version (two samples, so rate() works)."""
    query = 'count_over_time(model_accuracy{color="%s",version="%s"}[30s])' % (color, version)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": query}), timeout=5) as r:
            result = json.loads(r.read())["data"]["result"]
        if result and float(result[0]["value"][1]) >= 3:
            return
        time.sleep(0.5)
    raise AssertionError("Prometheus has no series for %s %s after %ss" % (color, version, timeout))


def set_exporter(stack, color: str, version: str, mode: str = "healthy", wait: bool = True) -> None:
    control(stack[color], mode=mode, version=version)
    if wait:
        wait_for_series(stack["prometheus"], color, version)


class Cluster:
    def __init__(self, kubeconfig: str, namespace: str):
        self.api = k8s_config.new_client_from_config(config_file=kubeconfig)
        self.core = k8s_client.CoreV1Api(self.api)
        self.apps = k8s_client.AppsV1Api(self.api)
        self.ns = namespace

    def service(self, name="cxr-inference"):
        return self.core.read_namespaced_service(name, self.ns)

    def selector_color(self) -> str:
        return self.service().spec.selector["color"]

    def annotations(self) -> dict:
        return dict(self.service().metadata.annotations or {})

    def deployment(self, color: str):
        return self.apps.read_namespaced_deployment("cxr-inference-%s" % color, self.ns)

    def replicas(self, color: str) -> int:
        return self.deployment(color).spec.replicas

    def events(self) -> list:
        return self.core.list_namespaced_event(self.ns).items

    def delete_namespace(self) -> None:
        try:
            self.core.delete_namespace(self.ns)
        except k8s_client.ApiException:
            pass


@pytest.fixture
def cluster(kubeconfig):
    c = Cluster(kubeconfig, "bg-%s" % uuid.uuid4().hex[:8])
    yield c
    c.delete_namespace()


class Runner:
    """Runs the release/rollback playbooks against the test's namespace and the private metrics stack."""

    def __init__(self, ansible_playbook, kubeconfig, cluster, stack, sandbox):
        self.run_playbook = ansible_playbook
        self.base = {
            "blue_green_cutover_kubeconfig": kubeconfig,
            "blue_green_cutover_namespace": cluster.ns,
            "blue_green_cutover_prometheus_url": stack["prometheus"],
            "blue_green_cutover_rollback_window_seconds": WINDOW,
            "cxr_aws_endpoint_url": sandbox["moto"],
        }

    def release(self, version, img, *args, **extra):
        return self.run_playbook(RELEASE, *args, env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=600,
                                 extra_vars={**self.base, "blue_green_cutover_image": img,
                                             "blue_green_cutover_version": version, **extra})

    def rollback(self, *args, **extra):
        return self.run_playbook(ROLLBACK, *args, env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=600,
                                 extra_vars={**self.base, **extra})


@pytest.fixture
def runner(ansible_playbook, kubeconfig, cluster, metrics_stack, sandbox):
    return Runner(ansible_playbook, kubeconfig, cluster, metrics_stack, sandbox)


@pytest.fixture
def v1_on_blue(runner, cluster, metrics_stack):
    """The first release: v1 on blue, the Service created selecting blue."""
    set_exporter(metrics_stack, "blue", "v1")
    first = runner.release("v1", image("a"))
    assert first.rc == 0, first
    assert cluster.selector_color() == "blue"
    assert cluster.annotations()["cxr.mlops/phase"] == "complete"
    return first


class Watcher(threading.Thread):
    """Polls the Service selector and the old color's replicas to time the switch and the scale-down."""

    def __init__(self, cluster, old: str):
        super().__init__(daemon=True)
        self.cluster, self.old = cluster, old
        self.switched_at = self.scaled_down_at = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                if self.switched_at is None and self.cluster.selector_color() != self.old:
                    self.switched_at = time.monotonic()
                if self.switched_at is not None and self.scaled_down_at is None and self.cluster.replicas(self.old) == 0:
                    self.scaled_down_at = time.monotonic()
            except k8s_client.ApiException:
                pass
            time.sleep(0.1)


def make_alb(aws_env: dict) -> dict:
    """An ALB listener forwarding 100/0 to a blue and a green target group, created in moto with boto3."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    ec2 = session.client("ec2", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    elb = session.client("elbv2", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    suffix = uuid.uuid4().hex[:6]
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.%d.0/24" % i, AvailabilityZone="us-east-1" + az)
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb = elb.create_load_balancer(Name="bg-" + suffix, Subnets=subnets, Type="application")["LoadBalancers"][0]
    tgs = {c: elb.create_target_group(Name="bg-%s-%s" % (suffix, c), Protocol="HTTP", Port=8080, VpcId=vpc,
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"] for c in ("blue", "green")}
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tgs["blue"], "Weight": 100}, {"TargetGroupArn": tgs["green"], "Weight": 0}]}}],
    )["Listeners"][0]["ListenerArn"]
    elb.register_targets(TargetGroupArn=tgs["blue"], Targets=[{"Id": "10.77.1.10", "Port": 8080}])

    def weights():
        action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
        by_arn = {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}
        return {c: by_arn[arn] for c, arn in tgs.items()}

    return {"listener": listener, "tgs": tgs, "elb": elb, "weights": weights}


def test_healthy_green_is_promoted_behind_the_alb_then_noop_check_mode_and_manual_rollback(
        runner, cluster, metrics_stack, v1_on_blue, aws_env):
    alb = make_alb(aws_env)
    alb_vars = {"blue_green_cutover_alb_listener_arn": alb["listener"],
                "blue_green_cutover_alb_target_group_arns": alb["tgs"]}
    set_exporter(metrics_stack, "green", "v2")
    # Green's pods are registered in their target group (the AWS Load Balancer Controller does this on EKS).
    alb["elb"].register_targets(TargetGroupArn=alb["tgs"]["green"], Targets=[{"Id": "10.77.1.20", "Port": 8080}])

    watcher = Watcher(cluster, "blue")
    watcher.start()
    second = runner.release("v2", image("b"), **alb_vars)
    watcher.stop.set()
    watcher.join()
    assert second.rc == 0, second
    assert cluster.selector_color() == "green"
    assert alb["weights"]() == {"blue": 0, "green": 100}
    ann = cluster.annotations()
    assert ann["cxr.mlops/active-color"] == "green" and ann["cxr.mlops/active-version"] == "v2"
    assert ann["cxr.mlops/phase"] == "complete" and ann["cxr.mlops/previous-color"] == "blue"
    assert ann["cxr.mlops/last-result"].startswith("succeeded: v2 on green")
    assert cluster.replicas("blue") == 0 and cluster.replicas("green") == 1
    assert cluster.deployment("green").spec.template.spec.containers[0].image == image("b")
    # blue kept serving capacity for the rollback window after the switch, and was scaled down after it
    assert watcher.switched_at and watcher.scaled_down_at
    assert watcher.scaled_down_at - watcher.switched_at >= WINDOW - 0.5

    again = runner.release("v2", image("b"), **alb_vars)
    assert again.rc == 0 and again.changed == 0, again

    before = cluster.annotations()
    check = runner.release("v3", image("c"), "--check", "--diff", **alb_vars)
    assert check.rc == 0, check
    assert check.changed > 0 and "Releasing v3 to blue" in check.stdout
    assert cluster.annotations() == before and cluster.selector_color() == "green"
    assert cluster.replicas("blue") == 0 and alb["weights"]() == {"blue": 0, "green": 100}

    back = runner.rollback(**alb_vars)
    assert back.rc == 0, back
    assert cluster.selector_color() == "blue" and cluster.replicas("blue") == 1 and cluster.replicas("green") == 0
    assert alb["weights"]() == {"blue": 100, "green": 0}
    ann = cluster.annotations()
    assert ann["cxr.mlops/phase"] == "rolled-back" and "rolled back by hand from green (v2)" in ann["cxr.mlops/last-result"]
    assert any(e.reason == "ManualRollback" for e in cluster.events())
    again = runner.rollback(**alb_vars)
    assert again.rc == 0 and again.changed == 0, again


def test_failed_gates_roll_back_and_keep_the_old_color_serving(runner, cluster, metrics_stack, v1_on_blue, aws_env):
    # 1. Pre-switch gate: a degraded green (accuracy 0.71) never gets traffic.
    set_exporter(metrics_stack, "green", "v2", mode="degraded")
    failed = runner.release("v2", image("b"))
    assert failed.rc != 0 and failed.recap["localhost"]["failed"] == 1, failed
    assert "accuracy = 0.71, expected >= 0.9" in failed.stdout
    assert "Traffic stays on blue" in failed.stdout
    assert 'model_accuracy{service=\\"cxr-inference\\",color=\\"green\\",version=\\"v2\\"}' in failed.stdout
    assert cluster.selector_color() == "blue"
    ann = cluster.annotations()
    assert ann["cxr.mlops/phase"] == "failed" and "accuracy = 0.71" in ann["cxr.mlops/last-result"]
    green = cluster.deployment("green")
    assert green.metadata.annotations["cxr.mlops/release-status"] == "failed" and green.spec.replicas == 0
    assert cluster.replicas("blue") == 1
    assert any(e.reason == "ReleaseBlocked" and "accuracy" in e.message for e in cluster.events())

    # 2. Post-switch gate: green passes before the switch and degrades right after it: switched back at once.
    set_exporter(metrics_stack, "green", "v3")

    def degrade_after_switch():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if cluster.selector_color() == "green":
                    control(metrics_stack["green"], mode="degraded")
                    return
            except k8s_client.ApiException:
                pass
            time.sleep(0.05)

    t = threading.Thread(target=degrade_after_switch, daemon=True)
    t.start()
    rolled = runner.release("v3", image("c"), blue_green_cutover_gate_count=6)
    t.join(timeout=5)
    assert rolled.rc != 0, rolled
    assert "post-switch" in rolled.stdout and "accuracy = 0.71" in rolled.stdout
    assert cluster.selector_color() == "blue" and cluster.replicas("blue") == 1 and cluster.replicas("green") == 0
    ann = cluster.annotations()
    assert ann["cxr.mlops/phase"] == "rolled-back" and ann["cxr.mlops/active-color"] == "blue"
    assert ann["cxr.mlops/last-result"].startswith("failed: post-switch on green v3: metric accuracy failed")
    assert any(e.reason == "ReleaseRolledBack" for e in cluster.events())

    # 3. Behind an ALB, green targets that never become healthy stop the cutover before any switch.
    alb = make_alb(aws_env)
    set_exporter(metrics_stack, "green", "v4")
    blocked = runner.release("v4", image("d"), blue_green_cutover_alb_listener_arn=alb["listener"],
                             blue_green_cutover_alb_target_group_arns=alb["tgs"],
                             blue_green_cutover_alb_health_timeout_seconds=2)
    assert blocked.rc != 0, blocked
    assert "green target group" in blocked.stdout and "no registered targets" in blocked.stdout
    assert cluster.selector_color() == "blue" and alb["weights"]() == {"blue": 100, "green": 0}


def test_interrupted_cutover_resumes_to_one_consistent_color(runner, cluster, metrics_stack, v1_on_blue):
    set_exporter(metrics_stack, "green", "v2")
    # Interrupted after the deploy: traffic still on blue, the candidate recorded.
    cut = runner.release("v2", image("b"), blue_green_cutover_stop_after="deploy")
    assert cut.rc == 0, cut
    ann = cluster.annotations()
    assert cluster.selector_color() == "blue"
    assert ann["cxr.mlops/phase"] == "deploying" and ann["cxr.mlops/candidate-color"] == "green"
    # Interrupted again, right after the switch: green serves, blue is still up, the post-switch gate pending.
    cut = runner.release("v2", image("b"), blue_green_cutover_stop_after="switch")
    assert cut.rc == 0, cut
    assert cluster.selector_color() == "green" and cluster.replicas("blue") == 1
    assert cluster.annotations()["cxr.mlops/phase"] == "post-gate"
    # The rerun resumes: post-switch gate, rollback window, blue scaled down, one color.
    resumed = runner.release("v2", image("b"))
    assert resumed.rc == 0, resumed
    assert "Resuming the cutover to green (phase post-gate)" in resumed.stdout
    assert cluster.selector_color() == "green" and cluster.replicas("blue") == 0
    ann = cluster.annotations()
    assert ann["cxr.mlops/phase"] == "complete" and ann["cxr.mlops/active-version"] == "v2"


@pytest.mark.parametrize("extra,message", [
    ({"blue_green_cutover_image": REPO + ":latest"}, "must be an image pinned by digest"),
    ({"blue_green_cutover_image": REPO + ":v2@sha256:" + "a" * 64}, "must be an image pinned by digest"),
    ({"blue_green_cutover_min_accuracy": 1.5}, "blue_green_cutover_min_accuracy=1.5"),
    ({"blue_green_cutover_gate_failure_limit": 3}, "blue_green_cutover_gate_failure_limit=3"),
    ({"blue_green_cutover_alb_listener_arn": "listener-1"}, "must be an ALB listener ARN"),
])
def test_bad_input_is_refused_before_any_change(runner, cluster, extra, message):
    args = {"blue_green_cutover_image": image("a"), "blue_green_cutover_version": "v1", **extra}
    res = runner.run_playbook(RELEASE, env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=300,
                              extra_vars={**runner.base, **args})
    assert res.rc != 0 and message in res.stdout, res
    assert res.changed == 0
    with pytest.raises(k8s_client.ApiException) as exc:
        cluster.core.read_namespace(cluster.ns)
    assert exc.value.status == 404


def test_rollback_never_promotes_a_failed_or_ungated_candidate(runner, cluster, metrics_stack, v1_on_blue):
    # 1. A release blocked by its pre-switch gate, then a rollback: blue keeps serving, green stays down.
    set_exporter(metrics_stack, "green", "v2", mode="degraded")
    assert runner.release("v2", image("b")).rc != 0
    back = runner.rollback()
    assert back.rc == 0, back
    assert "never got traffic" in back.stdout
    assert cluster.selector_color() == "blue" and cluster.replicas("blue") == 1 and cluster.replicas("green") == 0
    # naming the failed color is refused with what was found, and changes nothing
    named = runner.rollback(blue_green_cutover_rollback_to="green")
    assert named.rc != 0 and "never passed its health gates" in named.stdout and named.changed == 0, named
    assert cluster.selector_color() == "blue"

    # 2. An interrupted deploy, then a rollback: no switch to the ungated candidate; it is scaled down.
    set_exporter(metrics_stack, "green", "v3")
    cut = runner.release("v3", image("c"), blue_green_cutover_stop_after="deploy")
    assert cut.rc == 0 and cluster.replicas("green") == 1, cut
    back = runner.rollback()
    assert back.rc == 0, back
    assert cluster.selector_color() == "blue" and cluster.replicas("blue") == 1 and cluster.replicas("green") == 0
    assert cluster.deployment("green").metadata.annotations["cxr.mlops/release-status"] == "abandoned"
    assert any(e.reason == "ReleaseAbandoned" for e in cluster.events())
    again = runner.rollback()
    assert again.rc == 0 and again.changed == 0, again


def test_a_release_while_a_switch_is_unverified_rolls_it_back_first(runner, cluster, metrics_stack, v1_on_blue):
    set_exporter(metrics_stack, "green", "v2")
    cut = runner.release("v2", image("b"), blue_green_cutover_stop_after="switch")
    assert cut.rc == 0 and cluster.selector_color() == "green", cut
    assert cluster.annotations()["cxr.mlops/phase"] == "post-gate" and cluster.annotations()["cxr.mlops/deadline"]
    # A new image while green's switch is unverified: back to blue (known-good) first, then v3 goes to green,
    # never over blue.
    set_exporter(metrics_stack, "green", "v3")
    rel = runner.release("v3", image("c"))
    assert rel.rc == 0, rel.stdout[-2500:]
    assert "Rolled back first" in rel.stdout and "was never verified" in rel.stdout
    assert any(e.reason == "AutomaticRollback" for e in cluster.events())
    assert cluster.selector_color() == "green"
    assert cluster.deployment("green").spec.template.spec.containers[0].image == image("c")
    assert cluster.deployment("blue").spec.template.spec.containers[0].image == image("a")
    assert cluster.deployment("green").metadata.annotations["cxr.mlops/verified-image"] == image("c")


def test_an_overdue_unverified_switch_is_rolled_back_by_the_next_run(runner, cluster, metrics_stack, v1_on_blue):
    # Gate worst case 1 round x 4 metrics x 1 s, no margin: the deadline is 4 s after the switch.
    quick = {"blue_green_cutover_gate_count": 1, "blue_green_cutover_gate_failure_limit": 0,
             "blue_green_cutover_gate_timeout": 1, "blue_green_cutover_deadline_margin_seconds": 0}
    set_exporter(metrics_stack, "green", "v2")
    cut = runner.release("v2", image("b"), blue_green_cutover_stop_after="switch", **quick)
    assert cut.rc == 0 and cluster.selector_color() == "green", cut
    ann = cluster.annotations()
    assert float(ann["cxr.mlops/deadline"]) - float(ann["cxr.mlops/switched-at"]) == pytest.approx(4, abs=0.01)
    time.sleep(max(0.0, float(ann["cxr.mlops/deadline"]) - time.time()) + 0.5)
    back = runner.rollback(**quick)
    assert back.rc == 0, back
    assert "never finished: its deadline passed" in back.stdout
    assert cluster.selector_color() == "blue" and cluster.replicas("green") == 0
    assert cluster.annotations()["cxr.mlops/phase"] == "rolled-back"
