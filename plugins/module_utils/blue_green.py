# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blue-green cutover logic shared by the role blue_green_cutover and its modules.

For now: :func:`blue_green_cutover_input_errors`, the role's input rules as one pure function (the
``terraform_input_errors`` pattern), so a single validation pass (playbooks/preflight.yml) can report
every bad setting before anything is changed.
"""
from __future__ import annotations

import json
import math
import re

from ansible_collections.cxr.mlops.plugins.module_utils.health import GateConfigError, parse_duration

PREFIX = "blue_green_cutover_"
_RANGE = re.compile(r"^[0-9]+(ms|s|m|h)$")
_DIGEST = re.compile(r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*@sha256:[a-f0-9]{64}$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SERVICE = re.compile(r"^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$")
_LISTENER = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:")
_TARGET_GROUP = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:.*:targetgroup/")

# (key, minimum, minimum included) for whole numbers
_INTS = (
    ("gate_count", 1, True),
    ("gate_failure_limit", 0, True),
    ("gate_consecutive_error_limit", 0, True),
    ("rollout_timeout_seconds", 0, False),
    ("rollback_window_seconds", 0, True),
    ("alb_health_timeout_seconds", 0, False),
    ("alb_health_delay_seconds", 0, False),
)
# (key, low, high, low included) for numbers
_FLOATS = (
    ("gate_timeout", 0, None, False),
    ("min_accuracy", 0, 1, True),
    ("max_error_ratio", 0, 1, True),
    ("max_p95_latency_seconds", 0, None, False),
    ("min_request_rate", 0, None, True),
)


def _number(value, kind):
    if isinstance(value, bool):
        raise ValueError
    number = kind(value)
    if isinstance(number, float) and (math.isnan(number) or math.isinf(number)):
        raise ValueError
    return number


def blue_green_cutover_input_errors(variables):
    """Every rule the role's settings break, as messages naming the variable (``[]`` when all hold).

    ``variables`` maps the role's variable names (``blue_green_cutover_*``) to values; a variable
    that is absent is not checked (its default applies). Pure: no I/O.
    """
    if not isinstance(variables, dict):
        return ["blue_green_cutover settings must be a dict, got %s" % type(variables).__name__]
    errors = []
    values = {}

    def has(key):
        return PREFIX + key in variables

    for key, low, low_incl in _INTS:
        if not has(key):
            continue
        raw = variables[PREFIX + key]
        try:
            number = _number(raw, int)
            if isinstance(raw, float) and raw != number:
                raise ValueError
        except (TypeError, ValueError):
            errors.append("%s%s=%r must be a whole number" % (PREFIX, key, raw))
            continue
        values[key] = number
        if number < low or (number == low and not low_incl):
            errors.append("%s%s=%r must be %s %s" % (PREFIX, key, raw, ">=" if low_incl else ">", low))
    for key, low, high, low_incl in _FLOATS:
        if not has(key):
            continue
        raw = variables[PREFIX + key]
        try:
            number = _number(raw, float)
        except (TypeError, ValueError):
            errors.append("%s%s=%r must be a finite number" % (PREFIX, key, raw))
            continue
        if number < low or (number == low and not low_incl) or (high is not None and number > high):
            bound = "within %s..%s" % (low, high) if high is not None else "%s %s" % (">=" if low_incl else ">", low)
            errors.append("%s%s=%r must be %s" % (PREFIX, key, raw, bound))
    if (values.get("gate_count", 0) >= 1 and values.get("gate_failure_limit", -1) >= 0
            and values["gate_failure_limit"] >= values["gate_count"]):
        errors.append("%sgate_failure_limit=%r must be smaller than %sgate_count=%r, or the gate could never fail"
                      % (PREFIX, values["gate_failure_limit"], PREFIX, values["gate_count"]))
    if has("gate_interval"):
        try:
            parse_duration(variables[PREFIX + "gate_interval"])
        except GateConfigError as exc:
            errors.append("%sgate_interval: %s" % (PREFIX, exc))
    if has("gate_rate_window") and not _RANGE.match(str(variables[PREFIX + "gate_rate_window"])):
        errors.append("%sgate_rate_window=%r must be a PromQL range such as 2m"
                      % (PREFIX, variables[PREFIX + "gate_rate_window"]))
    if has("prometheus_url") and not str(variables[PREFIX + "prometheus_url"]).startswith(("http://", "https://")):
        errors.append("%sprometheus_url=%r must be an http:// or https:// URL" % (PREFIX, variables[PREFIX + "prometheus_url"]))
    if has("gate_metrics") and not variables[PREFIX + "gate_metrics"]:
        errors.append("%sgate_metrics must list at least one metric" % PREFIX)
    errors += _release_errors(variables)
    errors += _kubernetes_errors(variables)
    errors += _alb_errors(variables)
    return errors


def _release_errors(variables):
    """The image (pinned by digest; tags can move) and version label of a release; empty ones are the role's to refuse."""
    if variables.get(PREFIX + "action", "release") != "release":
        return []
    errors = []
    image = str(variables.get(PREFIX + "image", "") or "")
    if image and not _DIGEST.match(image):
        errors.append("%simage=%r must be an image pinned by digest, '<repository>@sha256:<64 hex>' (tags are refused, "
                      "they can move)" % (PREFIX, image))
    version = str(variables.get(PREFIX + "version", "") or "")
    if version and not _LABEL.match(version):
        errors.append("%sversion=%r must be a label value such as 'v2'" % (PREFIX, version))
    return errors


def _kubernetes_errors(variables):
    errors = []
    for key, pattern, what in (("namespace", _DNS_LABEL, "a DNS label"),
                               ("service_name", _SERVICE, "a DNS label of at most 46 characters")):
        if PREFIX + key in variables and not pattern.match(str(variables[PREFIX + key])):
            errors.append("%s%s=%r must be %s" % (PREFIX, key, variables[PREFIX + key], what))
    ints = {}
    for key in ("replicas", "hpa_max_replicas", "pdb_min_available", "hpa_cpu_utilization", "container_port"):
        if PREFIX + key in variables:
            try:
                ints[key] = _number(variables[PREFIX + key], int)
            except (TypeError, ValueError):
                errors.append("%s%s=%r must be a whole number" % (PREFIX, key, variables[PREFIX + key]))
    replicas = ints.get("replicas")
    if replicas is not None and replicas < 1:
        errors.append("%sreplicas=%d must be >= 1" % (PREFIX, replicas))
    if replicas is not None and ints.get("hpa_max_replicas") is not None and ints["hpa_max_replicas"] < replicas:
        errors.append("%shpa_max_replicas=%d must be >= %sreplicas=%d" % (PREFIX, ints["hpa_max_replicas"], PREFIX, replicas))
    pdb = ints.get("pdb_min_available")
    if pdb is not None and (pdb < 0 or (replicas is not None and pdb >= replicas)):
        errors.append("%spdb_min_available=%d must be >= 0 and below %sreplicas=%s (else nodes never drain)"
                      % (PREFIX, pdb, PREFIX, replicas))
    if ints.get("hpa_cpu_utilization") is not None and not 1 <= ints["hpa_cpu_utilization"] <= 100:
        errors.append("%shpa_cpu_utilization=%d must be within 1..100" % (PREFIX, ints["hpa_cpu_utilization"]))
    if ints.get("container_port") is not None and not 1 <= ints["container_port"] <= 65535:
        errors.append("%scontainer_port=%d must be a port (1-65535)" % (PREFIX, ints["container_port"]))
    return errors


def _alb_errors(variables):
    listener = str(variables.get(PREFIX + "alb_listener_arn", "") or "")
    if not listener:
        return []
    groups = variables.get(PREFIX + "alb_target_group_arns") or {}
    groups = groups if isinstance(groups, dict) else {}
    blue, green = str(groups.get("blue", "") or ""), str(groups.get("green", "") or "")
    if _LISTENER.match(listener) and _TARGET_GROUP.match(blue) and _TARGET_GROUP.match(green) and blue != green:
        return []
    return ["%salb_listener_arn is set (%r), so it must be an ALB listener ARN and %salb_target_group_arns must hold two "
            "different target group ARNs under 'blue' and 'green'; got %s"
            % (PREFIX, listener, PREFIX, json.dumps(variables.get(PREFIX + "alb_target_group_arns")))]
