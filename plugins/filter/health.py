# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for release and health reports: health score and SLO burn rate.

* ``health_score(gate_result)``: share of successful measurements of a ``health_gate`` result
  (0.0 .. 1.0; a gate with no measurements scores 0.0, errors count against the score).
* ``slo_burn_rate(error_ratio, slo_target)``: how fast the error budget burns, ``error_ratio /
  (1 - slo_target)``; 1.0 spends exactly the budget over the SLO window, 14.4 spends a 30-day
  budget's 2 % in one hour (the usual fast-burn page).
* ``error_budget_remaining(error_ratio, slo_target)``: share of the budget left when the observed
  error ratio held for the whole window (can go negative).
"""
from __future__ import annotations

DOCUMENTATION = r"""
---
name: health
short_description: Filters for release and health reports (health score, SLO burn rate, error budget)
version_added: "0.1.0"
description:
  - C(health_score) gives the share (0..1) of successful measurements of a cxr.mlops.health_gate result; nothing measured scores 0.
  - C(slo_burn_rate) gives the error-budget burn rate C(error_ratio / (1 - slo_target)).
  - C(error_budget_remaining) gives C(1 - burn rate), the budget share left if the error ratio held for the SLO window.
  - Each filter raises an error naming itself on bad input (ratios outside 0..1, an SLO target of 1, not a gate result).
author:
  - cxr.mlops platform engineers
options: {}
"""

EXAMPLES = r"""
- name: Report the gate
  ansible.builtin.debug:
    msg: "health {{ gate | cxr.mlops.health_score }}, burn rate {{ 0.002 | cxr.mlops.slo_burn_rate(0.999) }}"
"""

RETURN = r"""
_value:
  description: A float (health score 0..1, burn rate >= 0, or remaining budget <= 1).
  type: float
"""

import math

from ansible.errors import AnsibleFilterError


def _number(filter_name, label, value):
    if isinstance(value, bool):
        raise AnsibleFilterError("%s: %s must be a number, got %r" % (filter_name, label, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError("%s: %s must be a number, got %r" % (filter_name, label, value))
    if math.isnan(number) or math.isinf(number):
        raise AnsibleFilterError("%s: %s must be finite, got %r" % (filter_name, label, value))
    return number


def _ratio(filter_name, label, value):
    number = _number(filter_name, label, value)
    if not 0.0 <= number <= 1.0:
        raise AnsibleFilterError("%s: %s must be between 0 and 1, got %r" % (filter_name, label, value))
    return number


def health_score(gate_result):
    """Share (0..1) of the successful measurements in a health_gate result or a list of measurements."""
    if isinstance(gate_result, dict):
        if "measurements" not in gate_result:
            raise AnsibleFilterError("health_score: expected a health_gate result with 'measurements', got keys %s"
                                     % sorted(gate_result))
        measurements = gate_result["measurements"]
    else:
        measurements = gate_result
    if not isinstance(measurements, list):
        raise AnsibleFilterError("health_score: measurements must be a list, got %r" % type(measurements).__name__)
    if not measurements:
        return 0.0
    phases = []
    for m in measurements:
        if not isinstance(m, dict) or m.get("phase") not in ("successful", "failed", "error"):
            raise AnsibleFilterError("health_score: not a measurement (phase successful/failed/error): %r" % (m,))
        phases.append(m["phase"])
    return round(phases.count("successful") / float(len(phases)), 4)


def slo_burn_rate(error_ratio, slo_target=0.999):
    """Error-budget burn rate: error_ratio / (1 - slo_target)."""
    ratio = _ratio("slo_burn_rate", "error_ratio", error_ratio)
    target = _ratio("slo_burn_rate", "slo_target", slo_target)
    if target >= 1.0:
        raise AnsibleFilterError("slo_burn_rate: slo_target must be below 1 (a 100 %% SLO has no error budget), got %r"
                                 % (slo_target,))
    return round(ratio / (1.0 - target), 4)


def error_budget_remaining(error_ratio, slo_target=0.999):
    """Share of the error budget left if error_ratio held over the whole SLO window (1 - burn rate)."""
    try:
        burn = slo_burn_rate(error_ratio, slo_target)
    except AnsibleFilterError as exc:
        raise AnsibleFilterError(str(exc).replace("slo_burn_rate:", "error_budget_remaining:", 1))
    return round(1.0 - burn, 4)


class FilterModule(object):
    """cxr.mlops health filters."""

    def filters(self):
        return {
            "health_score": health_score,
            "slo_burn_rate": slo_burn_rate,
            "error_budget_remaining": error_budget_remaining,
        }
