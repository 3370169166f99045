"""The terraform_apply role interrupted during apply (SIGINT to the play), then re-run: real terraform, its own moto.

Split from test_terraform_apply.py so that ``--dist loadfile`` runs it beside the guarded-root tests.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tf_role import PLAYBOOK, Moto, Root, assert_ok  # tests/support (on pytest's pythonpath, pyproject.toml)

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]


# -- fault: the play interrupted during apply ----------------------------------------------------

def _terraform_apply_running(plan_file: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"terraform") for a in argv[:1]) and b"apply" in argv and plan_file.encode() in argv:
            return True
    return False


def test_interrupted_apply_then_rerun_converges_without_duplicates_or_stale_lock(tmp_path, ansible_playbook):
    from tests.conftest import ROOT as REPO
    server = Moto(tmp_path / "moto.log")  # its own moto: this test creates a second DB instance
    try:
        root = Root(server, tmp_path / "artifacts", "i" + uuid.uuid4().hex[:6])
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK), "--tags", "terraform",
               "-e", json.dumps(root.extra_vars(terraform_apply_lock_timeout=600))]
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        log = open(tmp_path / "interrupted.log", "wb")
        # Its own session, like a terminal's foreground job; SIGINT to the group is what Ctrl-C sends.
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        plan_file = str(root.artifacts / f"{root.name}.tfplan")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and proc.poll() is None and not _terraform_apply_running(plan_file):
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "interrupted.log").read_text()[-4000:]
        time.sleep(5)  # the apply is creating resources (the DB instance takes the longest)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        log.close()
        assert proc.returncode != 0  # the play was interrupted
        assert "User interrupted execution" in (tmp_path / "interrupted.log").read_text()

        # The apply was let finish in the background (terraform_apply_on_interrupt=finish): the re-run waits for its
        # lock (never breaks it), then plans from the complete state.
        rerun = root.run(ansible_playbook, terraform_apply_lock_timeout=600)
        assert_ok(rerun)
        assert not _terraform_apply_running(plan_file)
        record = (root.artifacts / f"{root.name}.apply.interrupted.log").read_text()
        assert "signal: SIGINT after" in record and "not passed on: Terraform is let finish" in record, record
        assert "rc: 0" in record and "killed: False" in record, record  # it ended by itself: state written, unlocked
        assert oct((root.artifacts / f"{root.name}.apply.interrupted.log").stat().st_mode & 0o777) == "0o600"
        # converged, exactly one of each: nothing created twice, nothing left half-made
        assert root.buckets() == [f"{root.name}-artifacts"]
        assert root.dbs() == [(f"{root.name}-db", "cxr")]
        assert root.topics() == [f"{root.name}-alerts-a"]
        assert root.lock_object() == []  # no stale lock
        final = root.run(ansible_playbook)
        assert_ok(final)
        assert final.changed == 0, final
    finally:
        server.stop()
