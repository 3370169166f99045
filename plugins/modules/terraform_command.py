#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: terraform_command
short_description: Run one terraform command that an interrupted play stops gracefully, never kills
version_added: "0.1.0"
description:
  - Runs O(argv) (no shell) like M(ansible.builtin.command) and returns the same C(rc), C(stdout), C(stderr),
    C(cmd), C(start), C(end) and C(delta), but made for Terraform, whose state lock and state must survive an
    interrupted play.
  - Terraform runs in a session of its own, with its output in temporary files (not a pipe), so it is neither
    signalled with the play's process group nor killed by SIGPIPE when the process reading its output dies.
  - When the play is interrupted (Ctrl-C or an AWX cancel reach the module as SIGINT or SIGTERM; SIGHUP too),
    the module keeps waiting for Terraform to exit, even after the play has gone, and, with O(on_interrupt=stop),
    sends it exactly one SIGINT, its graceful stop (it starts nothing new, writes the state and releases the state
    lock). Further signals are not passed on, as a second SIGINT makes Terraform exit at once. With
    O(on_interrupt=finish), Terraform is not signalled and finishes (for an apply of a saved plan).
  - After O(timeout) seconds Terraform gets the same single SIGINT (C(rc=124)); if it is still running
    O(kill_after) seconds later, its process group is killed (C(rc=137)), which can leave the lock held.
  - Fails when C(rc) is not 0, like M(ansible.builtin.command); use C(failed_when) for other exit codes.
author:
  - cxr.mlops platform engineers
options:
  argv:
    description: The command and its arguments, e.g. C([terraform, -chdir=infra, plan, -out=tfplan]).
    type: list
    elements: str
    required: true
  tf_vars:
    description:
      - Terraform input variables passed to Terraform as C(TF_VAR_<name>) environment variables of its process only
        (secrets: never in a var-file, on the command line or in a log). Strings go as they are; other values as JSON.
      - The values are masked (no_log) in every result.
    type: dict
    default: {}
  timeout:
    description: Seconds Terraform may run before it is interrupted (one SIGINT).
    type: int
    default: 3600
  kill_after:
    description: Seconds between that SIGINT (after O(timeout)) and SIGKILL of Terraform's process group.
    type: int
    default: 60
  on_interrupt:
    description:
      - C(stop) turns the first signal into one SIGINT to Terraform (its graceful stop). The AWS provider then
        cancels the waits of the operations in flight, and a resource it was creating is recorded tainted (the
        next plan replaces it).
      - C(finish) lets Terraform finish; the state is complete and the lock released when it exits.
      - Either way a signal that comes before Terraform was started means it is not started.
    type: str
    choices: [stop, finish]
    default: stop
  interrupted_log:
    description:
      - When the call is interrupted (a signal or O(timeout)), what happens is written to this file (mode 0600),
        at the first signal (Terraform's PID and what it was told), then, once it has exited, its exit code, the
        signals received and its output. The play that started it is usually gone by then. Nothing is written
        otherwise.
    type: path
notes:
  - Supports check mode by doing nothing (like M(ansible.builtin.command)); set C(check_mode=false) on calls that
    must run in check mode (a plan).
  - C(changed) is always true when the command ran; tasks set C(changed_when).
seealso:
  - module: ansible.builtin.command
  - module: cxr.mlops.terraform_plan_guard
"""

EXAMPLES = r"""
- name: Terraform apply (the saved plan)
  cxr.mlops.terraform_command:
    argv: [terraform, -chdir=infrastructure/terraform, apply, -input=false, -no-color, -lock-timeout=60s, cxr.tfplan]
    timeout: 3600
    on_interrupt: finish
    interrupted_log: /srv/artifacts/cxr.apply.interrupted.log
  register: apply
  changed_when: true

- name: Terraform plan (exit code 2 means changes)
  cxr.mlops.terraform_command:
    argv: [terraform, -chdir=infrastructure/terraform, plan, -detailed-exitcode, -out=cxr.tfplan]
  register: plan
  check_mode: false
  changed_when: false
  failed_when: plan.rc not in [0, 2]
"""

RETURN = r"""
rc:
  description: Terraform's exit code; 124 when it ran past O(timeout) and then stopped, 137 when it had to be killed,
    130 when the module was interrupted before Terraform was started (it then was not).
  returned: when the command was run
  type: int
stdout:
  description: Terraform's standard output.
  returned: when the command was run
  type: str
stderr:
  description: Terraform's standard error.
  returned: when the command was run
  type: str
stdout_lines:
  description: O(stdout) split into lines.
  returned: when the command was run
  type: list
  elements: str
stderr_lines:
  description: O(stderr) split into lines.
  returned: when the command was run
  type: list
  elements: str
cmd:
  description: The command run (O(argv)).
  returned: always
  type: list
  elements: str
start:
  description: Start time (UTC, ISO 8601).
  returned: when the command was run
  type: str
end:
  description: End time (UTC, ISO 8601).
  returned: when the command was run
  type: str
delta:
  description: Run time.
  returned: when the command was run
  type: str
timed_out:
  description: Whether Terraform ran past O(timeout).
  returned: when the command was run
  type: bool
killed:
  description: Whether Terraform's process group had to be killed (O(kill_after) after the timeout).
  returned: when the command was run
  type: bool
interrupted:
  description: Name of the first signal the module received while Terraform ran (e.g. C(SIGINT)), or empty.
  returned: when the command was run
  type: str
signals:
  description: Every signal received (C(signal), C(after) seconds, C(action) taken).
  returned: when the command was run
  type: list
  elements: dict
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cxr.mlops.plugins.module_utils.terraform_process import run


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def interrupted_report(argv, res):
    lines = ["command: %s" % " ".join(argv), "pid: %s" % res["pid"], "start: %s" % res["start"],
             "end: %s" % res["end"], "rc: %s" % res["rc"], "timed_out: %s" % res["timed_out"],
             "killed: %s" % res["killed"]]
    lines += ["signal: %(signal)s after %(after)s s: %(action)s" % s for s in res["signals"]]
    return "\n".join(lines) + "\n\n--- stdout ---\n" + res["stdout"] + "\n--- stderr ---\n" + res["stderr"]


def running_report(argv, name, pid, on_interrupt):
    if pid is None:
        told = "Terraform was not started."
    elif on_interrupt == "finish":
        told = ("Terraform (pid %d) was not signalled and is finishing; it writes the state and releases the lock when "
                "it exits. To stop it sooner: kill -INT %d (once: a second SIGINT makes it exit at once)." % (pid, pid))
    else:
        told = ("Terraform (pid %d) was sent one SIGINT and is stopping gracefully; it writes the state and releases "
                "the lock when it exits." % pid)
    return "command: %s\n%s received at %s\n%s\nstill running: this file is rewritten when it exits\n" % (
        " ".join(argv), name, datetime.datetime.now(datetime.timezone.utc).isoformat(), told)


def tf_var_env(tf_vars, base):
    """The process environment with each variable as TF_VAR_<name> (strings raw, other values as JSON)."""
    env = dict(base)
    for name, value in tf_vars.items():
        env["TF_VAR_" + name] = value if isinstance(value, str) else json.dumps(value)
    return env


def main():
    module = AnsibleModule(
        argument_spec=dict(
            argv=dict(type="list", elements="str", required=True),
            tf_vars=dict(type="dict", default={}, no_log=True),
            timeout=dict(type="int", default=3600),
            kill_after=dict(type="int", default=60),
            on_interrupt=dict(type="str", choices=["stop", "finish"], default="stop"),
            interrupted_log=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    argv = p["argv"]
    if not argv:
        module.fail_json(msg="argv must not be empty", cmd=argv)
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be > 0, got %d" % p["timeout"], cmd=argv)
    if p["kill_after"] < 0:
        module.fail_json(msg="kill_after must be >= 0, got %d" % p["kill_after"], cmd=argv)
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, cmd=argv, msg="Command would have run if not in check mode")

    def on_signal(name, pid):
        if p["interrupted_log"]:
            _write_private(p["interrupted_log"], running_report(argv, name, pid, p["on_interrupt"]))

    try:
        res = run(argv, p["timeout"], p["kill_after"], env=tf_var_env(p["tf_vars"], os.environ) if p["tf_vars"] else None,
                  on_interrupt=p["on_interrupt"], on_signal=on_signal)
    except OSError as exc:
        module.fail_json(msg="cannot run %s: %s" % (argv[0], exc), cmd=argv)
    if p["interrupted_log"] and (res["interrupted"] or res["timed_out"]):
        try:
            _write_private(p["interrupted_log"], interrupted_report(argv, res))
        except OSError as exc:
            module.warn("could not write %s: %s" % (p["interrupted_log"], exc))

    result = dict(res, cmd=argv, changed=True, stdout_lines=res["stdout"].splitlines(),
                  stderr_lines=res["stderr"].splitlines())
    if res["interrupted"] and res["pid"] is None:
        module.fail_json(msg="interrupted by %s before Terraform was started; it was not run" % res["interrupted"],
                         **result)
    if res["interrupted"] and p["on_interrupt"] == "stop":
        module.fail_json(msg="interrupted by %s: Terraform was sent one SIGINT (its graceful stop: state written, lock "
                             "released) and exited with rc=%s" % (res["interrupted"], res["rc"]), **result)
    if res["interrupted"]:
        module.warn("interrupted by %s: Terraform was let finish (on_interrupt=finish), rc=%s"
                    % (res["interrupted"], res["rc"]))
    if res["rc"] != 0:
        module.fail_json(msg="non-zero return code", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
