#!/usr/bin/env python3
"""The local sandbox: real servers on 127.0.0.1 that stand in for the AWS account and the cluster.

    sandbox.py up     [--state-dir .sandbox] [--port-base 15000] [--only moto,kubeapi,...]
    sandbox.py status [--state-dir .sandbox]
    sandbox.py down   [--state-dir .sandbox]

Parts (port = base + offset):

=============  ======  ==============================================================
part           offset  what runs
=============  ======  ==============================================================
moto           0       the moto server (AWS APIs), patched for this stack (moto_server.py)
kubeapi        1       the project's Kubernetes API *test double* (kubeapi_server.py)
postgres       2       a real PostgreSQL server (initdb / pg_ctl)
prometheus     3       the real Prometheus, scraping the two exporters, loading the model rules
blue, green    4, 5    model-metrics exporters for the blue and green inference services
alertmanager   6       the real Alertmanager (a null receiver)
=============  ======  ==============================================================

``up`` is idempotent: a part that is running and ready is left alone; a dead one is restarted. It
prints one JSON document: ``{"changed": bool, "started": [...], "endpoints": {...}}`` and writes the
endpoints to ``<state-dir>/endpoints.json``. Logs go to ``<state-dir>/logs/<part>.log`` and are
kept after ``down`` so failures can be read. Every part has a readiness check; a part that does not
become ready in time fails ``up`` with the tail of its log.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
ROOT = SUPPORT.parent.parent
RULES_DIR = ROOT / "infrastructure" / "kubernetes" / "monitoring" / "rules"
OFFSETS = {"moto": 0, "kubeapi": 1, "postgres": 2, "prometheus": 3, "blue": 4, "green": 5, "alertmanager": 6}
PARTS = list(OFFSETS)
DEFAULT_PORT_BASE = 15000
HOST = "127.0.0.1"


class SandboxError(RuntimeError):
    """A part failed to start or the state is unusable; the message names the part."""


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is not alive.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _find_binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for pattern in ("/usr/lib/postgresql/*/bin/",):
        for d in sorted(Path("/").glob(pattern.lstrip("/")), reverse=True):
            for name in names:
                if (d / name).exists():
                    return str(d / name)
    return None


class Sandbox:
    def __init__(self, state_dir: str | os.PathLike = ".sandbox", port_base: int | None = None,
                 python: str | None = None):
        self.state = Path(state_dir).resolve()
        self.logs = self.state / "logs"
        self.python = python or sys.executable
        saved = self._load_json("ports.json") or {}
        if port_base is None:
            port_base = int(saved.get("port_base") or os.environ.get("CXR_SANDBOX_PORT_BASE") or DEFAULT_PORT_BASE)
        self.port_base = port_base
        self.ports = {name: port_base + off for name, off in OFFSETS.items()}

    # -- small file helpers ---------------------------------------------------------------------
    def _load_json(self, name: str):
        try:
            return json.loads((self.state / name).read_text())
        except (OSError, ValueError):
            return None

    def _write(self, name: str, text: str, mode: int = 0o644) -> Path:
        path = self.state / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        tmp.replace(path)
        return path

    def _pid(self, part: str) -> int | None:
        try:
            return int((self.state / "pids" / f"{part}.pid").read_text())
        except (OSError, ValueError):
            return None

    def url(self, part: str) -> str:
        return f"http://{HOST}:{self.ports[part]}"

    # -- readiness ------------------------------------------------------------------------------
    def ready(self, part: str) -> bool:
        if part == "moto":
            return _http_ok(self.url(part) + "/moto-api/")
        if part == "kubeapi":
            return _http_ok(self.url(part) + "/readyz")
        if part in ("prometheus", "alertmanager"):
            return _http_ok(self.url(part) + "/-/ready")
        if part in ("blue", "green"):
            return _http_ok(self.url(part) + "/healthz")
        if part == "postgres":
            isready = _find_binary("pg_isready")
            if not isready:
                return False
            return subprocess.run([isready, "-q", "-h", HOST, "-p", str(self.ports[part])],
                                  check=False).returncode == 0
        raise SandboxError(f"unknown sandbox part {part!r}")

    def running(self, part: str) -> bool:
        pid = self._pid(part)
        return pid is not None and _pid_alive(pid) and self.ready(part)

    # -- starting -------------------------------------------------------------------------------
    def _spawn(self, part: str, argv: list[str], env: dict | None = None, user: str | None = None) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.state / "pids").mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{part}.log", "ab")
        preexec = None
        if user:
            pw = pwd.getpwnam(user)

            def preexec():  # drop root for servers that refuse it (postgres)
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, start_new_session=True,
                                preexec_fn=preexec, cwd=str(self.state))
        (self.state / "pids" / f"{part}.pid").write_text(str(proc.pid))

    def _wait_ready(self, part: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid = self._pid(part)
        while time.monotonic() < deadline:
            if self.ready(part):
                return
            if pid is not None and not _pid_alive(pid):
                break
            time.sleep(0.1)
        tail = ""
        try:
            tail = (self.logs / f"{part}.log").read_text(errors="replace")[-2000:]
        except OSError:
            pass
        raise SandboxError(f"sandbox part {part} did not become ready on port {self.ports[part]} "
                           f"within {timeout:.0f}s; log {self.logs / (part + '.log')}:\n{tail}")

    def _port_taken(self, part: str) -> bool:
        import socket
        with socket.socket() as s:
            s.settimeout(0.3)
            return s.connect_ex((HOST, self.ports[part])) == 0

    def start(self, part: str) -> None:
        if self._port_taken(part):
            raise SandboxError(f"sandbox part {part}: port {self.ports[part]} on {HOST} is used by another "
                               f"process; choose another --port-base (now {self.port_base})")
        getattr(self, f"_start_{part}")()
        self._wait_ready(part, 60 if part in ("moto", "postgres") else 30)

    def _start_moto(self) -> None:
        self._spawn("moto", [self.python, str(SUPPORT / "moto_server.py"), "--host", HOST,
                             "--port", str(self.ports["moto"])],
                    env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})

    def _start_kubeapi(self) -> None:
        self._spawn("kubeapi", [self.python, str(SUPPORT / "kubeapi_server.py"), "--host", HOST,
                                "--port", str(self.ports["kubeapi"]),
                                "--state-file", str(self.state / "kubeapi-state.json"),
                                # EKS with the aws-ebs-csi-driver add-on: its CSIDriver object exists, so
                                # claims of a class with provisioner ebs.csi.aws.com bind.
                                "--csi-driver", "ebs.csi.aws.com"])

    def _start_blue(self) -> None:
        self._spawn("blue", [self.python, str(SUPPORT / "model_exporter.py"), "--host", HOST,
                             "--port", str(self.ports["blue"]), "--color", "blue", "--version", "v1"])

    def _start_green(self) -> None:
        self._spawn("green", [self.python, str(SUPPORT / "model_exporter.py"), "--host", HOST,
                              "--port", str(self.ports["green"]), "--color", "green", "--version", "v1"])

    def _start_prometheus(self) -> None:
        binary = _find_binary("prometheus")
        if not binary:
            raise SandboxError("sandbox part prometheus: the prometheus binary is not installed "
                               "(Debian package 'prometheus'; make bootstrap installs it)")
        rule_files = sorted(str(p) for p in RULES_DIR.glob("*.yml")) if RULES_DIR.is_dir() else []
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{self.ports['alertmanager']}"]}]}]},
            "scrape_configs": [
                {"job_name": "cxr-inference",
                 "static_configs": [{"targets": [f"{HOST}:{self.ports['blue']}"], "labels": {"pod_color": "blue"}},
                                    {"targets": [f"{HOST}:{self.ports['green']}"], "labels": {"pod_color": "green"}}]},
                {"job_name": "prometheus", "static_configs": [{"targets": [f"{HOST}:{self.ports['prometheus']}"]}]},
            ],
        }
        cfg = self._write("prometheus/prometheus.yml", json.dumps(config, indent=2))
        tool = _find_binary("promtool")
        if tool:
            check = subprocess.run([tool, "check", "config", str(cfg)], capture_output=True, text=True, check=False)
            if check.returncode != 0:
                raise SandboxError(f"sandbox part prometheus: invalid configuration or rules:\n{check.stdout}{check.stderr}")
        (self.state / "prometheus" / "data").mkdir(parents=True, exist_ok=True)
        self._spawn("prometheus", [binary, f"--config.file={cfg}",
                                   f"--storage.tsdb.path={self.state / 'prometheus' / 'data'}",
                                   f"--web.listen-address={HOST}:{self.ports['prometheus']}",
                                   "--web.enable-lifecycle", "--web.enable-admin-api",
                                   "--storage.tsdb.retention.time=1d"])

    def _start_alertmanager(self) -> None:
        binary = _find_binary("prometheus-alertmanager", "alertmanager")
        if not binary:
            raise SandboxError("sandbox part alertmanager: not installed (Debian package 'prometheus-alertmanager')")
        cfg = self._write("alertmanager/alertmanager.yml", json.dumps({
            "route": {"receiver": "null", "group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h"},
            "receivers": [{"name": "null"}],
        }, indent=2))
        (self.state / "alertmanager" / "data").mkdir(parents=True, exist_ok=True)
        self._spawn("alertmanager", [binary, f"--config.file={cfg}",
                                     f"--storage.path={self.state / 'alertmanager' / 'data'}",
                                     f"--web.listen-address={HOST}:{self.ports['alertmanager']}",
                                     "--cluster.listen-address="])

    def _start_postgres(self) -> None:
        initdb, postgres = _find_binary("initdb"), _find_binary("postgres")
        if not (initdb and postgres):
            raise SandboxError("sandbox part postgres: initdb/postgres not found (Debian package 'postgresql')")
        user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
        data = self.state / "postgres" / "data"
        pwfile = self.state / "postgres" / "password"
        if not pwfile.exists():
            self._write("postgres/password", secrets.token_urlsafe(18), 0o600)
        if user:
            self.state.joinpath("postgres").mkdir(parents=True, exist_ok=True)
            probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(self.state / "postgres")],
                                   capture_output=True, check=False)
            if probe.returncode != 0:
                raise SandboxError(f"sandbox part postgres: the '{user}' user cannot reach {self.state}; "
                                   "PostgreSQL refuses to run as root, so every folder above the state "
                                   "directory must be traversable (chmod o+x) by that user")
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            data.chmod(0o700)
            tmp_pw = self.state / "postgres" / ".initdb-pw"
            shutil.copy(pwfile, tmp_pw)
            if user:
                pw = pwd.getpwnam(user)
                for p in (self.state / "postgres", data, tmp_pw):
                    os.chown(p, pw.pw_uid, pw.pw_gid)
            cmd = [initdb, "-D", str(data), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={tmp_pw}",
                   "-E", "UTF8", "--locale=C.UTF-8"]
            if user:
                cmd = ["runuser", "-u", user, "--"] + cmd
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            tmp_pw.unlink(missing_ok=True)
            if res.returncode != 0:
                raise SandboxError(f"sandbox part postgres: initdb failed:\n{res.stdout}{res.stderr}")
        sock = self.state / "postgres"
        self._spawn("postgres", [postgres, "-D", str(data), "-p", str(self.ports["postgres"]),
                                 "-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={sock}",
                                 "-c", "fsync=off", "-c", "max_connections=50"], user=user)

    # -- public operations ----------------------------------------------------------------------
    def endpoints(self) -> dict:
        pw = ""
        try:
            pw = (self.state / "postgres" / "password").read_text().strip()
        except OSError:
            pass
        pg_port = self.ports["postgres"]
        return {
            "state_dir": str(self.state),
            "port_base": self.port_base,
            "moto": self.url("moto"),
            "kubeapi": self.url("kubeapi"),
            "kubeconfig": str(self.state / "kubeconfig"),
            "postgres": {"host": HOST, "port": pg_port, "user": "postgres", "password": pw, "dbname": "postgres",
                         "dsn": f"postgresql://postgres:{pw}@{HOST}:{pg_port}/postgres"},
            "prometheus": self.url("prometheus"),
            "exporters": {"blue": self.url("blue"), "green": self.url("green")},
            "alertmanager": self.url("alertmanager"),
        }

    def _write_kubeconfig(self) -> None:
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "sandbox", "preferences": {},
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url("kubeapi")}}],
            "users": [{"name": "sandbox", "user": {"token": "sandbox"}}],
            "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox"}}],
        }
        self._write("kubeconfig", json.dumps(kubeconfig, indent=2), 0o600)

    def up(self, parts: list[str] | None = None, dry_run: bool = False) -> dict:
        parts = parts or PARTS
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            raise SandboxError(f"unknown sandbox part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
        if dry_run:
            would = [p for p in PARTS if p in parts and not self.running(p)]
            return {"changed": bool(would), "started": would, "dry_run": True, "endpoints": self.endpoints()}
        self.state.mkdir(parents=True, exist_ok=True)
        self._write("ports.json", json.dumps({"port_base": self.port_base}))
        # Exporters and Alertmanager come before Prometheus, which scrapes and notifies them.
        order = ["moto", "kubeapi", "postgres", "blue", "green", "alertmanager", "prometheus"]
        todo = [p for p in order if p in parts and not self.running(p)]
        for part in todo:
            self._stop(part)  # a stale process of ours (not ready) goes first
        # Fail before starting anything when another program holds one of our ports.
        taken = [f"{part} ({HOST}:{self.ports[part]})" for part in todo if self._port_taken(part)]
        if taken:
            raise SandboxError(f"sandbox ports in use by another process: {', '.join(taken)}; "
                               f"stop it or choose another --port-base (now {self.port_base})")
        started = []
        for part in todo:
            self.start(part)
            started.append(part)
        self._write_kubeconfig()
        ep = self.endpoints()
        self._write("endpoints.json", json.dumps(ep, indent=2), 0o600)
        return {"changed": bool(started), "started": started, "endpoints": ep}

    def status(self) -> dict:
        return {part: {"port": self.ports[part], "pid": self._pid(part), "running": self.running(part)}
                for part in PARTS}

    def _stop(self, part: str) -> bool:
        pid = self._pid(part)
        (self.state / "pids" / f"{part}.pid").unlink(missing_ok=True)
        if pid is None or not _pid_alive(pid):
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return False
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)
        if _pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return True

    def down(self) -> dict:
        stopped = [part for part in reversed(PARTS) if self._stop(part)]
        return {"changed": bool(stopped), "stopped": stopped}


def redact(value):
    """A copy of ``value`` without the database password (for anything printed or logged)."""
    if isinstance(value, dict):
        out = {k: redact(v) for k, v in value.items()}
        if "password" in out and out["password"]:
            out["password"] = "********"
        if isinstance(out.get("dsn"), str) and value.get("password"):
            out["dsn"] = out["dsn"].replace(value["password"], "********")
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, inspect or stop the local sandbox.")
    parser.add_argument("action", choices=["up", "down", "status", "endpoints"])
    parser.add_argument("--state-dir", default=os.environ.get("CXR_SANDBOX_DIR", ".sandbox"))
    parser.add_argument("--port-base", type=int, default=None,
                        help=f"first of 7 consecutive ports on {HOST} (default {DEFAULT_PORT_BASE}, or the last used)")
    parser.add_argument("--only", default="", help="comma-separated parts to start (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="with up: report what would start, start nothing")
    args = parser.parse_args(argv)
    box = Sandbox(args.state_dir, args.port_base)
    try:
        if args.action == "up":
            result = box.up([p for p in args.only.split(",") if p] or None, dry_run=args.dry_run)
        elif args.action == "down":
            result = box.down()
        elif args.action == "status":
            result = {"parts": box.status(), "endpoints": box.endpoints()}
        else:
            result = box.endpoints()
    except SandboxError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(redact(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
