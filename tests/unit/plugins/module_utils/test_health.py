"""Unit tests of the health gate semantics (plugins/module_utils/health.py), no Prometheus needed."""
from __future__ import annotations

import io
import json
import urllib.error

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import health

ACC = {"name": "accuracy", "query": 'min(model_accuracy{color="${color}",version="${version}"})',
       "operator": ">=", "threshold": 0.9}
RPS = {"name": "request_rate", "query": 'sum(rate(inference_requests_total{color="${color}"}[30s]))',
       "operator": ">", "threshold": 0}
ARGS = {"color": "green", "version": "v2"}


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self):
        return self.now


def scripted(answers):
    """query_fn answering from a per-metric-query list (value list, or an exception instance)."""
    calls = []

    def query(q):
        calls.append(q)
        for key, seq in answers.items():
            if key in q:
                item = seq.pop(0) if len(seq) > 1 else seq[0]
                if isinstance(item, Exception):
                    raise item
                return item
        raise AssertionError("unexpected query " + q)
    query.calls = calls
    return query


def gate(answers, metrics=(ACC,), **kw):
    clock = FakeClock()
    kw.setdefault("interval", "1s")
    result = health.run_gate(list(metrics), scripted(answers), variables=ARGS, sleep_fn=clock.sleep, now_fn=clock.time, **kw)
    return result, clock


def test_resolve_query_substitutes_color_and_version():
    assert health.resolve_query(ACC["query"], ARGS) == 'min(model_accuracy{color="green",version="v2"})'


def test_resolve_query_names_the_missing_argument():
    with pytest.raises(health.GateConfigError, match=r"\$\{version\}.*args: color"):
        health.resolve_query(ACC["query"], {"color": "green"})


def test_healthy_candidate_passes_after_count_rounds_with_interval_between():
    result, clock = gate({"model_accuracy": [[0.94]], "inference_requests_total": [[20.0]]}, metrics=(ACC, RPS), count=3)
    assert result["verdict"] == "passed" and result["passed"]
    assert result["rounds"] == 3 and len(result["measurements"]) == 6
    assert clock.sleeps == [1.0, 1.0]  # no sleep before the first round or after the last
    assert result["queries"]["accuracy"] == 'min(model_accuracy{color="green",version="v2"})'
    assert "accuracy=0.94" in result["reason"]


def test_a_failed_measurement_beyond_failure_limit_fails_at_once_with_the_value():
    result, clock = gate({"model_accuracy": [[0.71]]}, count=5, failure_limit=0)
    assert result["verdict"] == "failed" and not result["passed"]
    assert result["rounds"] == 1 and clock.sleeps == []
    assert "accuracy = 0.71, expected >= 0.9" in result["reason"]


def test_failure_limit_tolerates_that_many_failures():
    result, _ = gate({"model_accuracy": [[0.5], [0.95], [0.95], [0.95]]}, count=4, failure_limit=1)
    assert result["verdict"] == "passed"
    assert result["metrics"]["accuracy"]["failed"] == 1
    result, _ = gate({"model_accuracy": [[0.5], [0.95], [0.5], [0.95]]}, count=4, failure_limit=1)
    assert result["verdict"] == "failed" and result["rounds"] == 3


def test_no_data_is_a_failed_measurement_not_a_pass():
    result, _ = gate({"model_accuracy": [[]]}, count=3)
    assert result["verdict"] == "failed"
    assert result["measurements"][0]["phase"] == "failed"
    assert "no data" in result["reason"]


def test_zero_traffic_fails_the_request_rate_check():
    result, _ = gate({"model_accuracy": [[0.94]], "inference_requests_total": [[0.0]]}, metrics=(ACC, RPS), count=3)
    assert result["verdict"] == "failed"
    assert "request_rate = 0, expected > 0" in result["reason"]


def test_nan_is_a_failed_measurement():
    result, _ = gate({"model_accuracy": [[float("nan")]]}, count=2)
    assert result["verdict"] == "failed" and "NaN" in result["reason"]


def test_errors_never_pass_even_under_the_consecutive_error_limit():
    down = health.PrometheusQueryError("connection refused")
    result, _ = gate({"model_accuracy": [down]}, count=3, consecutive_error_limit=4)
    assert result["verdict"] == "error" and not result["passed"]
    assert result["metrics"]["accuracy"]["error"] == 3
    assert "0 successful of 3" in result["reason"] and "connection refused" in result["reason"]


def test_consecutive_error_limit_ends_the_gate_early():
    down = health.PrometheusQueryError("connection refused")
    result, _ = gate({"model_accuracy": [down]}, count=10, consecutive_error_limit=2)
    assert result["verdict"] == "error" and result["rounds"] == 3
    assert "errored 3 times in a row" in result["reason"]


def test_an_error_between_successes_resets_the_consecutive_count_but_still_needs_successes():
    down = health.PrometheusQueryError("timeout")
    result, _ = gate({"model_accuracy": [[0.95], down, [0.95], [0.95]]}, count=4, failure_limit=1,
                     consecutive_error_limit=1)
    assert result["verdict"] == "passed"  # 3 successes >= count - failure_limit
    result, _ = gate({"model_accuracy": [[0.95], down, [0.95], down]}, count=4, failure_limit=1,
                     consecutive_error_limit=1)
    assert result["verdict"] == "error"


def test_prometheus_stopping_mid_gate_fails_closed():
    down = health.PrometheusQueryError("connection refused")
    result, _ = gate({"model_accuracy": [[0.95], down, down]}, count=3)
    assert result["verdict"] == "error"
    phases = [m["phase"] for m in result["measurements"]]
    assert phases == ["successful", "error", "error"]


@pytest.mark.parametrize("kw,match", [
    ({"count": 0}, "count must be >= 1"),
    ({"count": 3, "failure_limit": 3}, "failure_limit .* smaller than count"),
    ({"count": 3, "failure_limit": -1}, "failure_limit must be >= 0"),
    ({"count": 3, "consecutive_error_limit": -1}, "consecutive_error_limit"),
    ({"count": 3, "interval": "soon"}, "invalid duration"),
])
def test_bad_configuration_is_refused_before_any_query(kw, match):
    query = scripted({"model_accuracy": [[1.0]]})
    with pytest.raises(health.GateConfigError, match=match):
        health.run_gate([ACC], query, variables=ARGS, sleep_fn=lambda s: None, **kw)
    assert query.calls == []


@pytest.mark.parametrize("metric,match", [
    ({"name": "a", "query": "up", "threshold": "high"}, "threshold 'high' is not a number"),
    ({"name": "a", "query": "up", "threshold": 1, "operator": "=>"}, "operator '=>'"),
    ({"name": "a", "threshold": 1}, "has no query"),
    ({"query": "up", "threshold": 1}, "has no name"),
    ({"name": "a", "query": "up", "threshold": 1, "aggregation": "median"}, "aggregation 'median'"),
])
def test_bad_metric_specs_name_the_problem(metric, match):
    with pytest.raises(health.GateConfigError, match=match):
        health.normalize_metric(metric, ARGS)


def test_duplicate_metric_names_are_refused():
    with pytest.raises(health.GateConfigError, match="repeated: accuracy"):
        health.validate_gate([ACC, ACC], ARGS, 3, 0, 4, 1)


@pytest.mark.parametrize("value,seconds", [(2, 2.0), ("1s", 1.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), ("1.5", 1.5)])
def test_parse_duration(value, seconds):
    assert health.parse_duration(value) == seconds


def test_aggregation_min_is_the_strictest_across_series():
    m = dict(ACC, aggregation="min")
    result, _ = gate({"model_accuracy": [[0.95, 0.85]]}, metrics=(m,), count=1)
    assert result["verdict"] == "failed" and result["measurements"][0]["value"] == 0.85
    m = dict(ACC, aggregation="max")
    result, _ = gate({"model_accuracy": [[0.95, 0.85]]}, metrics=(m,), count=1)
    assert result["verdict"] == "passed"


def test_parse_prometheus_response_vector_scalar_empty_and_errors():
    vec = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.93"]}]}}
    assert health.parse_prometheus_response(json.dumps(vec)) == [0.93]
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    assert health.parse_prometheus_response(json.dumps(empty)) == []
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}
    assert health.parse_prometheus_response(scalar) == [2.0]
    with pytest.raises(health.PrometheusRejectedQuery, match="bad_data"):
        health.parse_prometheus_response({"status": "error", "errorType": "bad_data", "error": "parse error"})
    with pytest.raises(health.PrometheusQueryError, match="timeout"):
        health.parse_prometheus_response({"status": "error", "errorType": "timeout", "error": "query timed out"})
    with pytest.raises(health.PrometheusQueryError, match="matrix"):
        health.parse_prometheus_response({"status": "success", "data": {"resultType": "matrix", "result": []}})
    with pytest.raises(health.PrometheusQueryError, match="not JSON"):
        health.parse_prometheus_response(b"<html>")


def test_prometheus_query_fn_builds_the_url_and_maps_transport_errors():
    seen = {}

    class Resp:
        def read(self):
            return json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()

    def ok_open_url(url, **kw):
        seen["url"], seen["kw"] = url, kw
        return Resp()

    q = health.prometheus_query_fn("http://prom:9090/", ok_open_url, timeout=3)
    assert q('up{job="x"}') == []
    assert seen["url"].startswith("http://prom:9090/api/v1/query?query=up%7Bjob%3D%22x%22%7D")
    assert seen["kw"]["timeout"] == 3

    def refused(url, **kw):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    with pytest.raises(health.PrometheusQueryError, match="did not answer.*Connection refused"):
        health.prometheus_query_fn("http://prom:9090", refused)("up")

    def bad_query(url, **kw):
        body = io.BytesIO(json.dumps({"status": "error", "error": "1:5: parse error"}).encode())
        raise urllib.error.HTTPError(url, 400, "Bad Request", {}, body)

    with pytest.raises(health.PrometheusRejectedQuery, match="HTTP 400.*parse error"):
        health.prometheus_query_fn("http://prom:9090", bad_query)("up{")


# --- issue 15: every series is judged; NaN/Inf/empty fail; a rejected query is a configuration error ---

LAT = {"name": "p95_latency", "query": 'histogram_quantile(0.95, x{color="${color}"})', "operator": "<=", "threshold": 0.5}


def test_default_judges_every_series_one_slow_series_fails():
    result, _ = gate({"histogram_quantile": [[0.1, 2.5]]}, metrics=(LAT,), count=1)
    assert result["verdict"] == "failed"
    assert result["measurements"][0]["value"] == 2.5
    assert "series 2 of 2" in result["reason"]


def test_default_passes_when_every_series_holds():
    result, _ = gate({"histogram_quantile": [[0.1, 0.4]]}, metrics=(LAT,), count=1)
    assert result["verdict"] == "passed"
    assert result["measurements"][0]["values"] == [0.1, 0.4]


@pytest.mark.parametrize("values", [[0.1, float("nan")], [float("nan"), 0.1], [0.1, float("inf")], [float("-inf")]])
@pytest.mark.parametrize("aggregation", ["all", "min", "max", "avg", "sum", "first"])
def test_nan_or_infinite_series_fails_whatever_the_aggregation(values, aggregation):
    result, _ = gate({"histogram_quantile": [values]}, metrics=(dict(LAT, aggregation=aggregation),), count=1)
    assert result["verdict"] == "failed", result["reason"]
    assert "never pass" in result["reason"]


def test_aggregation_only_when_asked_for():
    result, _ = gate({"histogram_quantile": [[0.1, 0.8]]}, metrics=(dict(LAT, aggregation="avg"),), count=1)
    assert result["verdict"] == "passed" and result["measurements"][0]["value"] == pytest.approx(0.45)


def test_bad_data_is_a_configuration_error_at_once_with_prometheus_message():
    rejected = health.PrometheusRejectedQuery("Prometheus rejected the query (bad_data): 1:5: parse error: unexpected")
    result, clock = gate({"model_accuracy": [rejected]}, count=5, consecutive_error_limit=4)
    assert result["verdict"] == "error" and result["configuration_error"] is True
    assert result["rounds"] == 1 and clock.sleeps == []
    assert "parse error: unexpected" in result["reason"] and "not retried" in result["reason"]


def test_parse_prometheus_response_bad_data_is_rejected_not_transient():
    with pytest.raises(health.PrometheusRejectedQuery, match="parse error"):
        health.parse_prometheus_response({"status": "error", "errorType": "bad_data", "error": "parse error"})


def _http_error(code, body):
    return urllib.error.HTTPError("http://p/api/v1/query", code, "x", {}, io.BytesIO(body.encode()))


@pytest.mark.parametrize("code,exc_type", [(400, health.PrometheusRejectedQuery), (422, health.PrometheusRejectedQuery),
                                           (503, health.PrometheusQueryError), (500, health.PrometheusQueryError)])
def test_http_4xx_is_rejected_5xx_is_transient(code, exc_type):
    def open_url(*a, **kw):
        raise _http_error(code, json.dumps({"status": "error", "errorType": "bad_data", "error": "msg from prometheus"}))
    query = health.prometheus_query_fn("http://p", open_url, timeout=2)
    with pytest.raises(exc_type, match="msg from prometheus") as info:
        query("up")
    assert (type(info.value) is exc_type)


def test_transient_errors_still_count_against_consecutive_error_limit():
    err = health.PrometheusQueryError("timed out")
    result, _ = gate({"model_accuracy": [err]}, count=5, consecutive_error_limit=1)
    assert result["verdict"] == "error" and result["configuration_error"] is False and result["rounds"] == 2


@pytest.mark.parametrize("timeout", [0, -1, "-5", "abc", float("nan")])
def test_timeout_must_be_positive_before_any_query(timeout):
    query = scripted({"model_accuracy": [[0.95]]})
    with pytest.raises(health.GateConfigError, match="timeout|duration"):
        health.run_gate([ACC], query, variables=ARGS, sleep_fn=lambda s: None, timeout=timeout)
    assert query.calls == []
    with pytest.raises(health.GateConfigError):
        health.prometheus_query_fn("http://p", lambda *a, **k: None, timeout=timeout)


@pytest.mark.parametrize("kw,match", [({"count": "x"}, "count must be an integer"),
                                      ({"failure_limit": None}, "failure_limit must be an integer"),
                                      ({"consecutive_error_limit": -1}, "consecutive_error_limit must be >= 0"),
                                      ({"interval": "-1s"}, "invalid duration")])
def test_every_limit_and_duration_is_validated_before_any_query(kw, match):
    query = scripted({"model_accuracy": [[0.95]]})
    with pytest.raises(health.GateConfigError, match=match):
        health.run_gate([ACC], query, variables=ARGS, sleep_fn=lambda s: None, **kw)
    assert query.calls == []
