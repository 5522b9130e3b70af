"""SIGTERM and SIGHUP (a scheduler, CI, ``timeout``, a closed terminal) stop perfpilot
the way Ctrl-C does: as a KeyboardInterrupt, so whatever runs stops its LoadGen child
and records the run as interrupted. A bottom-layer module: it imports nothing of
perfpilot."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: The signals that stop a command like Ctrl-C, besides SIGINT itself.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt raised for a signal other than SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def reason(err: BaseException | None) -> str:
    """What stopped a run, as its record says it."""
    if isinstance(err, Interrupted):
        return f"interrupted by {err.signal_name}"
    return "interrupted by the user (Ctrl-C)"


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread.
    A signal the process was started with ignored (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
