#!/usr/bin/env python3
"""A small model-metrics exporter that stands for one colour of the inference service.

The local sandbox runs two of these (``--color blue`` and ``--color green``) and the real
Prometheus scrapes them, so health gates and alert rules are evaluated by Prometheus itself on
series that look like the inference service's own:

* ``model_accuracy{service, color, version}``                      gauge, 0..1
* ``inference_request_duration_seconds{service, color, version}``  histogram
* ``inference_requests_total{service, color, version, code}``      counter
* ``inference_errors_total{service, color, version}``              counter

Counters grow with wall-clock time at the configured request rate, so ``rate()`` gives back what
was set. ``POST /control`` switches the behaviour, either by mode::

    {"mode": "healthy" | "degraded" | "no_traffic"}

or by explicit values (any subset)::

    {"accuracy": 0.93, "latency_seconds": 0.12, "error_ratio": 0.002, "rps": 20, "version": "v2"}

``GET /control`` returns the current settings. Nothing here is a model: it is a test double.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

MODES = {
    "healthy": {"accuracy": 0.94, "latency_seconds": 0.08, "error_ratio": 0.001, "rps": 20.0},
    "degraded": {"accuracy": 0.71, "latency_seconds": 1.8, "error_ratio": 0.12, "rps": 20.0},
    "no_traffic": {"rps": 0.0},
}


class ModelMetrics:
    """Counters integrated over time from the current settings (thread-safe)."""

    def __init__(self, color: str, service: str, version: str, mode: str = "healthy"):
        self.color = color
        self.service = service
        self._lock = threading.Lock()
        self.settings = dict(MODES["healthy"], version=version, mode=mode)
        self.settings.update(MODES[mode])
        self.requests = 0.0
        self.errors = 0.0
        self.duration_sum = 0.0
        self.bucket_counts = [0.0] * len(BUCKETS)
        self._last = time.monotonic()

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        n = self.settings["rps"] * elapsed
        if n <= 0:
            return
        latency = self.settings["latency_seconds"]
        self.requests += n
        self.errors += n * self.settings["error_ratio"]
        self.duration_sum += n * latency
        # Spread observations log-normally around the configured latency so quantiles are sane.
        for i, bound in enumerate(BUCKETS):
            z = (math.log(bound) - math.log(max(latency, 1e-6))) / 0.35
            self.bucket_counts[i] += n * 0.5 * (1 + math.erf(z / math.sqrt(2)))

    def control(self, body: dict) -> dict:
        with self._lock:
            self._advance()
            mode = body.get("mode")
            if mode is not None:
                if mode not in MODES:
                    raise ValueError(f"unknown mode {mode!r}; expected one of {sorted(MODES)}")
                self.settings.update(MODES[mode])
                self.settings["mode"] = mode
            for key in ("accuracy", "latency_seconds", "error_ratio", "rps"):
                if key in body:
                    value = float(body[key])
                    if value < 0 or (key in ("accuracy", "error_ratio") and value > 1):
                        raise ValueError(f"{key} out of range: {value}")
                    self.settings[key] = value
                    self.settings["mode"] = "custom"
            if "version" in body:
                self.settings["version"] = str(body["version"])
            return dict(self.settings)

    def render(self) -> str:
        with self._lock:
            self._advance()
            s = self.settings
            labels = f'service="{self.service}",color="{self.color}",version="{s["version"]}"'
            lines = [
                "# HELP model_accuracy Rolling accuracy of the pneumonia classifier on labelled feedback.",
                "# TYPE model_accuracy gauge",
                f"model_accuracy{{{labels}}} {s['accuracy']}",
                "# HELP inference_request_duration_seconds Inference request latency.",
                "# TYPE inference_request_duration_seconds histogram",
            ]
            for bound, count in zip(BUCKETS, self.bucket_counts):
                lines.append(f'inference_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count:.6f}')
            lines += [
                f'inference_request_duration_seconds_bucket{{{labels},le="+Inf"}} {self.requests:.6f}',
                f"inference_request_duration_seconds_sum{{{labels}}} {self.duration_sum:.6f}",
                f"inference_request_duration_seconds_count{{{labels}}} {self.requests:.6f}",
                "# HELP inference_requests_total Inference requests served.",
                "# TYPE inference_requests_total counter",
                f'inference_requests_total{{{labels},code="200"}} {self.requests - self.errors:.6f}',
                f'inference_requests_total{{{labels},code="500"}} {self.errors:.6f}',
                "# HELP inference_errors_total Inference requests that failed.",
                "# TYPE inference_errors_total counter",
                f"inference_errors_total{{{labels}}} {self.errors:.6f}",
                "",
            ]
            return "\n".join(lines)


def make_handler(metrics: ModelMetrics):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the sandbox logs readable
            pass

        def _send(self, code: int, body: str, ctype: str = "application/json") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server API)
            if self.path.startswith("/metrics"):
                self._send(200, metrics.render(), "text/plain; version=0.0.4")
            elif self.path.startswith("/control"):
                self._send(200, json.dumps(metrics.control({})))
            elif self.path in ("/", "/healthz"):
                self._send(200, json.dumps({"status": "ok", "color": metrics.color}))
            else:
                self._send(404, json.dumps({"error": "not found"}))

        def do_POST(self):  # noqa: N802
            if not self.path.startswith("/control"):
                self._send(404, json.dumps({"error": "not found"}))
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                self._send(200, json.dumps(metrics.control(body)))
            except (ValueError, TypeError) as exc:
                self._send(400, json.dumps({"error": str(exc)}))

    return Handler


def serve(host: str, port: int, color: str, service: str = "cxr-inference", version: str = "v1",
          mode: str = "healthy") -> ThreadingHTTPServer:
    """Start an exporter in a background thread and return the server (call shutdown())."""
    server = ThreadingHTTPServer((host, port), make_handler(ModelMetrics(color, service, version, mode)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--color", required=True, choices=["blue", "green"])
    parser.add_argument("--service", default="cxr-inference")
    parser.add_argument("--version", default="v1")
    parser.add_argument("--mode", default="healthy", choices=sorted(MODES))
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port),
                                 make_handler(ModelMetrics(args.color, args.service, args.version, args.mode)))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
