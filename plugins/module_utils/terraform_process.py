# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one terraform command so that an interrupted play never kills Terraform hard.

Why not ``ansible.builtin.command`` (``run_command``) with coreutils ``timeout``:

* ``timeout`` puts Terraform in a process group of its own, so the SIGINT Ansible's worker sends to its
  process group when the play is interrupted (Ctrl-C, an AWX cancel) never reaches Terraform;
* the module process that reads Terraform's stdout dies of that SIGINT, and Terraform's next line of output
  (``Still creating...``) then kills it with SIGPIPE (Go exits on a write to a broken pipe on fd 1 or 2):
  no graceful stop, the resources it had just created never reach the state, and the state lock stays held.

:func:`run` instead starts Terraform in a session of its own with stdout and stderr in (unlinked) temporary
files, never a pipe, so nothing Terraform writes can kill it, and it keeps waiting for Terraform to exit even
after the Ansible worker that started it has gone. What a signal (SIGINT, SIGTERM, SIGHUP) to the caller does:

* ``on_interrupt="stop"``: the first one becomes exactly one SIGINT to Terraform, its graceful stop (it starts
  nothing new, writes the state and releases the lock); later ones are recorded and not passed on, as a second
  SIGINT makes Terraform exit at once. The AWS provider cancels the waiters of the operations in flight, so a
  resource it was creating is recorded *tainted*: the next plan replaces it.
* ``on_interrupt="finish"``: nothing is passed on; Terraform finishes (an apply of a saved, approved plan), writes
  the state and releases the lock; a re-run waits for that lock (``-lock-timeout``) and then plans from the
  complete state.

A signal before Terraform was started means it is not started. The timeout sends the same single SIGINT, and
only ``kill_after`` seconds later is Terraform's process group killed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import signal
import subprocess
import tempfile
import time

# What coreutils timeout returns, so callers (and the terraform_failure filter) read the same codes.
RC_TIMED_OUT = 124
RC_KILLED = 128 + signal.SIGKILL
RC_INTERRUPTED = 128 + signal.SIGINT

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _read(handle):
    handle.flush()
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def _signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


ON_INTERRUPT = ("stop", "finish")


def run(argv, timeout, kill_after=60, cwd=None, env=None, poll=0.2, on_interrupt="stop", on_signal=None):
    """Run ``argv`` to its end; see the module docstring for the signal and timeout handling.

    ``on_interrupt``: ``stop`` passes the first signal on as one SIGINT (Terraform's graceful stop); ``finish``
    passes nothing on and lets Terraform finish (an apply of a saved plan: the AWS provider cancels the create
    waiters it has in flight on a graceful stop, and what it was creating is left tainted). Either way the call
    waits for Terraform to exit, bounded by ``timeout`` (then one SIGINT) and ``kill_after`` (then SIGKILL).
    ``on_signal(name, pid)`` is called after the first signal was handled (``pid`` None before the start).

    Returns a dict: ``rc`` (Terraform's exit code; 124 when it ran past ``timeout`` and then exited, 137 when it
    had to be killed ``kill_after`` seconds later, 130 when a signal came before it was started, which it then
    is not), ``stdout``, ``stderr``, ``start``, ``end``, ``delta``, ``pid`` (None when not started),
    ``timed_out``, ``killed``, ``interrupted`` (name of the first signal received, or ``""``) and ``signals``
    (every signal received: its name, the seconds since the start and what was done with it).

    Raises ``OSError`` when ``argv`` cannot be started. Installs handlers for SIGINT, SIGTERM and SIGHUP for the
    duration of the call and restores the previous ones (so: main thread only, like any Python signal handler).
    """
    if timeout <= 0:
        raise ValueError("timeout must be > 0, got %r" % (timeout,))
    if kill_after < 0:
        raise ValueError("kill_after must be >= 0, got %r" % (kill_after,))
    if on_interrupt not in ON_INTERRUPT:
        raise ValueError("on_interrupt must be one of %s, got %r" % (", ".join(ON_INTERRUPT), on_interrupt))

    t0 = time.monotonic()
    # requested: a stop was asked for (signal or timeout); sent: the one SIGINT went out.
    state = {"proc": None, "requested": False, "sent": False, "signals": []}

    def stop():
        """Ask for the graceful stop; the SIGINT goes out once, as soon as the process exists."""
        state["requested"] = True
        if state["proc"] is not None and not state["sent"]:
            state["sent"] = True
            try:
                os.kill(state["proc"].pid, signal.SIGINT)
            except OSError:  # already gone
                pass

    def handler(signum, _frame):
        first = not state["signals"]
        started = state["proc"] is not None
        if not started:
            stop()  # never start it
            action = "received before Terraform was started" if first else "ignored"
        elif on_interrupt == "finish":
            action = "not passed on: Terraform is let finish (on_interrupt=finish)"
        elif first:
            stop()
            action = "forwarded as SIGINT (graceful stop)"
        else:
            action = "not forwarded (a second SIGINT would make Terraform exit at once)"
        state["signals"].append({"signal": _signal_name(signum), "after": round(time.monotonic() - t0, 1),
                                 "action": action})
        if first and on_signal is not None:
            try:
                on_signal(_signal_name(signum), state["proc"].pid if started else None)
            except Exception:  # noqa: BLE001 - a report must never break the wait
                pass

    def stop_from_main():
        # The handler runs between two bytecodes of this thread: blocked, it cannot interleave with stop().
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
        try:
            stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)

    def result(rc, out, err, start, pid, timed_out=False, killed=False):
        end = _now()
        return {"rc": rc, "stdout": _read(out) if out else "", "stderr": _read(err) if err else "",
                "start": start.isoformat(), "end": end.isoformat(), "delta": str(end - start), "pid": pid,
                "timed_out": timed_out, "killed": killed,
                "interrupted": state["signals"][0]["signal"] if state["signals"] else "",
                "signals": list(state["signals"])}

    previous = {}
    for signum in FORWARDED_SIGNALS:
        previous[signum] = signal.signal(signum, handler)
    try:
        start = _now()
        if state["requested"]:
            return result(RC_INTERRUPTED, None, None, start, None)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # Own session: Terraform gets signals from here only (one SIGINT), never its caller's process group's.
            # stdout/stderr are files: no pipe whose reader can die and take Terraform down with SIGPIPE.
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
            state["proc"] = proc
            if state["requested"]:  # a signal came while it was starting
                stop_from_main()
            deadline = t0 + timeout
            kill_at = None
            timed_out = killed = False
            while True:
                try:
                    rc = proc.wait(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if kill_at is None and now >= deadline:
                    timed_out = True
                    stop_from_main()
                    kill_at = now + kill_after
                elif kill_at is not None and now >= kill_at and not killed:
                    killed = True
                    try:  # Terraform and its provider plugins (they share its process group)
                        os.killpg(proc.pid, signal.SIGKILL)
                    except OSError:
                        pass
            if killed:
                rc = RC_KILLED
            elif timed_out:
                rc = RC_TIMED_OUT
            return result(rc, out, err, start, proc.pid, timed_out, killed)
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
