#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: health_gate
short_description: Gate a release on Prometheus measurements (accuracy, latency, errors, traffic)
version_added: 0.1.0
description:
  - Evaluates Prometheus instant queries for a candidate (a color and version of the inference service) in
    rounds, with C(interval), C(count), C(failure_limit) and C(consecutive_error_limit) semantics like Argo Rollouts
    analysis and Flagger canary checks.
  - A query that returns B(no data) is a B(failed) measurement, never a pass.
  - A Prometheus that cannot be reached, an HTTP error or a query error is an B(error) measurement. Errors are
    never counted as successes, so a gate whose measurements errored ends with verdict C(error) and fails.
  - The gate is C(failed) as soon as one metric has more than O(failure_limit) failed measurements, C(error) as soon
    as one metric has more than O(consecutive_error_limit) errors in a row. After O(count) rounds it is C(passed) only
    if every metric has at least O(count) - O(failure_limit) successful measurements.
  - Query templates use C(${name}) placeholders filled from O(args) (for example C(${color}) and C(${version})); the
    resolved queries are returned.
  - The gate only reads from Prometheus, so it runs in check mode too and reports the real verdict.
author:
  - cxr.mlops platform engineers
options:
  prometheus_url:
    description: Base URL of the Prometheus HTTP API (without C(/api/v1)).
    type: str
    required: true
  metrics:
    description: The checks. Each is a PromQL query compared to a threshold.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique name of the check (used in messages and results).
        type: str
        required: true
      query:
        description: PromQL instant query template; C(${color}), C(${version}) and the other O(args) keys are substituted.
        type: str
        required: true
      operator:
        description: How a value is compared to O(metrics[].threshold) for the measurement to succeed.
        type: str
        choices: ['>=', '<=', '>', '<', '==', '!=']
        default: '>='
      threshold:
        description: The threshold.
        type: float
        required: true
      aggregation:
        description:
          - How several returned series are judged.
          - C(all) (the default, like Argo Rollouts' C(all(result, ...))) judges every series on its own; each must hold.
          - C(min), C(max), C(avg), C(sum) and C(first) reduce the series to one value first; use them only when that is meant.
          - Whatever the choice, an empty result or a NaN or infinite value in any series fails the measurement.
        type: str
        choices: [all, min, max, avg, sum, first]
        default: all
  args:
    description: Values substituted into the query templates (for example C(color), C(version), C(service)).
    type: dict
    default: {}
  interval:
    description: Time between two rounds of measurements, in seconds or with a unit (C(500ms), C(1s), C(1m)).
    type: str
    default: '30s'
  count:
    description: Number of rounds.
    type: int
    default: 5
  failure_limit:
    description: Failed measurements of one metric that are tolerated; one more fails the gate (Argo C(failureLimit)).
    type: int
    default: 0
  consecutive_error_limit:
    description: Consecutive errored measurements of one metric that are tolerated before the gate ends in C(error).
    type: int
    default: 4
  timeout:
    description:
      - Timeout of one HTTP request to Prometheus, in seconds; must be > 0.
      - A request that times out is an errored measurement, counted against O(consecutive_error_limit).
    type: float
    default: 10
  validate_certs:
    description: Verify the TLS certificate of an C(https) Prometheus.
    type: bool
    default: true
  headers:
    description: Extra HTTP headers (for example an C(Authorization) header for a managed Prometheus); never logged.
    type: dict
    default: {}
  fail_on_failure:
    description:
      - When true, a verdict other than C(passed) fails the task with the reason and every measurement.
      - Set it to false to branch on RV(passed) (the blue-green role does, to roll back before failing).
    type: bool
    default: true
notes:
  - Supports check mode (the gate is read-only; it queries Prometheus in check mode as well).
  - Uses only the Python standard library through C(ansible.module_utils.urls).
seealso:
  - name: Argo Rollouts analysis
    description: The interval, count, failureLimit and consecutiveErrorLimit semantics this module follows.
    link: https://argo-rollouts.readthedocs.io/en/stable/features/analysis/
"""

EXAMPLES = r"""
- name: Pre-switch gate on the green candidate
  cxr.mlops.health_gate:
    prometheus_url: http://prometheus.monitoring:9090
    args:
      color: green
      version: v2
    interval: 30s
    count: 5
    failure_limit: 1
    metrics:
      - name: accuracy
        query: min(model_accuracy{service="cxr-inference",color="${color}",version="${version}"})
        operator: '>='
        threshold: 0.9
      - name: p95_latency_seconds
        query: >-
          histogram_quantile(0.95, sum by (le) (rate(inference_request_duration_seconds_bucket{color="${color}"}[1m])))
        operator: '<='
        threshold: 0.5
      - name: request_rate
        query: sum(rate(inference_requests_total{color="${color}"}[1m]))
        operator: '>'
        threshold: 0
  register: gate

- name: Let the caller decide (no failure on a failed gate)
  cxr.mlops.health_gate:
    prometheus_url: http://127.0.0.1:9090
    metrics: "{{ my_checks }}"
    args: {color: green, version: v2}
    fail_on_failure: false
  register: gate
"""

RETURN = r"""
verdict:
  description: C(passed), C(failed) (a metric exceeded O(failure_limit)) or C(error) (Prometheus could not answer).
  returned: always
  type: str
  sample: failed
configuration_error:
  description: True when Prometheus rejected a query (HTTP 4xx, C(bad_data)); the gate then ends C(error) at once, without retries.
  returned: always
  type: bool
passed:
  description: True when the verdict is C(passed).
  returned: always
  type: bool
reason:
  description: Why the gate ended as it did, naming the metric and its value.
  returned: always
  type: str
  sample: "metric accuracy failed 1 of 1 measurements (failure_limit 0); last: accuracy = 0.71, expected >= 0.9"
queries:
  description: The resolved queries by metric name (placeholders substituted).
  returned: always
  type: dict
  sample: {accuracy: 'min(model_accuracy{color="green",version="v2"})'}
measurements:
  description: Every measurement in order.
  returned: always
  type: list
  elements: dict
  contains:
    metric: {description: Metric name., type: str, returned: always}
    round: {description: Round number (1-based)., type: int, returned: always}
    phase: {description: C(successful), C(failed), C(error) or C(rejected) (Prometheus refused the query)., type: str, returned: always}
    value: {description: The measured value (the first failing series; null when there was no data or an error)., type: float, returned: always}
    values: {description: Every series value the query returned., type: list, elements: float, returned: when Prometheus answered}
    samples: {description: Number of series the query returned., type: int, returned: always}
    message: {description: Human-readable outcome., type: str, returned: always}
    query: {description: The resolved query., type: str, returned: always}
    started_at: {description: Unix time of the measurement., type: float, returned: always}
metrics:
  description: Per metric counts of successful, failed and errored measurements, consecutive errors and the last value.
  returned: always
  type: dict
rounds:
  description: Rounds performed (fewer than O(count) when the gate stopped early).
  returned: always
  type: int
started_at:
  description: Unix time the gate started.
  returned: always
  type: float
finished_at:
  description: Unix time the gate reached its verdict.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.cxr.mlops.plugins.module_utils.health import (
    GateConfigError,
    prometheus_query_fn,
    run_gate,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            prometheus_url=dict(type="str", required=True),
            metrics=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                query=dict(type="str", required=True),
                operator=dict(type="str", default=">=", choices=[">=", "<=", ">", "<", "==", "!="]),
                threshold=dict(type="float", required=True),
                aggregation=dict(type="str", default="all", choices=["all", "min", "max", "avg", "sum", "first"]),
            )),
            args=dict(type="dict", default={}),
            interval=dict(type="str", default="30s"),
            count=dict(type="int", default=5),
            failure_limit=dict(type="int", default=0),
            consecutive_error_limit=dict(type="int", default=4),
            timeout=dict(type="float", default=10),
            validate_certs=dict(type="bool", default=True),
            headers=dict(type="dict", default={}, no_log=True),
            fail_on_failure=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["prometheus_url"].startswith(("http://", "https://")):
        module.fail_json(msg="prometheus_url must be an http:// or https:// URL, got %r" % p["prometheus_url"])
    try:
        query_fn = prometheus_query_fn(p["prometheus_url"], open_url, timeout=p["timeout"], headers=p["headers"],
                                       validate_certs=p["validate_certs"])
        result = run_gate(p["metrics"], query_fn, variables=p["args"], count=p["count"], interval=p["interval"],
                          failure_limit=p["failure_limit"], consecutive_error_limit=p["consecutive_error_limit"],
                          timeout=p["timeout"])
    except GateConfigError as exc:
        module.fail_json(msg="health_gate: invalid configuration: %s" % exc)
    if not result["passed"] and p["fail_on_failure"]:
        module.fail_json(msg="health gate %s: %s" % (result["verdict"], result["reason"]), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
