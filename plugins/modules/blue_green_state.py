#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: blue_green_state
short_description: Decide what a blue-green release, rollback or repair does from the live cluster state
version_added: 0.2.0
description:
  - Reads the stable Service and the blue and green Deployments (as returned by M(kubernetes.core.k8s_info)) and
    returns the cutover state and the plan of this run. It only computes; it changes nothing, so it runs the same in
    check mode.
  - A color is I(verified) when its Deployment's C(cxr.mlops/verified-image) annotation equals the image it runs and
    it is not marked failed. Traffic only ever moves to a verified color, or to a candidate through its gates.
  - An unverified switch (phase C(post-gate)) past the deadline recorded on the Service is rolled back first by any
    action (RV(plan.repair)); a release of a new image while a switch is unverified rolls that switch back first.
  - A rollback with no verified color to go to is refused with what was found and what to do.
author:
  - cxr.mlops platform engineers (@cxr-mlops)
options:
  action:
    description: What this run was asked to do. C(repair) only rolls back an overdue, unverified switch.
    type: str
    choices: [release, rollback, repair]
    required: true
  service:
    description: The stable Service resource, or an empty dict when it does not exist.
    type: dict
    default: {}
  deployments:
    description: The Deployments of the service labelled C(color in (blue,green)).
    type: list
    elements: dict
    default: []
  image:
    description: The image to release (action C(release)).
    type: str
    default: ""
  version:
    description: The version label of O(image).
    type: str
    default: ""
  initial_color:
    description: The color of the first release.
    type: str
    default: blue
    choices: [blue, green]
  rollback_to:
    description: The color to roll back to; empty for the color that served before the last switch.
    type: str
    default: ""
  rollback_window_seconds:
    description: How long the previous color keeps running after a verified switch.
    type: float
    default: 300
  gate_count:
    description: Rounds of the post-switch gate (for the deadline).
    type: int
    default: 5
  gate_interval:
    description: Time between rounds of the post-switch gate, a duration such as C(30s) (for the deadline).
    type: str
    default: 30s
  gate_timeout:
    description: Seconds one query may take (for the deadline).
    type: float
    default: 5
  gate_metric_count:
    description: Metrics the gate measures each round (for the deadline).
    type: int
    default: 4
  deadline_margin_seconds:
    description: Seconds added to the gate's worst case for the deadline.
    type: float
    default: 60
  now:
    description: The current time as epoch seconds; only for tests. Defaults to the clock.
    type: float
"""

EXAMPLES = r"""
- name: Read the Service and the Deployments
  kubernetes.core.k8s_info:
    kind: Service
    namespace: cxr-inference
    name: cxr-inference
  register: svc

- name: Decide what the release does
  cxr.mlops.blue_green_state:
    action: release
    service: "{{ svc.resources | first | default({}) }}"
    deployments: "{{ deps.resources }}"
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/cxr-inference@sha256:...
    version: v2
  register: bg

- name: Deploy only when the plan says so
  ansible.builtin.debug:
    msg: "{{ bg.plan.message }}"
  when: bg.plan.mode == 'cutover'
"""

RETURN = r"""
state:
  description: The normalised state read from the objects.
  returned: always
  type: dict
  contains:
    live:
      description: The color the stable Service selects, or an empty string.
      type: str
      sample: blue
    phase:
      description: The cutover phase recorded on the Service.
      type: str
      sample: complete
    known_good:
      description: The verified color traffic may always go back to, or an empty string.
      type: str
      sample: blue
    colors:
      description: Per color its image, version, replicas, release status and whether it is verified.
      type: dict
summary:
  description: The state in one line for the operator.
  returned: always
  type: str
plan:
  description: What this run does.
  returned: always
  type: dict
  contains:
    mode:
      description: >-
        C(noop), C(cutover), C(resume-gate), C(resume-window) or C(refuse) for a release; C(switch), C(abandon),
        C(noop) or C(refuse) for a rollback; C(repair) or C(noop) for a repair.
      type: str
      sample: cutover
    message:
      description: What the run does, or why it refuses, in words.
      type: str
    candidate:
      description: The color a release deploys to or resumes.
      type: str
    previous:
      description: The color that served before the switch (kept for the rollback window).
      type: str
    target:
      description: The color a rollback switches to.
      type: str
    retire:
      description: The color a rollback scales down.
      type: str
    repair:
      description: A rollback (keys C(to), C(from), C(reason)) to carry out before anything else, or null.
      type: dict
post_gate_budget_seconds:
  description: Seconds from the switch to the deadline recorded on the Service (worst-case gate plus a margin).
  returned: always
  type: float
  sample: 280.0
window_left_seconds:
  description: Seconds left of the rollback window of the last switch (0 when it is over or there was none).
  returned: always
  type: int
  sample: 120
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cxr.mlops.plugins.module_utils.blue_green import (
    describe, plan_release, plan_repair, plan_rollback, post_gate_budget_seconds, read_state,
)
from ansible_collections.cxr.mlops.plugins.module_utils.health import GateConfigError, parse_duration


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True, choices=["release", "rollback", "repair"]),
            service=dict(type="dict", default={}),
            deployments=dict(type="list", elements="dict", default=[]),
            image=dict(type="str", default=""),
            version=dict(type="str", default=""),
            initial_color=dict(type="str", default="blue", choices=["blue", "green"]),
            rollback_to=dict(type="str", default=""),
            rollback_window_seconds=dict(type="float", default=300),
            gate_count=dict(type="int", default=5),
            gate_interval=dict(type="str", default="30s"),
            gate_timeout=dict(type="float", default=5),
            gate_metric_count=dict(type="int", default=4),
            deadline_margin_seconds=dict(type="float", default=60),
            now=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    now = time.time() if p["now"] is None else p["now"]
    try:
        budget = post_gate_budget_seconds(p["gate_count"], parse_duration(p["gate_interval"]), p["gate_metric_count"],
                                          p["gate_timeout"], p["deadline_margin_seconds"])
    except (GateConfigError, ValueError) as exc:
        module.fail_json(msg="blue_green_state: invalid gate settings: %s" % exc)
    state = read_state(p["service"], p["deployments"])
    if p["action"] == "release":
        if not p["image"]:
            module.fail_json(msg="blue_green_state: action=release needs image")
        plan = plan_release(state, p["image"], p["version"], p["initial_color"], now)
    elif p["action"] == "rollback":
        repair = plan_repair(state, now)
        plan = plan_rollback(state, p["rollback_to"], now)
        if repair and plan["mode"] == "switch" and plan["target"] == repair["to"]:
            plan["message"] = "Rolling back first: %s." % repair["reason"]
    else:
        repair = plan_repair(state, now)
        plan = {"mode": "repair" if repair else "noop", "repair": repair, "target": repair["to"] if repair else "",
                "retire": repair["from"] if repair else "", "candidate": "", "previous": "",
                "message": ("Rolling back first: %s." % repair["reason"]) if repair
                else "No unverified switch is past its deadline: nothing to repair."}
    window_left = 0
    if state["switched_at"] is not None:
        window_left = max(0, int(p["rollback_window_seconds"] - (now - state["switched_at"])))
    module.exit_json(changed=False, state=state, summary=describe(state), plan=plan,
                     post_gate_budget_seconds=budget, window_left_seconds=window_left)


if __name__ == "__main__":
    main()
