# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input rules of the role helm_monitoring (thresholds, durations, chart pin) as one pure function.

The checks that read files (values files, rule files, the alerts they define) stay in the role.
"""
from __future__ import annotations

import math
import re

PREFIX = "helm_monitoring_"
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")  # a Prometheus duration
# (key, low, high, low included, high included, what it is)
_RANGES = (
    ("accuracy_threshold", 0, 1, True, True, "a ratio"),
    ("latency_p95_seconds", 0, None, False, False, "seconds"),
    ("error_ratio_threshold", 0, 1, True, True, "a ratio"),
    ("cpu_threshold", 0, 1, False, True, "a ratio"),
    ("memory_threshold", 0, 1, False, True, "a ratio"),
    ("gpu_memory_threshold", 0, 1, False, True, "a ratio"),
    ("volume_free_threshold", 0, 1, False, False, "a ratio"),
)


def _show(value):
    return repr(value) if isinstance(value, str) else str(value)


def helm_monitoring_input_errors(variables):
    """Every rule the role's settings break, as messages naming the variable and its value; absent ones are skipped."""
    if not isinstance(variables, dict):
        return ["helm_monitoring settings must be a dict, got %s" % type(variables).__name__]
    errors = []
    if PREFIX + "kubeconfig" in variables and not str(variables[PREFIX + "kubeconfig"] or ""):
        errors.append("helm_monitoring_kubeconfig is empty. Name the target cluster's kubeconfig explicitly; an empty "
                      "value would fall back to ~/.kube/config or $KUBECONFIG, possibly another cluster")
    for key, low, high, low_incl, high_incl, what in _RANGES:
        if PREFIX + key not in variables:
            continue
        raw = variables[PREFIX + key]
        try:
            if isinstance(raw, bool):
                raise ValueError
            number = float(raw)
            if math.isnan(number) or math.isinf(number):
                raise ValueError
        except (TypeError, ValueError):
            errors.append("%s%s=%s must be a finite number (%s)" % (PREFIX, key, _show(raw), what))
            continue
        if (number < low or (number == low and not low_incl)
                or (high is not None and (number > high or (number == high and not high_incl)))):
            bound = ("in %s%s, %s%s" % ("[" if low_incl else "(", low, high, "]" if high_incl else ")")
                     if high is not None else "> %s" % low)
            errors.append("%s%s=%s must be %s (%s)" % (PREFIX, key, _show(raw), bound, what))
    alert_for = variables.get(PREFIX + "alert_for", {})
    if not isinstance(alert_for, dict):
        errors.append("helm_monitoring_alert_for must map alert names to durations, got %s" % type(alert_for).__name__)
    else:
        for alert, value in sorted(alert_for.items()):
            if not DURATION.match(str(value)):
                errors.append("helm_monitoring_alert_for[%s]=%s must be a Prometheus duration such as 30s, 10m, 1h"
                              % (alert, _show(value)))
    if PREFIX + "alertmanager_repeat_interval" in variables:
        value = variables[PREFIX + "alertmanager_repeat_interval"]
        if not DURATION.match(str(value)):
            errors.append("helm_monitoring_alertmanager_repeat_interval=%s must be a Prometheus duration such as 30s, "
                          "10m, 1h" % _show(value))
    if PREFIX + "chart_version" in variables and not str(variables[PREFIX + "chart_version"] or ""):
        errors.append("helm_monitoring_chart_version='' must be pinned (an exact chart version)")
    return errors
