"""module_utils/terraform_process.run and the terraform_command module, with a fake terraform.

The fake behaves like Terraform where it matters: the first SIGINT starts a graceful stop that takes a while and
prints as it goes; a second SIGINT makes it exit at once ("hard"). Every SIGINT it gets is recorded, so the tests
see exactly what reached it. The interrupt tests run ``run`` in a process of its own (its own process group, as the
Ansible worker and module are) and signal that group, as the worker does when the play is interrupted.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.cxr.mlops.plugins.module_utils import terraform_process
from ansible_collections.cxr.mlops.plugins.modules import terraform_command

FAKE = textwrap.dedent("""
    import os, signal, sys, time
    record, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    def note(text):
        with open(record, "a") as f:
            f.write(text + "\\n")
    interrupts = []
    def on_int(signum, frame):
        interrupts.append(time.monotonic())
        note("SIGINT")
        if len(interrupts) > 1:
            note("hard exit")
            os._exit(2)
    signal.signal(signal.SIGINT, on_int)
    note("started %d pgid %d" % (os.getpid(), os.getpgid(0)))
    print("out line"); print("err line", file=sys.stderr); sys.stdout.flush()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if interrupts and mode == "graceful":
            print("Interrupt received. Gracefully shutting down..."); sys.stdout.flush()
            for i in range(10):  # still writing while it stops: a dead reader must not kill it (SIGPIPE)
                time.sleep(0.1)
                print("Stopping operation... %d" % i); sys.stdout.flush()
            note("stopped gracefully")
            sys.exit(1)
        time.sleep(0.05)
    note("finished")
    sys.exit(int(os.environ.get("FAKE_RC", "0")))
""")


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_terraform.py"
    script.write_text(FAKE)
    record = tmp_path / "record.txt"

    def argv(mode="graceful", seconds=30.0):
        return [sys.executable, str(script), str(record), mode, str(seconds)]

    argv.record = record
    argv.lines = lambda: record.read_text().splitlines() if record.exists() else []
    return argv


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# -- plain runs ------------------------------------------------------------------------------------

def test_output_rc_and_times_like_command(fake):
    res = terraform_process.run(fake(seconds=0), timeout=30)
    assert res["rc"] == 0
    assert res["stdout"] == "out line\n" and res["stderr"] == "err line\n"
    assert res["interrupted"] == "" and res["signals"] == [] and not res["timed_out"] and not res["killed"]
    assert res["pid"] > 0 and res["start"] <= res["end"]


def test_exit_code_is_passed_through(fake, monkeypatch):
    monkeypatch.setenv("FAKE_RC", "2")
    assert terraform_process.run(fake(seconds=0), timeout=30)["rc"] == 2


def test_terraform_runs_in_a_session_of_its_own(fake):
    terraform_process.run(fake(seconds=0), timeout=30)
    started = [line for line in fake.lines() if line.startswith("started")][0].split()
    assert started[1] == started[3]  # pid == pgid: its own group, so the caller's group signals never reach it
    assert int(started[3]) != os.getpgid(0)


def test_handlers_are_restored(fake):
    before = {s: signal.getsignal(s) for s in terraform_process.FORWARDED_SIGNALS}
    terraform_process.run(fake(seconds=0), timeout=30)
    assert {s: signal.getsignal(s) for s in terraform_process.FORWARDED_SIGNALS} == before


def test_a_missing_binary_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        terraform_process.run([str(tmp_path / "no-terraform")], timeout=5)


@pytest.mark.parametrize("timeout, kill_after", [(0, 60), (5, -1)])
def test_bad_bounds_are_refused(timeout, kill_after):
    with pytest.raises(ValueError):
        terraform_process.run(["true"], timeout=timeout, kill_after=kill_after)


# -- the timeout -----------------------------------------------------------------------------------

def test_timeout_sends_exactly_one_sigint_and_waits_for_the_graceful_stop(fake):
    res = terraform_process.run(fake("graceful"), timeout=1, kill_after=30)
    assert res["rc"] == terraform_process.RC_TIMED_OUT == 124
    assert res["timed_out"] and not res["killed"]
    assert fake.lines().count("SIGINT") == 1
    assert "stopped gracefully" in fake.lines() and "hard exit" not in fake.lines()
    assert "Stopping operation... 9" in res["stdout"]


def test_timeout_kills_the_group_only_kill_after_seconds_later(fake):
    t0 = time.monotonic()
    res = terraform_process.run(fake("stubborn"), timeout=1, kill_after=1)
    assert res["rc"] == terraform_process.RC_KILLED == 137
    assert res["timed_out"] and res["killed"]
    assert fake.lines().count("SIGINT") == 1  # one SIGINT, then SIGKILL: never a second SIGINT
    assert 2 <= time.monotonic() - t0 < 10


# -- an interrupted play ---------------------------------------------------------------------------

RUNNER = """
import json, sys
from ansible_collections.cxr.mlops.plugins.module_utils.terraform_process import run
def on_signal(name, pid):
    open(sys.argv[3], "a").write("%s %s\\n" % (name, pid))
res = run(json.loads(sys.argv[1]), timeout=60, kill_after=5, poll=0.05, on_interrupt=sys.argv[4], on_signal=on_signal)
open(sys.argv[2], "w").write(json.dumps(res))
print(json.dumps(res))
"""


def start_runner(tmp_path, argv, on_interrupt="stop"):
    """``run`` in a process of its own whose stdout is a pipe (like the module's to the worker)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[4] / ".collections"),
                                                         os.environ.get("PYTHONPATH", "")])}
    result, calls = tmp_path / "result.json", tmp_path / "on_signal.txt"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(argv), str(result), str(calls), on_interrupt],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    proc.result, proc.calls = result, calls
    return proc, result


@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGINT, signal.SIGINT, signal.SIGTERM],
                                     [signal.SIGTERM], [signal.SIGHUP]],
                         ids=["sigint", "sigint-twice-then-sigterm", "sigterm", "sighup"])
def test_signals_to_the_callers_group_reach_terraform_as_one_sigint(tmp_path, fake, signals):
    proc, result = start_runner(tmp_path, fake("graceful"))
    try:
        assert wait_for(lambda: any(line.startswith("started") for line in fake.lines())), fake.lines()
        for signum in signals:  # what the Ansible worker does on Ctrl-C: signal its whole process group
            os.killpg(proc.pid, signum)
            time.sleep(0.05)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    res = json.loads(out)
    assert fake.lines().count("SIGINT") == 1, fake.lines()
    assert "stopped gracefully" in fake.lines() and "hard exit" not in fake.lines()
    assert res["rc"] == 1 and not res["timed_out"] and not res["killed"]
    assert res["interrupted"] == signal.Signals(signals[0]).name
    assert [s["action"] for s in res["signals"]] == (
        ["forwarded as SIGINT (graceful stop)"]
        + ["not forwarded (a second SIGINT would make Terraform exit at once)"] * (len(signals) - 1))
    assert "Stopping operation... 9" in res["stdout"]
    pid = [line for line in fake.lines() if line.startswith("started")][0].split()[1]
    assert proc.calls.read_text() == "%s %s\n" % (signal.Signals(signals[0]).name, pid)  # once, with the pid


def test_finish_passes_nothing_on_and_waits_for_the_end(tmp_path, fake):
    proc, result = start_runner(tmp_path, fake("graceful", seconds=2), on_interrupt="finish")
    try:
        assert wait_for(lambda: any(line.startswith("started") for line in fake.lines())), fake.lines()
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.stdout.close()  # the worker is gone
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    res = json.loads(result.read_text())
    assert "SIGINT" not in fake.lines() and "finished" in fake.lines()
    assert res["rc"] == 0 and res["interrupted"] == "SIGINT" and not res["timed_out"]
    assert [s["action"] for s in res["signals"]] == ["not passed on: Terraform is let finish (on_interrupt=finish)"] * 2


@pytest.mark.parametrize("on_interrupt", ["stop", "finish"])
def test_a_signal_before_the_start_means_terraform_is_not_started(fake, monkeypatch, on_interrupt):
    real_now = terraform_process._now

    def now_with_a_signal():
        monkeypatch.setattr(terraform_process, "_now", real_now)
        os.kill(os.getpid(), signal.SIGINT)  # handled by run's handler: not a KeyboardInterrupt
        return real_now()

    monkeypatch.setattr(terraform_process, "_now", now_with_a_signal)
    calls = []
    res = terraform_process.run(fake(), timeout=30, on_interrupt=on_interrupt, on_signal=lambda *a: calls.append(a))
    assert res["rc"] == terraform_process.RC_INTERRUPTED == 130 and res["pid"] is None
    assert res["signals"][0]["action"] == "received before Terraform was started"
    assert calls == [("SIGINT", None)]
    assert not fake.record.exists()


def test_on_interrupt_must_be_known():
    with pytest.raises(ValueError, match="on_interrupt must be one of stop, finish"):
        terraform_process.run(["true"], timeout=5, on_interrupt="ignore")


def test_terraform_outlives_the_reader_of_the_callers_output(tmp_path, fake):
    """The CI failure: the module's reader (the worker) is gone; Terraform still stops gracefully (no SIGPIPE)
    and the caller still waits for it, then records the result."""
    proc, result = start_runner(tmp_path, fake("graceful"))
    try:
        assert wait_for(lambda: any(line.startswith("started") for line in fake.lines())), fake.lines()
        os.killpg(proc.pid, signal.SIGINT)
        proc.stdout.close()  # the worker died: nobody reads the module's output any more
        assert wait_for(lambda: "stopped gracefully" in fake.lines(), timeout=30), fake.lines()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    res = json.loads(result.read_text())
    assert res["rc"] == 1 and res["interrupted"] == "SIGINT"
    assert "Stopping operation... 9" in res["stdout"]
    assert fake.lines().count("SIGINT") == 1 and "hard exit" not in fake.lines()


# -- the module ------------------------------------------------------------------------------------

def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            terraform_command.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = exc.value.code
    return out


def test_module_returns_what_command_returns(capsys, fake):
    out = run_module(capsys, argv=fake(seconds=0), timeout=30)
    assert out["_rc"] == 0 and out["rc"] == 0 and out["changed"] is True
    assert out["stdout_lines"] == ["out line"] and out["stderr_lines"] == ["err line"]
    assert out["cmd"] == fake(seconds=0) and out["delta"] and out["interrupted"] == ""


def test_module_fails_on_a_non_zero_rc(capsys, fake, monkeypatch):
    monkeypatch.setenv("FAKE_RC", "1")
    out = run_module(capsys, argv=fake(seconds=0), timeout=30)
    assert out["failed"] is True and out["rc"] == 1 and out["msg"] == "non-zero return code"


def test_module_writes_the_interrupted_log_on_timeout_only(capsys, fake, tmp_path):
    log = tmp_path / "apply.interrupted.log"
    run_module(capsys, argv=fake(seconds=0), timeout=30, interrupted_log=str(log))
    assert not log.exists()
    out = run_module(capsys, argv=fake("graceful"), timeout=1, kill_after=30, interrupted_log=str(log))
    assert out["failed"] is True and out["rc"] == 124 and out["timed_out"] is True
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    text = log.read_text()
    assert "timed_out: True" in text and "Stopping operation... 9" in text


@pytest.mark.parametrize("args, message", [({"argv": []}, "argv must not be empty"),
                                           ({"argv": ["true"], "timeout": 0}, "timeout must be > 0"),
                                           ({"argv": ["true"], "kill_after": -1}, "kill_after must be >= 0")])
def test_module_refuses_bad_input(capsys, args, message):
    out = run_module(capsys, **args)
    assert out["failed"] is True and message in out["msg"]


def test_module_names_a_binary_it_cannot_run(capsys, tmp_path):
    out = run_module(capsys, argv=[str(tmp_path / "no-terraform"), "init"])
    assert out["failed"] is True and out["msg"].startswith("cannot run %s" % (tmp_path / "no-terraform"))
    assert "rc" not in out  # the role's rescue then shows this message, not an empty terraform error


def test_running_report_says_what_terraform_was_told():
    finish = terraform_command.running_report(["terraform", "apply"], "SIGINT", 42, "finish")
    assert "Terraform (pid 42) was not signalled and is finishing" in finish and "kill -INT 42" in finish
    stop = terraform_command.running_report(["terraform", "apply"], "SIGTERM", 42, "stop")
    assert "SIGTERM received" in stop and "was sent one SIGINT and is stopping gracefully" in stop
    assert "Terraform was not started" in terraform_command.running_report(["terraform"], "SIGINT", None, "stop")


def test_module_does_nothing_in_check_mode(capsys, fake):
    out = run_module(capsys, argv=fake(seconds=0), _ansible_check_mode=True)
    assert out["skipped"] is True and out["changed"] is False
    assert not fake.record.exists()
