# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blue-green cutover logic shared by the role blue_green_cutover and its modules.

* :func:`blue_green_cutover_input_errors`: the role's input rules as one pure function (the
  ``terraform_input_errors`` pattern), so a single validation pass can report every bad setting
  before anything is changed.
* :func:`read_state`, :func:`plan_release`, :func:`plan_rollback`, :func:`plan_repair`: the release
  state machine. The role's task files only carry out what these decide (module
  ``cxr.mlops.blue_green_state``); every decision is a pure function of the Service, the two
  Deployments and the clock, unit-tested as a table.

The state lives on the cluster, nowhere else (an AWX job or a crashed play leaves nothing behind):

* the stable Service: its selector is the live color; annotations ``cxr.mlops/phase``,
  ``previous-color``, ``candidate-color``, ``switched-at`` and ``deadline`` (epoch seconds by which
  an unverified switch must have passed its post-switch gate, else any later run rolls it back);
* each Deployment: its image, ``cxr.mlops/release-status`` (``deployed``, ``failed``, ``idle``,
  ``rolled-back``, ``abandoned``) and ``cxr.mlops/verified-image``, the image that passed the
  post-switch gate on that color. A color is **verified** when that annotation equals its image
  and it is not marked failed: only a verified color is ever a rollback target (the invariant
  "traffic only moves to a color that passed its gates, or back to the last known-good one").

Phases: ``deploying`` -> ``pre-gate`` -> (switch) ``post-gate`` -> ``draining`` (rollback window)
-> ``complete``; ``failed`` (blocked before the switch, traffic never moved), ``rolled-back``.
"""
from __future__ import annotations

import json
import math
import re
import time

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
    ("deadline_margin_seconds", 0, None, True),
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


# ---------------------------------------------------------------------------------------------
# The release state machine
# ---------------------------------------------------------------------------------------------
ANN = "cxr.mlops/"
COLORS = ("blue", "green")
PHASES = ("deploying", "pre-gate", "post-gate", "draining", "complete", "failed", "rolled-back")
# Phases in which traffic never moved to the candidate: the live color is the one that served before.
_BEFORE_SWITCH = ("deploying", "pre-gate", "failed")
# Seconds added to the post-switch gate's worst case before an unverified switch counts as abandoned
# (task overhead, the ALB step, the Service patch).
DEADLINE_MARGIN_SECONDS = 60.0


class StateError(Exception):
    """The live objects cannot be read as a cutover state (a message for the operator)."""


def other(color):
    return "green" if color == "blue" else "blue"


def _float(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def read_state(service, deployments):
    """Normalise the stable Service and the color Deployments (``k8s_info`` resources) into a state.

    ``service``: the Service resource, or ``{}``/``None`` when it does not exist. ``deployments``: the
    Deployments labelled ``color in (blue,green)``. Returns a dict: ``exists``, ``live`` (the
    selector's color or ``""``), ``phase``, ``previous``, ``candidate``, ``switched_at``,
    ``deadline``, ``colors`` (per color: image, version, replicas, ready, release_status,
    verified_image, verified) and ``known_good`` (the live color when verified, else the other
    color when verified, else ``""``).
    """
    service = service or {}
    meta = service.get("metadata") or {}
    ann = meta.get("annotations") or {}
    live = ((service.get("spec") or {}).get("selector") or {}).get("color", "") if service else ""
    colors = {}
    for dep in deployments or []:
        dmeta = dep.get("metadata") or {}
        color = (dmeta.get("labels") or {}).get("color")
        if color not in COLORS:
            continue
        dann = dmeta.get("annotations") or {}
        containers = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
        replicas = (dep.get("spec") or {}).get("replicas")
        colors[color] = {
            "image": containers[0].get("image", ""),
            "version": (dmeta.get("labels") or {}).get("version", ""),
            "replicas": 1 if replicas is None else int(replicas),
            "ready": int((dep.get("status") or {}).get("readyReplicas") or 0),
            "release_status": dann.get(ANN + "release-status", ""),
            "verified_image": dann.get(ANN + "verified-image", ""),
        }
    phase = ann.get(ANN + "phase", "") if service else ""
    state = {
        "exists": bool(service),
        "live": live if live in COLORS else "",
        "phase": phase,
        "previous": ann.get(ANN + "previous-color", "") if ann.get(ANN + "previous-color", "") in COLORS else "",
        "candidate": ann.get(ANN + "candidate-color", "") if ann.get(ANN + "candidate-color", "") in COLORS else "",
        "switched_at": _float(ann.get(ANN + "switched-at")),
        "deadline": _float(ann.get(ANN + "deadline")),
        "colors": colors,
    }
    # Objects written before verified-image existed: derive the verdict from the phase once.
    legacy = bool(colors) and not any(c["verified_image"] for c in colors.values())
    for color, c in colors.items():
        if c["release_status"] == "failed" or not c["image"]:
            c["verified"] = False
        elif not legacy:
            c["verified"] = c["verified_image"] == c["image"]
        elif state["phase"] == "post-gate":
            c["verified"] = color == state["previous"] and color != state["live"]
        else:
            c["verified"] = color == state["live"] and state["phase"] in PHASES
    state["legacy"] = legacy
    live_c = colors.get(state["live"])
    if live_c and live_c["verified"]:
        state["known_good"] = state["live"]
    elif state["live"] and colors.get(other(state["live"]), {}).get("verified"):
        state["known_good"] = other(state["live"])
    else:
        state["known_good"] = ""
    return state


def describe(state):
    """One line an operator can read: what the cluster shows now."""
    if not state["exists"]:
        return "no stable Service yet"
    parts = ["live color %s" % (state["live"] or "(none)"), "phase %s" % (state["phase"] or "(none)")]
    for color in COLORS:
        c = state["colors"].get(color)
        if c is None:
            parts.append("%s: no Deployment" % color)
            continue
        parts.append("%s: %s %s, %d replicas, %s%s" % (
            color, c["version"] or "?", c["image"].rsplit("@", 1)[-1][:19] or "?", c["replicas"],
            c["release_status"] or "no status", ", verified" if c["verified"] else ", not verified"))
    parts.append("known-good color %s" % (state["known_good"] or "none"))
    return "; ".join(parts)


def post_gate_budget_seconds(count, interval_seconds, metric_count, timeout_seconds,
                             margin_seconds=DEADLINE_MARGIN_SECONDS):
    """Worst-case seconds from the switch to the post-switch gate's verdict, plus a margin.

    Every one of ``count`` rounds measures ``metric_count`` queries that may each hang for
    ``timeout_seconds``, with ``interval_seconds`` between rounds: the deadline recorded on the
    Service before the switch is the switch time plus this budget.
    """
    count, metric_count = int(count), int(metric_count)
    if count < 1 or metric_count < 1 or interval_seconds < 0 or timeout_seconds <= 0 or margin_seconds < 0:
        raise ValueError("count and metric_count must be >= 1, interval and margin >= 0 and timeout > 0")
    return (count - 1) * float(interval_seconds) + count * metric_count * float(timeout_seconds) + float(margin_seconds)


def _overdue(state, now):
    return state["phase"] == "post-gate" and state["deadline"] is not None and now > state["deadline"]


def plan_repair(state, now):
    """The repair an interrupted cutover needs before anything else, or ``None``.

    A switch whose post-switch gate never finished (phase ``post-gate``) past its recorded deadline
    is rolled back to the known-good color. Without a known-good color nothing can be repaired
    (the first release): ``None``, and the caller reports the state.
    """
    if not _overdue(state, now):
        return None
    live, good = state["live"], state["known_good"]
    if not good or good == live:
        return None
    c = state["colors"].get(live, {})
    return {
        "to": good, "from": live,
        "reason": ("the post-switch gate of %s %s on %s never finished: its deadline passed %d s ago; rolled back to %s"
                   % (c.get("version") or "?", c.get("image", "?").rsplit("@", 1)[-1][:19], live,
                      int(now - state["deadline"]), good)),
    }


def after_repair(state, repair):
    """The state as it is once ``repair`` has been carried out (for planning the rest of the run)."""
    if not repair:
        return state
    new = dict(state, live=repair["to"], phase="rolled-back", previous=repair["from"], deadline=None,
               known_good=repair["to"])
    colors = {k: dict(v) for k, v in state["colors"].items()}
    if repair["from"] in colors:
        colors[repair["from"]].update(replicas=0, release_status="rolled-back", verified=False)
    new["colors"] = colors
    return new


def _plan(mode, message, **fields):
    plan = {"mode": mode, "message": message, "candidate": "", "previous": "", "target": "", "repair": None,
            "retire": ""}
    plan.update(fields)
    return plan


def plan_release(state, image, version, initial_color="blue", now=None):
    """What a release of ``image`` (label ``version``) does from ``state``.

    Modes: ``noop`` (the live, verified color already runs the image), ``resume-gate`` (an
    unverified switch to this image: run its post-switch gate), ``resume-window`` (this image passed
    its gate, the rollback window still runs), ``cutover`` (deploy ``candidate``, gate, switch) and
    ``refuse``. ``repair`` is a rollback to carry out first (an overdue, or a superseded,
    unverified switch). The candidate is never the known-good color.
    """
    now = time.time() if now is None else now
    if not state["exists"]:
        if initial_color not in COLORS:
            return _plan("refuse", "initial color %r is neither blue nor green" % (initial_color,))
        return _plan("cutover", "Releasing %s to %s (active: none)." % (version, initial_color),
                     candidate=initial_color)
    repair = plan_repair(state, now)
    live = state["live"]
    if not live:
        return _plan("refuse", "Service selector has no blue/green color (%s): fix the Service by hand or delete it."
                     % describe(state))
    live_c = state["colors"].get(live, {})
    same = live_c.get("image") == image
    if state["phase"] == "post-gate" and not repair:
        if same:
            return _plan("resume-gate", "Resuming the cutover to %s (phase post-gate)." % live,
                         candidate=live, previous=state["previous"])
        good = state["known_good"]
        if good and good != live:
            # A new image while a switch is unverified: finish that switch by rolling it back first.
            repair = {"to": good, "from": live,
                      "reason": "the switch to %s (%s) was never verified and %s is being released instead; "
                                "rolled back to %s first" % (live, live_c.get("version") or "?", version, good)}
    st = after_repair(state, repair)
    live = st["live"]
    live_c = st["colors"].get(live, {})
    prefix = ("Rolled back first: %s. " % repair["reason"]) if repair else ""
    if live_c.get("image") == image and live_c.get("verified"):
        if st["phase"] == "draining":
            return _plan("resume-window", prefix + "Resuming the rollback window of %s on %s (phase draining)."
                         % (version, live), candidate=live, previous=st["previous"], repair=repair)
        return _plan("noop", prefix + "Version %s is already active on %s: nothing to do." % (version, live),
                     candidate=live, repair=repair)
    if live_c.get("image") == image and st["phase"] == "post-gate":
        # No known-good color to return to (first release): the only way forward is its gate.
        return _plan("resume-gate", prefix + "Resuming the cutover to %s (phase post-gate)." % live,
                     candidate=live, previous=st["previous"], repair=repair)
    candidate = other(live)
    if candidate == st["known_good"]:
        return _plan("refuse", "Refusing to deploy %s over %s, the only known-good color (%s). Roll back first "
                     "(playbooks/rollback.yml) or release the image %s serves." % (version, candidate, describe(st), live),
                     repair=repair)
    return _plan("cutover", prefix + "Releasing %s to %s (active: %s)." % (version, candidate, live),
                 candidate=candidate, previous=live, repair=repair)


def plan_rollback(state, rollback_to="", now=None):
    """What a manual rollback does from ``state``.

    Modes: ``switch`` (traffic to ``target``, the live color retired), ``abandon`` (traffic never
    left the known-good color: retire the unpromoted candidate ``retire``), ``noop`` and ``refuse``
    (with what was found and what to do). The target is always a verified color.
    """
    now = time.time() if now is None else now
    if not state["exists"]:
        return _plan("refuse", "Nothing to roll back: the stable Service does not exist.")
    live, phase, colors = state["live"], state["phase"], state["colors"]
    found = describe(state)
    if rollback_to:
        if rollback_to not in COLORS:
            return _plan("refuse", "blue_green_cutover_rollback_to=%r must be blue or green." % (rollback_to,))
        if rollback_to == live and colors.get(live, {}).get("verified"):
            return _plan("noop", "%s already serves: nothing to roll back." % live, target=live)
        if rollback_to not in colors:
            return _plan("refuse", "Cannot roll back to %s: its Deployment does not exist (%s)." % (rollback_to, found))
        if not colors[rollback_to]["verified"]:
            return _plan("refuse", "Cannot roll back to %s: it never passed its health gates with the image it runs "
                         "(release-status %s). Found: %s. Release a known-good image with playbooks/release.yml "
                         "instead." % (rollback_to, colors[rollback_to]["release_status"] or "none", found))
        return _plan("switch", "Rolling back from %s to %s." % (live, rollback_to), target=rollback_to, retire=live)
    if phase == "post-gate" or (live and not colors.get(live, {}).get("verified") and phase not in _BEFORE_SWITCH):
        good = state["known_good"]
        if good and good != live:
            why = " (its post-switch gate is past its deadline)" if _overdue(state, now) else ""
            return _plan("switch", "Rolling back the unverified switch to %s%s: back to %s." % (live, why, good),
                         target=good, retire=live)
        return _plan("refuse", "Cannot roll back: no color has passed its health gates, so there is no known-good "
                     "color to go back to. Found: %s. Release a known-good image with playbooks/release.yml." % found)
    if phase in _BEFORE_SWITCH:
        cand = state["candidate"] or other(live)
        cand_c = colors.get(cand)
        if not colors.get(live, {}).get("verified"):
            return _plan("refuse", "Cannot roll back: %s serves but never passed its gates and the last release "
                         "stopped before its switch. Found: %s. Release a known-good image with "
                         "playbooks/release.yml." % (live, found))
        if cand_c and cand != live and cand_c["replicas"] > 0:
            return _plan("abandon", "Traffic never left %s (phase %s): nothing to switch; the unpromoted candidate "
                         "%s (%s) is scaled down." % (live, phase, cand, cand_c["version"] or "?"),
                         target=live, retire=cand)
        return _plan("noop", "%s (known-good) already serves: the release on %s never got traffic (phase %s), "
                     "nothing to roll back." % (live, cand, phase), target=live)
    if phase == "rolled-back":
        return _plan("noop", "%s already serves after a rollback: nothing to roll back." % live, target=live)
    # draining, complete, or no phase recorded: back to the color that served before the last switch.
    prev = state["previous"]
    if prev and prev != live and colors.get(prev, {}).get("verified") \
            and colors[prev]["release_status"] not in ("rolled-back", "abandoned"):
        return _plan("switch", "Rolling back from %s to %s." % (live, prev), target=prev, retire=live)
    return _plan("refuse", "Cannot roll back: no other color has passed its health gates with the image it runs. "
                 "Found: %s. Release the last good image with playbooks/release.yml, or name a verified color "
                 "with blue_green_cutover_rollback_to." % found)
