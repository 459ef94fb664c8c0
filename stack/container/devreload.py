"""`python -m stack.container.devreload worker [OPTIONS]`: under `stack dev`, SIGHUP reloads.

Celery's own SIGHUP restart starts the new code only after the whole warm shutdown: the
prefork pool's stop alone takes ~1.5 s with nothing running (billiard's pool children
sleep 1 s as they exit; Celery's shutdown timer thread sleeps in 0.5 s steps). Here the
worker runs as a child: SIGHUP tells it to stop (SIGTERM, Celery's warm shutdown: its
running tasks finish; SIGQUIT for `dev_restart: terminate`) and starts the new one at the
same moment, so the new code serves while the old one drains. (The host has already told
the old worker to stop consuming: deploy/dev/session.py.)

SIGTERM, SIGINT and SIGQUIT go to every child; the container ends with the newest
child's exit status once all have exited (a failed start: Docker's restart policy).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from stack.container import devstate

ENV_RESTART = "STACK_DEV_RESTART"  # warm | terminate: how the old worker stops on a reload
STOP_SIGNALS = {"warm": signal.SIGTERM, "terminate": signal.SIGQUIT}
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
WAITED = {signal.SIGCHLD, signal.SIGHUP, *FORWARDED}


def exit_status(wait_status: int) -> int:
    """A shell's exit status for a child's wait status (128 + N when signal N ended it)."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


class Supervisor:
    """Signals are taken one at a time from a blocked set (sigwaitinfo), not by handlers:
    a reload cannot interrupt a spawn, and a stop cannot miss a child started just before."""

    def __init__(self, command: list[str], stop: signal.Signals) -> None:
        self.command = command  # the worker's command line, run again on each reload
        self.stop = stop
        self.current = 0  # the newest child's pid
        self.children: set[int] = set()
        self.ending = False  # a stop signal came: no more reloads
        self.status = 0  # the newest child's exit status, once it exited

    def spawn(self) -> None:
        # The clock, not a count: it keeps growing across restarts of the container.
        env = {**os.environ, devstate.ENV_GENERATION: str(time.time_ns())}
        # The child starts with no signal blocked: the mask is the supervisor's alone.
        self.current = os.posix_spawn(self.command[0], self.command, env, setsigmask=())
        self.children.add(self.current)

    def send(self, pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # exited, not reaped yet
            os.kill(pid, signum)

    def handle(self, signum: int) -> None:
        if signum == signal.SIGHUP and not self.ending:
            self.send(self.current, self.stop)
            self.spawn()
        elif signum in FORWARDED:
            self.ending = True
            for pid in sorted(self.children):
                self.send(pid, signum)

    def reap(self) -> None:
        """Every child that exited (one SIGCHLD may stand for several)."""
        while self.children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            if pid == self.current:
                self.status = exit_status(wait_status)
                self.ending = True  # the worker ended by itself: the container ends with it

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
        self.spawn()
        while self.children:
            self.handle(signal.sigwaitinfo(WAITED).si_signo)
            self.reap()
        return self.status


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "worker":
        sys.exit("usage: python -m stack.container.devreload worker [celery worker options]")
    mode = os.environ.get(ENV_RESTART, "warm")
    if mode not in STOP_SIGNALS:
        sys.exit(f"stack: {ENV_RESTART}={mode!r}; choose one of {', '.join(STOP_SIGNALS)}")
    command = [sys.executable, "-m", "stack.container.launch", *args]
    sys.exit(Supervisor(command, STOP_SIGNALS[mode]).run())


if __name__ == "__main__":
    main()
