# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters on Prometheus rule-group files (the ``groups:`` documents under infrastructure/kubernetes/monitoring/rules).

* ``prometheus_rules_tune(doc, thresholds={}, for_durations={}, runbook_base_url=None, strict=True)``:
  a copy of the rule file with role-variable thresholds and ``for:`` durations in place of the
  documented defaults. A tunable alert carries its default threshold in the ``threshold``
  annotation; that literal must appear exactly once as a number in the alert's ``expr`` and is
  replaced there, in the ``threshold`` annotation and wherever it appears in ``summary`` and
  ``description``. With the defaults the result equals the file: the rules that ship are the
  rules promtool and the sandbox's Prometheus test.
* ``prometheus_rules_alerts(doc)``: the alert names of a rule file, in order.
"""
from __future__ import annotations

import copy
import math
import re

from ansible.errors import AnsibleFilterError

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
TEXT_ANNOTATIONS = ("summary", "description")


def _literal(value):
    """A threshold as PromQL writes it: 0.85, 2, 1e-05."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a threshold")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError("%r is not a finite number" % (value,))
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _token(literal):
    # The literal as a whole number: not part of 0.855, a label value "0.85" or a name.
    return re.compile(r'(?<![\w."])' + re.escape(literal) + r'(?![\w."])')


def _groups(name, doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise AnsibleFilterError("%s: expected a rule file with a 'groups' list, got %r" % (name, type(doc).__name__))
    for group in doc["groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            raise AnsibleFilterError("%s: every group needs a 'rules' list (group %r)" % (name, group))
    return doc["groups"]


def prometheus_rules_alerts(doc):
    """The alert names of a rule file, in file order."""
    return [rule["alert"] for group in _groups("prometheus_rules_alerts", doc)
            for rule in group["rules"] if "alert" in rule]


def prometheus_rules_tune(doc, thresholds=None, for_durations=None, runbook_base_url=None, strict=True):
    """The rule file with thresholds and ``for:`` durations substituted (see the module docstring)."""
    name = "prometheus_rules_tune"
    thresholds = {} if thresholds is None else thresholds
    for_durations = {} if for_durations is None else for_durations
    if not isinstance(thresholds, dict) or not isinstance(for_durations, dict):
        raise AnsibleFilterError("%s: thresholds and for_durations must be mappings of alert name to value" % name)
    out = copy.deepcopy(doc)
    seen = set()
    for group in _groups(name, out):
        for rule in group["rules"]:
            alert = rule.get("alert")
            if alert is None:
                continue
            seen.add(alert)
            annotations = rule.setdefault("annotations", {})
            if alert in thresholds:
                if "threshold" not in annotations:
                    raise AnsibleFilterError("%s: alert %s has no 'threshold' annotation, so it has no tunable threshold"
                                             % (name, alert))
                try:
                    old = _literal(annotations["threshold"])
                    new = _literal(thresholds[alert])
                except (TypeError, ValueError) as exc:
                    raise AnsibleFilterError("%s: threshold of %s: %s" % (name, alert, exc))
                token = _token(old)
                found = len(token.findall(str(rule["expr"])))
                if found != 1:
                    raise AnsibleFilterError("%s: the default threshold %s of %s must appear exactly once in its expr, "
                                             "found %d times" % (name, old, alert, found))
                rule["expr"] = token.sub(new, str(rule["expr"]))
                annotations["threshold"] = new
                for key in TEXT_ANNOTATIONS:
                    if key in annotations:
                        annotations[key] = token.sub(new, str(annotations[key]))
            if alert in for_durations:
                duration = str(for_durations[alert])
                if not DURATION.match(duration):
                    raise AnsibleFilterError("%s: 'for' of %s must be a Prometheus duration like 30s, 5m or 1h, got %r"
                                             % (name, alert, for_durations[alert]))
                rule["for"] = duration
            if runbook_base_url and "runbook_url" in annotations:
                page = str(annotations["runbook_url"]).rstrip("/").rsplit("/", 1)[-1]
                annotations["runbook_url"] = str(runbook_base_url).rstrip("/") + "/" + page
    if strict:
        unknown = sorted((set(thresholds) | set(for_durations)) - seen)
        if unknown:
            raise AnsibleFilterError("%s: no alert named %s in the rule file (alerts: %s)"
                                     % (name, ", ".join(unknown), ", ".join(sorted(seen))))
    return out


class FilterModule:
    def filters(self):
        return {
            "prometheus_rules_tune": prometheus_rules_tune,
            "prometheus_rules_alerts": prometheus_rules_alerts,
        }
