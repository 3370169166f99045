"""Issue 20 (3), the components priced as AWS bills them: CloudWatch alarms per evaluated metric and
Gateway Load Balancer endpoints (no longer called free).

Published AWS list prices (us-east-1, read on 2025-01-15):
  https://aws.amazon.com/cloudwatch/pricing/  - alarm, standard resolution $0.10 per alarm metric a month,
    high resolution (period under 60 s) $0.30; an anomaly-detection alarm counts 3 metrics; a metric-math
    alarm counts each metric it evaluates.
  https://aws.amazon.com/privatelink/pricing/ - Gateway Load Balancer endpoint $0.01 an hour, $0.0035 per GB.
"""

from __future__ import annotations

from ansible_collections.cxr.mlops.plugins.module_utils.cost import estimate
from cost_plans import comps, plan, res  # tests/support

STANDARD, HIGH_RES = 0.10, 0.30


def metric(name, period=300):
    return {"metric": [{"metric_name": name, "namespace": "AWS/EC2", "period": period, "stat": "Average"}]}


def test_alarms_are_priced_per_evaluated_metric_and_resolution():
    result = estimate(plan([
        ("aws_cloudwatch_metric_alarm", "plain", {"metric_name": "CPUUtilization", "period": 300}),
        ("aws_cloudwatch_metric_alarm", "fast", {"metric_name": "CPUUtilization", "period": 10}),
        ("aws_cloudwatch_metric_alarm", "math", {"metric_query": [
            dict(metric("RequestCount"), id="m1"), dict(metric("HTTPCode_Target_5XX_Count"), id="m2"),
            {"id": "e1", "expression": "m2 / m1 * 100", "return_data": True}]}),
        ("aws_cloudwatch_metric_alarm", "anomaly", {"threshold_metric_id": "ad1", "metric_query": [
            dict(metric("CPUUtilization"), id="m1"),
            {"id": "ad1", "expression": "ANOMALY_DETECTION_BAND(m1, 2)"}]}),
    ]), usage={"preset": "none"})
    assert comps(res(result, "aws_cloudwatch_metric_alarm.plain")) == [
        ("Standard resolution alarm metrics", 1, STANDARD, 0.10, False)]
    assert comps(res(result, "aws_cloudwatch_metric_alarm.fast")) == [
        ("High resolution alarm metrics", 1, HIGH_RES, 0.30, False)]
    assert comps(res(result, "aws_cloudwatch_metric_alarm.math")) == [
        ("Standard resolution metric math alarm metrics", 2, STANDARD, 0.20, False)]
    assert comps(res(result, "aws_cloudwatch_metric_alarm.anomaly")) == [
        ("Standard resolution anomaly detection alarm metrics", 3, STANDARD, 0.30, False)]


def test_gateway_load_balancer_endpoints_are_not_free():
    result = estimate(plan([("aws_vpc_endpoint", "inspection", {"vpc_endpoint_type": "GatewayLoadBalancer"}),
                            ("aws_vpc_endpoint", "s3", {"vpc_endpoint_type": "Gateway"})]),
                      usage={"preset": "none", "resources": {"aws_vpc_endpoint.inspection": {"data_processed_gb": 1000}}})
    assert comps(res(result, "aws_vpc_endpoint.inspection")) == [
        ("Gateway Load Balancer endpoint", 730, 0.01, 7.30, False), ("Data processed", 1000, 0.0035, 3.50, False)]
    assert res(result, "aws_vpc_endpoint.s3")["status"] == "free"


def test_provisioned_iops_volumes():
    # https://aws.amazon.com/ebs/pricing/ (us-east-1, 2025-01-15): io1 and io2 $0.125/GB-month; io1 $0.065 per
    # provisioned IOPS-month; io2 $0.065 up to 32,000 IOPS, $0.0455 for 32,001-64,000, $0.032 above 64,000
    result = estimate(plan([("aws_ebs_volume", "io1", {"type": "io1", "size": 100, "iops": 5000}),
                            ("aws_ebs_volume", "io2", {"type": "io2", "size": 100, "iops": 70000})]),
                      usage={"preset": "none"})
    assert comps(res(result, "aws_ebs_volume.io1")) == [
        ("Storage (io1)", 100, 0.125, 12.50, False), ("Provisioned IOPS", 5000, 0.065, 325.00, False)]
    assert comps(res(result, "aws_ebs_volume.io2")) == [
        ("Storage (io2)", 100, 0.125, 12.50, False),
        ("Provisioned IOPS (up to 32,000)", 32000, 0.065, 2080.00, False),
        ("Provisioned IOPS (32,001-64,000)", 32000, 0.0455, 1456.00, False),
        ("Provisioned IOPS (above 64,000)", 6000, 0.032, 192.00, False)]
