#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: blue_green_alb_weights
short_description: Move an ALB listener's traffic to one color, only once that color's targets are healthy
version_added: 0.1.0
description:
  - Reads the target health of the target group of O(active) with C(elbv2 describe_target_health) and waits until
    every registered target is C(healthy) (a target group with no registered target is never healthy).
  - Then sets the weights of the listener's default C(forward) action to 100 for the O(active) color and 0 for the
    other one. Nothing is changed while the targets are not healthy; the module fails naming each target's state.
  - Supports check mode and diff mode; the health check still runs in check mode because it only reads.
  - The C(cxr.mlops.blue_green_cutover) role calls it when
    C(blue_green_cutover_alb_listener_arn) is set.
author:
  - cxr.mlops platform engineers
options:
  listener_arn:
    description: ARN of the ALB listener whose default action forwards to both target groups.
    type: str
    required: true
  target_group_arns:
    description: Target group ARN of each color.
    type: dict
    required: true
    suboptions:
      blue:
        description: Target group of the blue Deployment.
        type: str
        required: true
      green:
        description: Target group of the green Deployment.
        type: str
        required: true
  active:
    description: The color that gets all the traffic.
    type: str
    required: true
    choices: [blue, green]
  require_healthy:
    description: Wait for the active color's targets to be healthy before moving the weights.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for healthy targets.
    type: int
    default: 300
  wait_delay:
    description: Seconds between two health reads.
    type: int
    default: 5
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Send all ALB traffic to green once its targets are healthy
  cxr.mlops.blue_green_alb_weights:
    listener_arn: "{{ listener_arn }}"
    target_group_arns: {blue: "{{ tg_blue }}", green: "{{ tg_green }}"}
    active: green
"""

RETURN = r"""
weights:
  description: Listener weights after the call, by color.
  returned: always
  type: dict
  sample:
    blue: 0
    green: 100
target_health:
  description: Targets of the active color's target group and their health.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Target id (an IP for ip target groups)., type: str, returned: always, sample: 10.0.1.10}
    port: {description: Target port., type: int, returned: always, sample: 8080}
    state: {description: Health state from describe_target_health., type: str, returned: always, sample: healthy}
    reason: {description: Reason code when not healthy., type: str, returned: always}
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def target_health(client, arn):
    described = client.describe_target_health(aws_retry=True, TargetGroupArn=arn)["TargetHealthDescriptions"]
    return [{"id": d["Target"]["Id"], "port": d["Target"].get("Port"), "state": d["TargetHealth"]["State"],
             "reason": d["TargetHealth"].get("Reason")} for d in described]


def current_weights(listener, arns):
    by_arn = {v: k for k, v in arns.items()}
    weights = {"blue": 0, "green": 0}
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups is None and action.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        total = sum(g.get("Weight", 1) for g in groups or []) or 1
        for g in groups or []:
            color = by_arn.get(g["TargetGroupArn"])
            if color:
                weights[color] = int(round(100.0 * g.get("Weight", 1) / total))
    return weights


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            listener_arn=dict(type="str", required=True),
            target_group_arns=dict(type="dict", required=True, options=dict(
                blue=dict(type="str", required=True), green=dict(type="str", required=True))),
            active=dict(type="str", required=True, choices=["blue", "green"]),
            require_healthy=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=300),
            wait_delay=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    arns, active = p["target_group_arns"], p["active"]
    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff(retries=5))
    try:
        listeners = client.describe_listeners(aws_retry=True, ListenerArns=[p["listener_arn"]])["Listeners"]
        health = target_health(client, arns[active])
        if p["require_healthy"]:
            deadline = time.monotonic() + p["wait_timeout"]
            while not (health and all(t["state"] == "healthy" for t in health)):
                if time.monotonic() >= deadline:
                    states = ", ".join("%s:%s=%s" % (t["id"], t["port"], t["state"]) for t in health) or "no registered targets"
                    module.fail_json(msg="the %s target group %s is not healthy after %ss (%s); the listener was not changed"
                                     % (active, arns[active], p["wait_timeout"], states),
                                     target_health=health, weights=current_weights(listeners[0], arns))
                time.sleep(p["wait_delay"])
                health = target_health(client, arns[active])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg="could not read the listener or the target health")
    before = current_weights(listeners[0], arns)
    wanted = {c: (100 if c == active else 0) for c in ("blue", "green")}
    changed = before != wanted
    if changed and not module.check_mode:
        action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": arns[c], "Weight": wanted[c]} for c in ("blue", "green")]}}
        try:
            client.modify_listener(aws_retry=True, ListenerArn=p["listener_arn"], DefaultActions=[action])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            module.fail_json_aws(exc, msg="could not change the listener weights")
    module.exit_json(changed=changed, weights=wanted, target_health=health,
                     diff={"before": {"weights": before}, "after": {"weights": wanted}})


if __name__ == "__main__":
    main()
