# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health gate logic shared by the ``cxr.mlops.health_gate`` module (and its tests).

A gate evaluates a list of metrics (Prometheus instant queries with a comparison against a
threshold) in rounds, like an Argo Rollouts AnalysisRun or a Flagger canary analysis:

* every ``interval`` seconds one *round* measures every metric once; ``count`` rounds in all;
* a measurement is ``successful`` (the condition holds), ``failed`` (the condition does not hold,
  **or the query returned no data, or any series is NaN or infinite**) or ``error`` (Prometheus
  unreachable, HTTP 5xx, a timeout, a value that is not a number);
* every series a query returns is a measurement of its own: by default (aggregation ``all``, like
  Argo Rollouts' ``all(result, ...)``) the condition must hold for each of them; ``min``, ``max``,
  ``avg``, ``sum`` and ``first`` reduce the series to one value only when asked for;
* an HTTP 4xx answer or a ``bad_data`` error from Prometheus is a configuration error (the query
  will never work): the gate ends ``error`` at once with Prometheus' own message, no retries;
* the gate is ``failed`` as soon as one metric has more than ``failure_limit`` failed
  measurements (Argo ``failureLimit``, Flagger ``threshold``);
* the gate is ``error`` as soon as one metric has more than ``consecutive_error_limit`` errors in
  a row (Argo ``consecutiveErrorLimit``);
* after the last round the gate is ``passed`` only if every metric has at least
  ``count - failure_limit`` successful measurements: an errored measurement is never a success,
  so a gate whose measurements all errored ends ``error``, never ``passed``.

Everything that touches the outside world is injected (``query_fn``, ``sleep_fn``, ``now_fn``),
so the semantics are unit-tested without a Prometheus or a clock.
"""
from __future__ import annotations

import json
import math
import re
import string
import time

try:
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover (Python 2 is not supported by this collection)
    urlencode = None

OPERATORS = {
    ">=": lambda v, t: v >= t,
    "<=": lambda v, t: v <= t,
    ">": lambda v, t: v > t,
    "<": lambda v, t: v < t,
    "==": lambda v, t: v == t,
    "!=": lambda v, t: v != t,
}

AGGREGATIONS = ("all", "min", "max", "avg", "sum", "first")

VERDICT_PASSED = "passed"
VERDICT_FAILED = "failed"
VERDICT_ERROR = "error"

_DURATION = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class GateConfigError(ValueError):
    """The gate's configuration is invalid (raised before any query is sent)."""


class PrometheusQueryError(Exception):
    """A query could not be evaluated: Prometheus unreachable, timed out or answered HTTP 5xx."""


class PrometheusRejectedQuery(Exception):
    """Prometheus refused the query itself (HTTP 4xx, ``bad_data``): retrying cannot help."""


def parse_duration(value):
    """Seconds from ``30``, ``1.5``, ``"1s"``, ``"500ms"``, ``"2m"`` or ``"1h"``."""
    if isinstance(value, bool):
        raise GateConfigError("invalid duration %r" % (value,))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise GateConfigError("invalid duration %r: use seconds or a number with ms, s, m or h" % (value,))
        seconds = float(match.group("num")) * _UNIT_SECONDS[match.group("unit")]
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise GateConfigError("invalid duration %r: must be a finite number >= 0" % (value,))
    return seconds


def resolve_query(template, variables):
    """Substitute ``${name}`` placeholders (color, version, service, ...) in a query template.

    ``$$`` is a literal dollar. An unknown placeholder is a configuration error naming it, so a
    typo never turns into a query that silently matches nothing.
    """
    try:
        return string.Template(template).substitute({k: str(v) for k, v in (variables or {}).items()})
    except KeyError as exc:
        raise GateConfigError("query %r uses ${%s} but no such argument was given (args: %s)"
                              % (template, exc.args[0], ", ".join(sorted(variables or {})) or "none"))
    except ValueError as exc:
        raise GateConfigError("query %r has an invalid placeholder: %s" % (template, exc))


def normalize_metric(spec, variables):
    """Validate one metric spec and return it with its resolved query."""
    if not isinstance(spec, dict):
        raise GateConfigError("each metric must be a dict, got %r" % (spec,))
    name = spec.get("name")
    if not name:
        raise GateConfigError("a metric has no name: %r" % (spec,))
    if not spec.get("query"):
        raise GateConfigError("metric %s has no query" % name)
    operator = spec.get("operator", ">=")
    if operator not in OPERATORS:
        raise GateConfigError("metric %s: operator %r is not one of %s" % (name, operator, ", ".join(OPERATORS)))
    try:
        threshold = float(spec.get("threshold"))
    except (TypeError, ValueError):
        raise GateConfigError("metric %s: threshold %r is not a number" % (name, spec.get("threshold")))
    aggregation = spec.get("aggregation") or "all"
    if aggregation not in AGGREGATIONS:
        raise GateConfigError("metric %s: aggregation %r is not one of %s" % (name, aggregation, ", ".join(AGGREGATIONS)))
    return {
        "name": str(name),
        "query": resolve_query(spec["query"], variables),
        "operator": operator,
        "threshold": threshold,
        "aggregation": aggregation,
    }


def _as_int(name, value):
    if isinstance(value, bool):
        raise GateConfigError("%s must be an integer, got %r" % (name, value))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GateConfigError("%s must be an integer, got %r" % (name, value))


def validate_timeout(timeout):
    """Seconds of one HTTP request to Prometheus; must be a finite number > 0."""
    try:
        seconds = parse_duration(timeout)
    except GateConfigError as exc:
        raise GateConfigError("timeout: %s" % exc)
    if seconds <= 0:
        raise GateConfigError("timeout must be > 0, got %r" % (timeout,))
    return seconds


def validate_gate(metrics, variables, count, failure_limit, consecutive_error_limit, interval, timeout=None):
    """Check the whole configuration; return (normalized metrics, interval seconds).

    Every limit and duration is checked here, before the first query is sent.
    """
    count = _as_int("count", count)
    failure_limit = _as_int("failure_limit", failure_limit)
    consecutive_error_limit = _as_int("consecutive_error_limit", consecutive_error_limit)
    if timeout is not None:
        validate_timeout(timeout)
    if not metrics:
        raise GateConfigError("the gate has no metrics")
    normalized = [normalize_metric(m, variables) for m in metrics]
    names = [m["name"] for m in normalized]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GateConfigError("metric names must be unique; repeated: %s" % ", ".join(duplicates))
    if int(count) < 1:
        raise GateConfigError("count must be >= 1, got %r" % (count,))
    if int(failure_limit) < 0:
        raise GateConfigError("failure_limit must be >= 0, got %r" % (failure_limit,))
    if int(failure_limit) >= int(count):
        raise GateConfigError("failure_limit (%s) must be smaller than count (%s), or the gate could never fail"
                              % (failure_limit, count))
    if int(consecutive_error_limit) < 0:
        raise GateConfigError("consecutive_error_limit must be >= 0, got %r" % (consecutive_error_limit,))
    try:
        interval_s = parse_duration(interval)
    except GateConfigError as exc:
        raise GateConfigError("interval: %s" % exc)
    return normalized, interval_s


def aggregate(values, how):
    """Reduce the sample values of one query result to one number (``all`` is not a reduction)."""
    if how == "first":
        return values[0]
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    if how == "sum":
        return sum(values)
    return sum(values) / len(values)


def parse_prometheus_response(body):
    """Sample values (floats) of a ``/api/v1/query`` JSON answer; [] when the result is empty.

    Raises PrometheusQueryError for an error status or a result type that is not a number.
    """
    try:
        doc = json.loads(body) if isinstance(body, (str, bytes, bytearray)) else body
    except ValueError as exc:
        raise PrometheusQueryError("Prometheus answered with something that is not JSON: %s" % exc)
    if not isinstance(doc, dict):
        raise PrometheusQueryError("unexpected Prometheus answer: %r" % (doc,))
    if doc.get("status") != "success":
        if doc.get("errorType") == "bad_data":
            raise PrometheusRejectedQuery("Prometheus rejected the query (bad_data): %s" % doc.get("error", doc))
        raise PrometheusQueryError("Prometheus query error (%s): %s" % (doc.get("errorType", "unknown"), doc.get("error", doc)))
    data = doc.get("data") or {}
    rtype, result = data.get("resultType"), data.get("result")
    if rtype == "vector":
        raw = [sample.get("value", [None, None])[1] for sample in result or []]
    elif rtype == "scalar":
        raw = [result[1]] if result else []
    else:
        raise PrometheusQueryError("query returned a %s; the gate needs an instant vector or a scalar" % rtype)
    values = []
    for item in raw:
        try:
            values.append(float(item))
        except (TypeError, ValueError):
            raise PrometheusQueryError("query returned a sample that is not a number: %r" % (item,))
    return values


def prometheus_query_fn(base_url, open_url, timeout=10, headers=None, validate_certs=True):
    """A ``query_fn`` for :func:`run_gate` that calls ``GET <base_url>/api/v1/query``.

    ``open_url`` is ``ansible.module_utils.urls.open_url`` (injected so this module stays testable).
    A connection error, a timeout or an HTTP 5xx becomes PrometheusQueryError (counted against
    ``consecutive_error_limit``); an HTTP 4xx (Prometheus answers 400 ``bad_data`` to a parse error,
    422 to a query it cannot execute) becomes PrometheusRejectedQuery carrying Prometheus' message.
    """
    timeout = validate_timeout(timeout)
    base = base_url.rstrip("/")

    def query(promql):
        url = "%s/api/v1/query?%s" % (base, urlencode({"query": promql}))
        try:
            resp = open_url(url, method="GET", timeout=timeout, headers=headers or {}, validate_certs=validate_certs)
            body = resp.read()
        except Exception as exc:  # noqa: BLE001 (urllib raises many types; all mean "no answer")
            detail = ""
            read = getattr(exc, "read", None)
            if callable(read):
                try:
                    detail = read().decode("utf-8", "replace")
                    detail = json.loads(detail).get("error", detail)
                except Exception:  # noqa: BLE001
                    pass
            code = getattr(exc, "code", None)
            if isinstance(code, int) and 400 <= code < 500:
                raise PrometheusRejectedQuery("Prometheus at %s rejected the query (HTTP %d): %s"
                                              % (base, code, detail or exc))
            raise PrometheusQueryError("Prometheus at %s did not answer the query: %s%s"
                                       % (base, exc, (" (%s)" % detail) if detail else ""))
        return parse_prometheus_response(body)

    return query


def measure(metric, query_fn, now_fn):
    """Take one measurement of one metric; never raises for query problems."""
    started = now_fn()
    entry = {"metric": metric["name"], "query": metric["query"], "operator": metric["operator"],
             "threshold": metric["threshold"], "value": None, "samples": 0, "started_at": started}
    try:
        values = query_fn(metric["query"])
    except PrometheusRejectedQuery as exc:
        entry.update(phase="rejected", message=str(exc))
        return entry
    except PrometheusQueryError as exc:
        entry.update(phase="error", message=str(exc))
        return entry
    entry["samples"] = len(values)
    entry["values"] = list(values)
    if not values:
        entry.update(phase="failed", message="no data: the query returned an empty result")
        return entry
    bad = [i for i, v in enumerate(values) if math.isnan(v) or math.isinf(v)]
    if bad:
        entry["value"] = values[bad[0]]
        entry.update(phase="failed", message="%s: series %d of %d is %s (NaN and infinite values never pass)"
                     % (metric["name"], bad[0] + 1, len(values), values[bad[0]]))
        return entry
    op, threshold = OPERATORS[metric["operator"]], metric["threshold"]
    if metric["aggregation"] == "all":
        failing = [i for i, v in enumerate(values) if not op(v, threshold)]
        if failing and len(values) == 1:
            entry["value"] = values[0]
            entry.update(phase="failed", message="%s = %g, expected %s %g"
                         % (metric["name"], values[0], metric["operator"], threshold))
        elif failing:
            value = values[failing[0]]
            entry["value"] = value
            entry.update(phase="failed", message="%s = %g in series %d of %d (%d failing), expected %s %g for every series"
                         % (metric["name"], value, failing[0] + 1, len(values), len(failing), metric["operator"], threshold))
        elif len(values) == 1:
            entry["value"] = values[0]
            entry.update(phase="successful", message="%s = %g %s %g"
                         % (metric["name"], values[0], metric["operator"], threshold))
        else:
            # the value reported is the series closest to failing
            entry["value"] = min(values) if metric["operator"] in (">=", ">") else max(values)
            entry.update(phase="successful", message="%s: all %d series %s %g (%s)"
                         % (metric["name"], len(values), metric["operator"], threshold,
                            ", ".join("%g" % v for v in values)))
        return entry
    value = aggregate(values, metric["aggregation"])
    entry["value"] = value
    if math.isnan(value):
        entry.update(phase="failed", message="the query returned NaN")
    elif OPERATORS[metric["operator"]](value, metric["threshold"]):
        entry.update(phase="successful", message="%s = %g %s %g" % (metric["name"], value, metric["operator"], metric["threshold"]))
    else:
        entry.update(phase="failed", message="%s = %g, expected %s %g" % (metric["name"], value, metric["operator"], metric["threshold"]))
    return entry


def run_gate(metrics, query_fn, variables=None, count=3, interval=1, failure_limit=0,
             consecutive_error_limit=4, sleep_fn=time.sleep, now_fn=time.time, timeout=None):
    """Run a gate and return its result (a dict; see the module's RETURN)."""
    normalized, interval_s = validate_gate(metrics, variables, count, failure_limit, consecutive_error_limit, interval,
                                           timeout=timeout)
    count, failure_limit, consecutive_error_limit = int(count), int(failure_limit), int(consecutive_error_limit)
    stats = {m["name"]: {"successful": 0, "failed": 0, "error": 0, "rejected": 0, "consecutive_errors": 0,
                         "last_value": None}
             for m in normalized}
    measurements = []
    verdict, reason = None, ""
    started = now_fn()
    rounds = 0
    for rnd in range(count):
        if rnd:
            sleep_fn(interval_s)
        rounds += 1
        for metric in normalized:
            entry = measure(metric, query_fn, now_fn)
            entry["round"] = rnd + 1
            measurements.append(entry)
            st = stats[metric["name"]]
            st[entry["phase"]] += 1
            st["consecutive_errors"] = st["consecutive_errors"] + 1 if entry["phase"] == "error" else 0
            if entry["value"] is not None:
                st["last_value"] = entry["value"]
        for metric in normalized:
            st = stats[metric["name"]]
            if st["rejected"]:
                verdict = VERDICT_ERROR
                last = [m for m in measurements if m["metric"] == metric["name"]][-1]
                reason = ("configuration error in metric %s (not retried): %s" % (metric["name"], last["message"]))
                break
            if st["failed"] > failure_limit:
                verdict = VERDICT_FAILED
                last = [m for m in measurements if m["metric"] == metric["name"] and m["phase"] == "failed"][-1]
                reason = ("metric %s failed %d of %d measurements (failure_limit %d); last: %s"
                          % (metric["name"], st["failed"], rounds, failure_limit, last["message"]))
                break
            if st["consecutive_errors"] > consecutive_error_limit:
                verdict = VERDICT_ERROR
                last = [m for m in measurements if m["metric"] == metric["name"]][-1]
                reason = ("metric %s errored %d times in a row (consecutive_error_limit %d): %s"
                          % (metric["name"], st["consecutive_errors"], consecutive_error_limit, last["message"]))
                break
        if verdict:
            break
    if verdict is None:
        needed = count - failure_limit
        short = [name for name, st in stats.items() if st["successful"] < needed]
        if short:
            verdict = VERDICT_ERROR
            name = short[0]
            last_err = [m for m in measurements if m["metric"] == name and m["phase"] == "error"]
            reason = ("metric %s has %d successful of %d measurements, %d needed; %d errored%s"
                      % (name, stats[name]["successful"], count, needed, stats[name]["error"],
                         (": " + last_err[-1]["message"]) if last_err else ""))
        else:
            verdict = VERDICT_PASSED
            reason = "all %d metrics passed %d rounds (%s)" % (
                len(normalized), count,
                ", ".join("%s=%g" % (n, st["last_value"]) for n, st in stats.items() if st["last_value"] is not None))
    summary = {name: {k: v for k, v in st.items()} for name, st in stats.items()}
    return {
        "verdict": verdict,
        "configuration_error": any(st["rejected"] for st in stats.values()),
        "passed": verdict == VERDICT_PASSED,
        "reason": reason,
        "rounds": rounds,
        "measurements": measurements,
        "metrics": summary,
        "queries": {m["name"]: m["query"] for m in normalized},
        "started_at": started,
        "finished_at": now_fn(),
    }
