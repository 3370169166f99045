"""The model exporter is what the gates and alert tests measure: its numbers must be what was set."""
import json
import re
import time
import urllib.error
import urllib.request

import pytest

import model_exporter


def _sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not exported")


def test_counters_grow_at_the_configured_rate():
    m = model_exporter.ModelMetrics("green", "cxr-inference", "v2")
    m.control({"rps": 50, "error_ratio": 0.1})
    first = m.render()
    time.sleep(0.4)
    second = m.render()
    served = _sample(second, "inference_requests_total", code="200") - _sample(first, "inference_requests_total", code="200")
    errors = _sample(second, "inference_errors_total") - _sample(first, "inference_errors_total")
    assert 0.3 * 45 < served < 0.6 * 45, served  # 90 % of 50 rps over ~0.4 s
    assert errors == pytest.approx(served / 9, rel=0.05)
    assert 'version="v2"' in second and 'color="green"' in second


def test_histogram_is_cumulative_and_centred_on_the_latency():
    m = model_exporter.ModelMetrics("blue", "cxr-inference", "v1")
    m.control({"latency_seconds": 0.2, "rps": 100})
    time.sleep(0.2)
    text = m.render()
    buckets = [(float(b), float(v)) for b, v in re.findall(r'_bucket\{[^}]*le="([0-9.]+)"\} ([0-9.]+)', text)]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets must be cumulative"
    total = _sample(text, "inference_request_duration_seconds_count")
    below_median = dict(buckets)[0.25]
    assert 0.5 * total < below_median < 0.95 * total  # 0.2 s median lies below the 0.25 bucket


@pytest.mark.parametrize("body", [{"mode": "broken"}, {"accuracy": 1.5}, {"error_ratio": -0.1}])
def test_bad_control_input_is_refused_and_changes_nothing(body):
    m = model_exporter.ModelMetrics("blue", "cxr-inference", "v1")
    before = m.control({})
    with pytest.raises(ValueError):
        m.control(body)
    assert m.control({}) == before


def test_http_control_and_metrics_round_trip():
    server = model_exporter.serve("127.0.0.1", 0, "green")
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        req = urllib.request.Request(url + "/control", data=json.dumps({"mode": "degraded"}).encode(), method="POST")
        with urllib.request.urlopen(req) as resp:
            assert json.load(resp)["mode"] == "degraded"
        with urllib.request.urlopen(url + "/metrics") as resp:
            text = resp.read().decode()
        assert _sample(text, "model_accuracy", color="green") == model_exporter.MODES["degraded"]["accuracy"]
        bad = urllib.request.Request(url + "/control", data=b'{"mode": "nope"}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad)
        assert err.value.code == 400
    finally:
        server.shutdown()
