#!/usr/bin/env python3
"""Deploy the cxr.mlops platform through ansible-runner, with progress lines and a summary.

    deploy_production_infrastructure.py --env local                    # the whole site.yml
    deploy_production_infrastructure.py --env staging --terraform-only --check
    deploy_production_infrastructure.py --env production --confirm-production --k8s-only

Exit codes tell failure kinds apart:

    0  success                       4  preflight refused the inputs (nothing was changed)
    2  bad command-line arguments    5  a task failed during the deployment
    3  production not confirmed      6  a host was unreachable
    8  --env local --check of the     7  interrupted (SIGINT/SIGTERM)
       Terraform phase with the local sandbox not running (check mode cannot start it: make sandbox)

The runner's artifacts (events, stdout, the command line) stay in --artifacts-dir for AWX-style
post-mortems. Nothing secret is printed: task results are not shown, only names and states. Nothing
secret is kept there either: no env/ files, the `command` file without the process environment, and
extra vars passed through a private temporary file that is removed after the run.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("local", "staging", "production")
K8S_TAGS = ("sandbox", "eks", "baseline", "monitoring", "argocd", "backups", "release")
EXIT_OK, EXIT_USAGE, EXIT_UNCONFIRMED, EXIT_PREFLIGHT, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 6, 7
EXIT_NO_SANDBOX = 8


def parse_extra_vars(items: list[str]) -> dict:
    """`k=v`, a JSON object, or `@file` (JSON or YAML); later items win."""
    result: dict = {}
    for item in items:
        if item.startswith("@"):
            import yaml
            try:
                data = yaml.safe_load(Path(item[1:]).read_text())
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"{item[1:]}:{mark.line + 1}" if mark else item[1:]
                raise ValueError(f"--extra-vars {where}: YAML syntax error: {getattr(exc, 'problem', None) or exc}") from None
        elif item.lstrip().startswith("{"):
            try:
                data = json.loads(item)
            except json.JSONDecodeError as exc:
                raise ValueError(f"--extra-vars: JSON syntax error at column {exc.colno}: {exc.msg}") from None
        elif "=" in item:
            key, value = item.split("=", 1)
            data = {key: value}
        else:
            raise ValueError(f"--extra-vars {item!r}: expected key=value, a JSON object or @file")
        if not isinstance(data, dict):
            raise ValueError(f"--extra-vars {item!r}: not a mapping")
        result.update(data)
    return result


def sandbox_address() -> str:
    """The local inventory's AWS endpoint (moto): 127.0.0.1:$CXR_SANDBOX_PORT_BASE (default 15000)."""
    return f"127.0.0.1:{int(os.environ.get('CXR_SANDBOX_PORT_BASE') or 15000)}"


def sandbox_running() -> bool:
    import socket
    host, port = sandbox_address().split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def scrub_command_file(artifact_dir: str) -> None:
    """ansible-runner records the whole process environment (AWS keys included) in `command`:
    keep only the command line and the working directory."""
    path = Path(artifact_dir) / "command"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and "env" in data:
        data.pop("env")
        path.write_text(json.dumps(data), encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--env", required=True, choices=ENVIRONMENTS, help="inventory under inventories/")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--terraform-only", action="store_true", help="only the Terraform phase (tags terraform)")
    scope.add_argument("--k8s-only", action="store_true", help="everything after Terraform (cluster roles only)")
    p.add_argument("--check", action="store_true", help="check mode: plan only, change nothing")
    p.add_argument("--diff", action="store_true", help="show diffs of what would change")
    p.add_argument("--tags", default="", help="comma-separated Ansible tags to run")
    p.add_argument("--skip-tags", default="", help="comma-separated Ansible tags to skip")
    p.add_argument("--extra-vars", "-e", action="append", default=[], metavar="VARS",
                   help="key=value, JSON object or @file; repeatable")
    p.add_argument("--playbook", default="site.yml", help="playbook relative to the project (default site.yml)")
    p.add_argument("--confirm-production", action="store_true", help="required with --env production")
    p.add_argument("--artifacts-dir", default=None, help="ansible-runner private data dir (default artifacts/runner/<env>)")
    p.add_argument("--vault-password-file", default=None, help="passed to ansible-playbook")
    p.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")
    return p


def runner_options(args: argparse.Namespace) -> dict:
    tags = [t for t in args.tags.split(",") if t]
    skip = [t for t in args.skip_tags.split(",") if t]
    if args.terraform_only:
        tags = sorted(set(tags) | {"terraform"})
    if args.k8s_only:
        skip = sorted(set(skip) | {"terraform"})
    cmdline = []
    if args.check:
        cmdline.append("--check")
    if args.diff:
        cmdline.append("--diff")
    if args.vault_password_file:
        cmdline += ["--vault-password-file", str(Path(args.vault_password_file).resolve())]
    options = {
        "project_dir": str(ROOT),
        "playbook": args.playbook,
        "inventory": str(ROOT / "inventories" / args.env),
        "extravars": parse_extra_vars(args.extra_vars),
        "envvars": {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        # Nothing that may hold a secret is written under the artifacts: no env/ files (extra vars,
        # environment, passwords), and the `command` file is rewritten without the environment.
        "suppress_env_files": True,
        "quiet": True,
    }
    if tags:
        options["tags"] = ",".join(tags)
    if skip:
        options["skip_tags"] = ",".join(skip)
    if cmdline:
        options["cmdline"] = " ".join(cmdline)
    return options


class Progress:
    """Turns runner events into one line per task: phase, task, state, elapsed."""

    def __init__(self, quiet: bool, out=sys.stdout):
        self.quiet = quiet
        self.out = out
        self.start = time.monotonic()
        self.phase = ""
        self.task = ""
        self.changed: list[tuple[str, str]] = []
        self.failed: list[tuple[str, str, str]] = []
        self.unreachable = False
        self.stats: dict = {}

    def _line(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.start:7.1f}s] {text}", file=self.out, flush=True)

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind == "playbook_on_play_start":
            self.phase = data.get("play", "")
            self._line(f"== {self.phase}")
        elif kind == "playbook_on_task_start":
            self.task = data.get("task", "")
        elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
            res = data.get("res", {}) or {}
            if kind == "runner_on_ok" and res.get("changed"):
                self.changed.append((self.phase, data.get("task", self.task)))
                self._line(f"   changed  {data.get('task', self.task)}")
            elif kind == "runner_on_ok":
                self._line(f"   ok       {data.get('task', self.task)}")
            elif kind == "runner_on_failed" and not data.get("ignore_errors"):
                msg = "" if res.get("_ansible_no_log") else str(res.get("msg", ""))[:400]
                self.failed.append((self.phase, data.get("task", self.task), msg))
                self._line(f"   FAILED   {data.get('task', self.task)}: {msg}")
            elif kind == "runner_on_unreachable":
                self.unreachable = True
                self._line(f"   UNREACHABLE {data.get('task', self.task)}")
        elif kind == "playbook_on_stats":
            self.stats = {k: data.get(k, {}) for k in ("ok", "changed", "failures", "dark", "skipped")}
        return False  # do not keep events in memory


def summary(progress: Progress, status: str, rc: int, artifacts: Path, facts: dict) -> str:
    lines = ["", "Summary", "-------"]
    lines.append(f"{'result':<18} {status} (ansible rc={rc})")
    lines.append(f"{'changed tasks':<18} {len(progress.changed)}")
    for phase, task in progress.changed[:20]:
        lines.append(f"{'':<18}   {phase}: {task}")
    for phase, task, msg in progress.failed:
        lines.append(f"{'failed':<18} {phase}: {task}: {msg}")
    for label, key in (("cost estimate", "cost"), ("health", "health"), ("cutover", "cutover")):
        if facts.get(key):
            lines.append(f"{label:<18} {facts[key]}")
    lines.append(f"{'artifacts':<18} {artifacts}")
    return "\n".join(lines)


def summary_facts(artifacts_dir: Path) -> dict:
    """The end-of-run summary that playbooks/summary.yml writes (non-secret), if any."""
    path = artifacts_dir / "deploy-summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    if args.env == "production" and not args.confirm_production:
        print("Refusing to touch production without --confirm-production (nothing was run).", file=sys.stderr)
        return EXIT_UNCONFIRMED
    try:
        options = runner_options(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    wants_terraform = not args.k8s_only and (args.terraform_only or not [t for t in args.tags.split(",") if t]
                                             or "terraform" in args.tags.split(","))
    if args.env == "local" and args.check and wants_terraform and not sandbox_running():
        print(f"The local sandbox is not running (nothing answers on {sandbox_address()}), and check mode cannot "
              "start it: make sandbox (nothing was run).", file=sys.stderr)
        return EXIT_NO_SANDBOX
    if not (ROOT / args.playbook).is_file():
        print(f"error: playbook {args.playbook} not found under {ROOT}", file=sys.stderr)
        return EXIT_USAGE

    import ansible_runner  # imported late so --help works without the virtualenv

    artifacts = Path(args.artifacts_dir or ROOT / "artifacts" / "runner" / args.env).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    options["extravars"].setdefault("cxr_deploy_summary_file", str(artifacts / "deploy-summary.json"))
    (artifacts / "deploy-summary.json").unlink(missing_ok=True)
    progress = Progress(args.quiet)
    interrupted = {"flag": False}

    def on_signal(signum, _frame):
        interrupted["flag"] = True

    # Extra vars may hold secrets: they reach ansible-playbook through a private file outside the
    # artifacts (not on its command line, which the runner records), removed after the run.
    fd, extravars_file = tempfile.mkstemp(prefix="cxr-extravars-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(options.pop("extravars"), handle)
    options["extravars"] = extravars_file
    seen_dirs: set[str] = set()

    def on_status(_data, runner_config=None):
        if runner_config is not None:
            seen_dirs.add(runner_config.artifact_dir)
            scrub_command_file(runner_config.artifact_dir)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # ansible-playbook must be the virtualenv's, next to this Python.
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        result = ansible_runner.run(private_data_dir=str(artifacts), event_handler=progress,
                                    status_handler=on_status,
                                    cancel_callback=lambda: interrupted["flag"], **options)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        Path(extravars_file).unlink(missing_ok=True)
        for artifact_dir in seen_dirs:
            scrub_command_file(artifact_dir)

    if interrupted["flag"] or result.status == "canceled":
        code, status = EXIT_INTERRUPTED, "interrupted"
    elif result.rc == 0:
        code, status = EXIT_OK, "succeeded" + (" (check mode: nothing changed)" if args.check else "")
    elif progress.unreachable:
        code, status = EXIT_UNREACHABLE, "a host was unreachable"
    elif progress.failed and all(phase.startswith("Preflight") for phase, _, _ in progress.failed):
        code, status = EXIT_PREFLIGHT, "refused by preflight (nothing was changed)"
    else:
        code, status = EXIT_FAILED, "failed"
    print(summary(progress, status, result.rc, artifacts / "artifacts" / str(result.config.ident),
                  summary_facts(artifacts)))
    return code


if __name__ == "__main__":
    sys.exit(main())
