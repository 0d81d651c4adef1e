"""Running a runbook on the embedded durable engine from the command line (decision 2: the
break-glass path when Azure Functions is impaired), shared by `kvdr sync`, `kvdr drill`,
`kvdr failover` and `kvdr failback` (and the demo): the engine over the real function app, and
following a run with a progress display. The runtime itself comes from
:mod:`kvdr_cli.commands.operator_runtime`.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import function_app
from engine import Engine, InstanceStatus, RuntimeStatus
from kvdr.services import Runtime, configure
from kvdr.sync.progress import combine, render_line
from kvdr_cli.commands import arm_interrupt

# the run's status (None until it is stored) and its recent child instances -> one line
LineRenderer = Callable[[InstanceStatus | None, Sequence[InstanceStatus]], str]


@contextmanager
def local_engine(runtime: Runtime, args: argparse.Namespace) -> Iterator[Engine]:
    """Install ``runtime`` for this process and run the function app on the embedded engine
    (checkpoints under ``--state-dir``/engine, so an interrupted run resumes next time).
    Closes the runtime on the way out. Inside, the first Ctrl-C raises ``KeyboardInterrupt``
    and later ones are ignored (end the run with :func:`kvdr_cli.commands.interrupted`)."""
    previous = signal.getsignal(signal.SIGINT)
    arm_interrupt()
    configure(runtime)
    try:
        with Engine(function_app.app, args.state_dir / "engine",
                    max_activity_concurrency=max(8, runtime.config.pacing.max_parallel * 2)
                    ) as engine:
            yield engine
    finally:
        configure(None)
        runtime.close()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)


class ProgressDisplay:
    """One updating line on a terminal; otherwise a line whenever progress changes, at most
    every ``interval`` seconds (a ``milestone``, such as a new phase, is always written)."""

    def __init__(self, stream: TextIO, *, interval: float = 2.0, enabled: bool = True) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval
        self.enabled = enabled
        self._last_line = ""
        self._last_time = 0.0
        self._width = 0

    def show(self, line: str, *, milestone: bool = False) -> None:
        if not self.enabled or line == self._last_line:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif milestone or now - self._last_time >= self.interval or not self._last_line:
            self.stream.write(line + "\n")
            self._last_time = now
        else:
            return
        self._last_line = line
        self.stream.flush()

    def close(self) -> None:
        """End the updating line (before other output); the display can be used again."""
        if self.enabled and self.tty and self._last_line:
            self.stream.write("\n")
            self.stream.flush()
        self._last_line, self._width = "", 0


def phase_of(status: InstanceStatus | None) -> str | None:
    custom = status.custom_status if status is not None else None
    return custom.get("phase") if isinstance(custom, dict) else None


def sync_line(status: InstanceStatus | None, children: Sequence[InstanceStatus]) -> str:
    """A full sync's line: its phase, then each target's progress."""
    return render_line(phase_of(status), combine(c.custom_status for c in children))


def follow(engine: Engine, instance_id: str, display: ProgressDisplay, *,
           line: LineRenderer = sync_line,
           until: Callable[[InstanceStatus], bool] | None = None,
           poll: float = 0.25) -> InstanceStatus:
    """Wait for the run, showing its progress; returns its status once it has ended (or as
    soon as ``until(status)`` holds)."""
    last_phase: str | None = None
    while True:
        status = engine.get_status(instance_id)
        if status is not None and (status.runtime_status.is_terminal
                                   or (until is not None and until(status))):
            return status
        children = engine.list_instances([RuntimeStatus.RUNNING, RuntimeStatus.PENDING,
                                          RuntimeStatus.COMPLETED],
                                         prefix=f"{instance_id}:")
        # a finished run's children stay in the store: only this run's count
        recent = [c for c in children if status is None
                  or c.created_time >= status.created_time]
        phase = phase_of(status)
        display.show(line(status, recent), milestone=phase != last_phase)
        last_phase = phase
        time.sleep(poll)
